"""The "did you mean" keyboard and its signed callback data (under Telegram's 64 bytes).

One button per suggested FAQ (`pick:<log id>:<faq id>:<sig>`) and a last one for "none of
these" (`none:<log id>:<sig>`); both signed, because clients can send any callback data.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup

from bot.telegram import texts
from bot.telegram.formatting import button_label

PREFIX = "pick"
NONE_PREFIX = "none"
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit for callback_data


@dataclass(frozen=True)
class Pick:
    """A pressed button: the logged message it answers and the FAQ the user chose."""

    query_log_id: int
    faq_id: int


def _signature(key: str, body: str) -> str:
    digest = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
    return digest[:12]


def _signed(key: str, *fields: object) -> str:
    body = ":".join(str(field) for field in fields)
    data = f"{body}:{_signature(key, body)}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data longer than {CALLBACK_DATA_LIMIT} bytes: {data!r}")
    return data


def _verified(data: str | None, key: str, prefix: str, n_numbers: int) -> list[int] | None:
    """The numbers after `prefix`, or None when malformed or the signature does not match."""
    parts = (data or "").split(":")
    if len(parts) != n_numbers + 2 or parts[0] != prefix:
        return None
    body = ":".join(parts[:-1])
    if not hmac.compare_digest(parts[-1].encode(), _signature(key, body).encode()):
        return None
    try:
        return [int(part) for part in parts[1:-1]]
    except ValueError:
        return None


def encode_pick(pick: Pick, key: str) -> str:
    """`pick:<log id>:<faq id>:<sig>`."""
    return _signed(key, PREFIX, pick.query_log_id, pick.faq_id)


def decode_pick(data: str | None, key: str) -> Pick | None:
    """The pick in `data`, or None when it is malformed or its signature does not match."""
    numbers = _verified(data, key, PREFIX, 2)
    return Pick(*numbers) if numbers is not None else None


def encode_none(query_log_id: int, key: str) -> str:
    """`none:<log id>:<sig>`: the user says no suggested FAQ fits the logged message."""
    return _signed(key, NONE_PREFIX, query_log_id)


def decode_none(data: str | None, key: str) -> int | None:
    """The logged message's id in "none of these" data, or None when malformed or forged."""
    numbers = _verified(data, key, NONE_PREFIX, 1)
    return numbers[0] if numbers is not None else None


def did_you_mean(
    query_log_id: int, choices: list[tuple[int, str]], key: str
) -> InlineKeyboardMarkup:
    """One button per candidate FAQ (id, canonical question), best first, then "none of these"."""
    rows = [
        [
            InlineKeyboardButton(
                button_label(question),
                callback_data=encode_pick(Pick(query_log_id, faq_id), key),
            )
        ]
        for faq_id, question in choices
    ]
    rows.append(
        [InlineKeyboardButton(texts.NONE_OF_THESE, callback_data=encode_none(query_log_id, key))]
    )
    return InlineKeyboardMarkup(rows)
