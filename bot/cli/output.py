"""How the commands print figures for people."""

from __future__ import annotations


def score_text(value: object) -> str:
    """Three decimals, or a dash where there is no figure (no active version, no answer)."""
    return f"{value:.3f}" if isinstance(value, float) else "-"
