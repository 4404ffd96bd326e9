"""What text and JSON the bot accepts from outside, the same for every channel.

Text is NFC-normalised (a decomposed "é" and a composed one are the same letter, so they
must match and collide alike); lone surrogates and control characters other than line
breaks and tabs are refused, since no person types them and databases choke on some.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from werkzeug.routing import IntegerConverter

ALLOWED_CONTROLS = frozenset("\n\r\t")
MAX_ID = 2**63 - 1  # the largest id any of our databases stores


class UnreadableJson(ValueError):
    """The body is not JSON we can read; says why in words a client can act on."""


def normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def forbidden_character(text: str) -> str | None:
    """A description of the first character we refuse in `text`, or None when all are fine."""
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category == "Cs":
            return f"a lone surrogate (U+{ord(char):04X}) at position {position}"
        if category == "Cc" and char not in ALLOWED_CONTROLS:
            return f"a control character (U+{ord(char):04X}) at position {position}"
    return None


def parse_json(raw: bytes) -> Any:
    """Parse a request body; any way it can fail (bad UTF-8, deep nesting, huge numbers...)
    is an UnreadableJson, never an unexpected exception."""
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise UnreadableJson("the JSON is nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise UnreadableJson("the body is not valid UTF-8") from exc
    except ValueError as exc:  # JSONDecodeError, and ints longer than Python allows
        raise UnreadableJson(f"the body is not valid JSON ({exc})") from exc


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` in URLs, but only ids a database can hold: a bigger one is a 404, not a
    500 from the driver."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(*args, **kwargs)


def is_database_id(value: object) -> bool:
    """A non-negative int that fits a 64-bit column (bool is not an id)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID
