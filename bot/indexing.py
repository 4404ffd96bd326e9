"""The index of a model version: every phrasing of the catalog and every approved out-of-scope
example, embedded with its encoder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from bot.catalog import indexed_phrasings
from bot.encoders import SentenceEncoder
from bot.matcher import Matcher
from bot.matcher import Phrasing
from bot.models import ModelVersion
from bot.out_of_scope import approved_texts
from bot.versions import bump_index_revision


@lru_cache(maxsize=4)
def encoder_for(model_path: str) -> SentenceEncoder:
    """Encoders are read-only at serving time, so one per model path is shared."""
    return SentenceEncoder(model_path)


def index_dir(version: ModelVersion) -> Path:
    return Path(version.path) / "index"


def matcher_for(session: Session, version: ModelVersion) -> Matcher | None:
    """The version's saved index if still current, else a fresh one built and saved."""
    phrasings = indexed_phrasings(session)
    if not phrasings:
        return None
    examples = approved_texts(session)
    encoder = encoder_for(version.model_path)
    matcher = Matcher.load(
        index_dir(version), encoder, phrasings, version.semantic_weight, examples
    )
    return matcher or _build(version, phrasings, examples)


def _build(version: ModelVersion, phrasings: list[Phrasing], examples: list[str]) -> Matcher:
    """Index and save; texts already in the version's saved index keep their vectors, so an
    edit re-encodes only what changed (one example added: one message encoded).
    """
    encoder = encoder_for(version.model_path)
    previous = Matcher.load(index_dir(version), encoder, None, version.semantic_weight)
    matcher = Matcher.build(
        encoder,
        phrasings,
        version.semantic_weight,
        examples,
        reuse=previous.vectors() if previous is not None else None,
    )
    matcher.save(index_dir(version))
    return matcher


def rebuild_index(session: Session, version: ModelVersion) -> None:
    """Re-index `version` for the catalog as it is now (no retraining); servers reload it."""
    phrasings = indexed_phrasings(session)
    if phrasings:
        _build(version, phrasings, approved_texts(session))
    bump_index_revision(session, version)
