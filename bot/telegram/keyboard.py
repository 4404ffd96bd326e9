"""The "did you mean" keyboard and its signed callback data (under Telegram's 64 bytes)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup

from bot.telegram.formatting import button_label

PREFIX = "pick"
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit for callback_data


@dataclass(frozen=True)
class Pick:
    """A pressed button: the logged message it answers and the FAQ the user chose."""

    query_log_id: int
    faq_id: int


def _signature(key: str, body: str) -> str:
    digest = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
    return digest[:12]


def encode_pick(pick: Pick, key: str) -> str:
    """`pick:<log id>:<faq id>:<sig>`; signed because clients can send any callback data."""
    body = f"{PREFIX}:{pick.query_log_id}:{pick.faq_id}"
    data = f"{body}:{_signature(key, body)}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data longer than {CALLBACK_DATA_LIMIT} bytes: {data!r}")
    return data


def decode_pick(data: str | None, key: str) -> Pick | None:
    """The pick in `data`, or None when it is malformed or its signature does not match."""
    parts = (data or "").split(":")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    body = ":".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode(), _signature(key, body).encode()):
        return None
    try:
        return Pick(int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def did_you_mean(
    query_log_id: int, choices: list[tuple[int, str]], key: str
) -> InlineKeyboardMarkup:
    """One button per candidate FAQ (id, canonical question), best first."""
    rows = [
        [
            InlineKeyboardButton(
                button_label(question),
                callback_data=encode_pick(Pick(query_log_id, faq_id), key),
            )
        ]
        for faq_id, question in choices
    ]
    return InlineKeyboardMarkup(rows)
