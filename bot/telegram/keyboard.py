"""Inline keyboards and their signed callback data (under Telegram's 64 bytes).

Clients can send any callback data, so every button's data carries a MAC over its kind,
its fields and the chat it was shown in, made with a key derived for this purpose only:
a button copied into another chat, or forged, is refused. "Did you mean" has one button per
suggested FAQ (`pick:<log id>:<faq id>:<mac>`) and a last one, "none of these"
(`none:<log id>:<mac>`). The fallback carries "Tanya admin" (`ask:<log id>:<mac>`), an answer
👍 / 👎 (`fb:<log id>:<1|0>:<mac>`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup

from bot.telegram import texts
from bot.telegram.formatting import button_label

PREFIX = "pick"
NONE_PREFIX = "none"
HANDOFF_PREFIX = "ask"
FEEDBACK_PREFIX = "fb"
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit for callback_data
MAC_BYTES = 16  # 128 bits, 22 characters of base64
SIGNING_PURPOSE = "telegram-callback"  # bot.keys.derive_key(SECRET_KEY, this)


@dataclass(frozen=True)
class Pick:
    """A pressed button: the logged message it answers and the FAQ the user chose."""

    query_log_id: int
    faq_id: int


def _mac(key: bytes, body: str, chat_id: int) -> str:
    digest = hmac.new(key, f"{chat_id}\n{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).decode().rstrip("=")


def sign(kind: str, fields: Sequence[int | str], chat_id: int, key: bytes) -> str:
    """`kind:field:...:mac` for a button shown in `chat_id`; fields must not contain ':'."""
    values = [str(value) for value in fields]
    if ":" in kind or any(":" in value for value in values):
        raise ValueError("callback kinds and fields must not contain ':'")
    body = ":".join([kind, *values])
    data = f"{body}:{_mac(key, body, chat_id)}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data longer than {CALLBACK_DATA_LIMIT} bytes: {data!r}")
    return data


def verify(data: str | None, chat_id: int, key: bytes) -> tuple[str, list[str]] | None:
    """(kind, fields) of data signed for this chat, or None when forged, foreign or malformed."""
    body, _, mac = (data or "").rpartition(":")
    if not body or not hmac.compare_digest(mac.encode(), _mac(key, body, chat_id).encode()):
        return None
    kind, *fields = body.split(":")
    return kind, fields


def encode_pick(pick: Pick, key: bytes, chat_id: int) -> str:
    return sign(PREFIX, [pick.query_log_id, pick.faq_id], chat_id, key)


def _numbers(
    data: str | None, key: bytes, chat_id: int, kind: str, count: int
) -> list[int] | None:
    """The `count` numbers of a `kind` button signed for this chat, or None."""
    signed = verify(data, chat_id, key)
    if signed is None or signed[0] != kind or len(signed[1]) != count:
        return None
    try:
        return [int(field) for field in signed[1]]
    except ValueError:
        return None


def decode_pick(data: str | None, key: bytes, chat_id: int) -> Pick | None:
    """The pick in `data`, or None when it is not a pick signed for this chat."""
    numbers = _numbers(data, key, chat_id, PREFIX, 2)
    return Pick(*numbers) if numbers is not None else None


def encode_none(query_log_id: int, key: bytes, chat_id: int) -> str:
    """The user says no suggested FAQ fits the logged message."""
    return sign(NONE_PREFIX, [query_log_id], chat_id, key)


def decode_none(data: str | None, key: bytes, chat_id: int) -> int | None:
    """The logged message's id in "none of these" data signed for this chat, or None."""
    numbers = _numbers(data, key, chat_id, NONE_PREFIX, 1)
    return numbers[0] if numbers is not None else None


def encode_handoff(query_log_id: int, key: bytes, chat_id: int) -> str:
    """The user asks a person to answer the logged message."""
    return sign(HANDOFF_PREFIX, [query_log_id], chat_id, key)


def decode_handoff(data: str | None, key: bytes, chat_id: int) -> int | None:
    """The logged message's id in "Tanya admin" data signed for this chat, or None."""
    numbers = _numbers(data, key, chat_id, HANDOFF_PREFIX, 1)
    return numbers[0] if numbers is not None else None


@dataclass(frozen=True)
class Vote:
    """A pressed 👍 / 👎: the logged message it judges and whether the answer helped."""

    query_log_id: int
    helpful: bool


def encode_feedback(vote: Vote, key: bytes, chat_id: int) -> str:
    return sign(FEEDBACK_PREFIX, [vote.query_log_id, int(vote.helpful)], chat_id, key)


def decode_feedback(data: str | None, key: bytes, chat_id: int) -> Vote | None:
    """The vote in `data`, or None when it is not feedback signed for this chat."""
    numbers = _numbers(data, key, chat_id, FEEDBACK_PREFIX, 2)
    if numbers is None or numbers[1] not in (0, 1):
        return None
    return Vote(numbers[0], bool(numbers[1]))


def ask_admin(query_log_id: int, key: bytes, chat_id: int) -> InlineKeyboardMarkup:
    """One button: hand the logged message to a person."""
    data = encode_handoff(query_log_id, key, chat_id)
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.ASK_ADMIN, callback_data=data)]])


def thumbs(query_log_id: int, key: bytes, chat_id: int) -> InlineKeyboardMarkup:
    """👍 / 👎 under an answer."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    label, callback_data=encode_feedback(Vote(query_log_id, up), key, chat_id)
                )
                for label, up in ((texts.HELPFUL, True), (texts.UNHELPFUL, False))
            ]
        ]
    )


def did_you_mean(
    query_log_id: int, choices: list[tuple[int, str]], key: bytes, chat_id: int
) -> InlineKeyboardMarkup:
    """One button per candidate FAQ (id, canonical question), best first, then "none of these"."""
    rows = [
        [
            InlineKeyboardButton(
                button_label(question),
                callback_data=encode_pick(Pick(query_log_id, faq_id), key, chat_id),
            )
        ]
        for faq_id, question in choices
    ]
    rows.append(
        [
            InlineKeyboardButton(
                texts.NONE_OF_THESE, callback_data=encode_none(query_log_id, key, chat_id)
            )
        ]
    )
    return InlineKeyboardMarkup(rows)
