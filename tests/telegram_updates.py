"""Build Telegram update payloads (as the Bot API would POST them) for the tests and bench."""

from __future__ import annotations

import itertools
from typing import Any

from fake_bot_api import BOT_ID
from fake_bot_api import BOT_USER

_ids = itertools.count(10_000)
DATE = 1_700_000_000


def next_id() -> int:
    return next(_ids)


def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Sari", "language_code": "id"}


def chat(chat_id: int, chat_type: str = "private") -> dict[str, Any]:
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": "Sari"}
    return {"id": chat_id, "type": chat_type, "title": "Komunitas FinBuddy"}


def message(
    chat_id: int,
    text: str | None = None,
    chat_type: str = "private",
    update_id: int | None = None,
    kind: str = "message",
    **content: Any,
) -> dict[str, Any]:
    """An update carrying a message (or an edited one: kind="edited_message")."""
    update_id = update_id if update_id is not None else next_id()
    sender = chat_id if chat_type == "private" else 777
    body: dict[str, Any] = {
        "message_id": update_id,
        "date": DATE,
        "chat": chat(chat_id, chat_type),
        "from": user(sender),
        **content,
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    if kind == "edited_message":
        body["edit_date"] = DATE + 60
    return {"update_id": update_id, kind: body}


def bot_message(chat_id: int, chat_type: str, text: str) -> dict[str, Any]:
    """A message the bot sent earlier (for replies to it and for callback queries)."""
    return {
        "message_id": next_id(),
        "date": DATE,
        "chat": chat(chat_id, chat_type),
        "from": BOT_USER,
        "text": text,
    }


def callback_query(
    chat_id: int,
    data: str,
    keyboard: dict[str, Any],
    chat_type: str = "private",
    pressed_on: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A press on an inline button of the bot's keyboard message (`pressed_on`, if given)."""
    update_id = next_id()
    pressed_on = pressed_on or bot_message(chat_id, chat_type, "Maksud kamu…?")
    pressed_on["reply_markup"] = keyboard
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cbq-{update_id}",
            "from": user(chat_id if chat_type == "private" else 777),
            "chat_instance": f"ci-{chat_id}",
            "message": pressed_on,
            "data": data,
        },
    }


__all__ = ["BOT_ID", "bot_message", "callback_query", "chat", "message", "next_id", "user"]
