"""JSON chat API and health check."""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from bot.answering import InvalidMessage
from bot.answering import answer
from bot.catalog import count_active_faqs
from bot.db import get_session
from bot.serving import serving
from bot.versions import active_version

bp = Blueprint("api", __name__)


def error(status: int, reason: str):  # noqa: ANN201
    return jsonify({"error": reason}), status


@bp.post("/api/chat")
def chat():  # noqa: ANN201
    """Answer `{"message": "..."}` with the nearest FAQ or the fallback."""
    body = request.get_json(silent=True)
    if body is None:
        return error(400, 'the body must be a JSON object: {"message": "..."}')
    if not isinstance(body, dict):
        return error(400, "the body must be a JSON object, not " + type(body).__name__)
    if "message" not in body:
        return error(400, "missing field 'message'")
    try:
        reply = answer(body["message"], channel=str(body.get("channel", "api"))[:50])
    except InvalidMessage as exc:
        return error(400, str(exc))
    return jsonify(reply.as_json())


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    """Liveness plus what is being served."""
    session = get_session()
    session.execute(text("SELECT 1"))
    version = active_version(session)
    return jsonify(
        {
            "status": "ok",
            "model_version": version.name if version else None,
            "base_model": version.base_model if version else current_app.config["BOT_BASE_MODEL"],
            "faqs": count_active_faqs(session),
            "encoder": serving(current_app).encoder_status(),
        }
    )


@bp.app_errorhandler(HTTPException)
def json_http_error(exc: HTTPException):  # noqa: ANN201
    """API clients get JSON errors (413 for huge bodies, 405, 404), never an HTML page."""
    if request.path.startswith("/api/"):
        return error(exc.code or 500, exc.description or exc.name)
    return exc
