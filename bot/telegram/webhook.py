"""POST /telegram/webhook: authenticate, parse, hand over, return 200 at once."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from bot.input_rules import UnreadableJson
from bot.input_rules import is_database_id
from bot.input_rules import parse_json
from bot.telegram.application import TelegramNotConfigured
from bot.telegram.runtime import TelegramBusy
from bot.telegram.runtime import telegram_runtime

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

bp = Blueprint("telegram", __name__)


def _status(code: int) -> Response:
    return Response(status=code)


def _authentic() -> bool:
    """The secret header matches TELEGRAM_WEBHOOK_SECRET (compared in constant time)."""
    secret = current_app.config.get("TELEGRAM_WEBHOOK_SECRET")
    if not secret:
        logger.warning(
            "telegram webhook refused: TELEGRAM_WEBHOOK_SECRET is not set, so no request can "
            "be told apart from a forgery; set it and run `flask telegram set-webhook` again"
        )
        return False
    given = request.headers.get(SECRET_HEADER, "")
    return hmac.compare_digest(given.encode(), str(secret).encode())


@bp.post("/telegram/webhook")
def webhook() -> Response:
    """Telegram's webhook; the reply is sent later, through the Bot API."""
    if not _authentic():
        return _status(403)
    try:
        data = parse_json(request.get_data(cache=True)) if request.is_json else None
    except UnreadableJson:
        data = None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not is_database_id(update_id):
        return _status(400)  # not JSON, or not an update: Telegram never sends this
    runtime = telegram_runtime(current_app)
    try:
        update = runtime.parse(data)
    except TelegramNotConfigured as exc:
        logger.error("telegram webhook: %s", exc)
        return _status(503)
    except Exception:
        # retrying would not help: log it and let Telegram move on
        logger.exception("telegram update %s could not be parsed", update_id)
        return _status(200)
    try:
        runtime.submit(update)
    except TelegramBusy as exc:
        logger.warning("telegram update %s deferred: %s", update_id, exc)
        return _status(503)  # Telegram redelivers it later
    return _status(200)
