"""Errors the training package raises across its modules, kept in a leaf module.

Loading a base model and converting the bundled e5 model both fail with a `BaseModelError`;
defining it here lets each of them raise it without importing the other.
"""

from __future__ import annotations


class BaseModelError(RuntimeError):
    """The configured base model cannot be loaded; the message says why and what to do."""


class EmbeddedE5Error(BaseModelError):
    """The bundled model cannot be found or converted; the message says why."""


class ExportError(RuntimeError):
    """A model cannot be exported for ONNX serving; the message says why (it serves with torch)."""
