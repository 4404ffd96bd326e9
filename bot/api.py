"""JSON chat API (questions, feedback, handoff tickets) and health check.

`/api/*` is public: rate-limited per client address and per API key, and behind a key
when BOT_API_REQUIRE_KEY is on. The channel every API message is logged under is fixed
here, never taken from the client.
"""

from __future__ import annotations

import hashlib
import os
import re

from flask import Blueprint
from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound

from bot.answering import InvalidMessage
from bot.answering import answer
from bot.api_keys import find_key
from bot.catalog import count_active_faqs
from bot.db import get_session
from bot.feedback import record_feedback
from bot.handoff import MAX_CONTACT_CHARS
from bot.handoff import by_token
from bot.handoff import open_ticket
from bot.input_rules import UnreadableJson
from bot.input_rules import forbidden_character
from bot.input_rules import is_database_id
from bot.input_rules import normalise
from bot.input_rules import parse_json
from bot.models import Handoff
from bot.models import QueryLog
from bot.models import utcnow
from bot.serving import ModelNotReady
from bot.serving import serving
from bot.throttling import configured
from bot.throttling import limiter
from bot.versions import active_version

CHANNEL = "api"
KEY_HEADER = "X-API-Key"
TOKEN = re.compile(r"[A-Za-z0-9_-]+")  # what secrets.token_urlsafe makes

bp = Blueprint("api", __name__)


def error(status: int, reason: str):  # noqa: ANN201
    return jsonify({"error": reason}), status


def presented_key() -> str | None:
    """The API key sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`, if any."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return request.headers.get(KEY_HEADER, "").strip() or None


def _key_bucket() -> str:
    """Rate-limit bucket of the presented key (hashed: keys never sit in the limiter)."""
    return "key:" + hashlib.sha256((presented_key() or "").encode()).hexdigest()


limit_per_address = limiter.limit(configured("BOT_API_RATE_LIMIT_IP"))
limit_per_key = limiter.limit(
    configured("BOT_API_RATE_LIMIT_KEY"),
    key_func=_key_bucket,
    exempt_when=lambda: presented_key() is None,
)


@bp.before_request
def require_api_key():  # noqa: ANN201
    """A presented key must be valid; with BOT_API_REQUIRE_KEY one must be presented."""
    if request.endpoint == "api.healthz":
        return None
    key = presented_key()
    if key is None:
        if current_app.config["BOT_API_REQUIRE_KEY"]:
            return error(
                401, f"an API key is required (Authorization: Bearer KEY or {KEY_HEADER})"
            )
        g.api_key = None
        return None
    g.api_key = find_key(get_session(), key)
    if g.api_key is None:
        return error(401, "unknown or revoked API key")
    return None


def json_object() -> dict:
    """The body as a JSON object, or InvalidMessage saying what is wrong with it."""
    if not request.is_json:
        raise InvalidMessage('the body must be a JSON object: {"message": "..."}')
    try:
        body = parse_json(request.get_data(cache=True))
    except UnreadableJson as exc:
        raise InvalidMessage(
            f'the body must be a JSON object: {{"message": "..."}}; {exc}'
        ) from exc
    if not isinstance(body, dict):
        raise InvalidMessage("the body must be a JSON object, not " + type(body).__name__)
    return body


@bp.post("/api/chat")
@limit_per_address
@limit_per_key
def chat():  # noqa: ANN201
    """Answer `{"message": "..."}` with the nearest FAQ or the fallback."""
    try:
        body = json_object()
        if "message" not in body:
            return error(400, "missing field 'message'")
        if g.api_key is not None:
            g.api_key.last_used_at = utcnow()  # committed with the query log
        key_id = g.api_key.id if g.api_key is not None else None
        reply = answer(body["message"], channel=CHANNEL, api_key_id=key_id)
    except InvalidMessage as exc:
        return error(400, str(exc))
    except ModelNotReady as exc:
        response, status = error(503, str(exc))
        response.headers["Retry-After"] = "5"
        return response, status
    return jsonify(reply.as_json())


def own_query(body: dict) -> QueryLog:
    """The API message `body["query_id"]` names, asked with the key presented now.

    InvalidMessage for a malformed id; NotFound for an unknown one and for another channel's
    or another client's message (they are indistinguishable on purpose).
    """
    query_id = body.get("query_id")
    if not is_database_id(query_id):
        raise InvalidMessage("'query_id' must be the query_id that /api/chat returned")
    log = get_session().get(QueryLog, query_id)
    key_id = g.api_key.id if g.api_key is not None else None
    if log is None or log.channel != CHANNEL or log.api_key_id != key_id:
        raise NotFound(f"no message with query_id {query_id} from this client")
    return log


@bp.post("/api/feedback")
@limit_per_address
@limit_per_key
def feedback():  # noqa: ANN201
    """`{"query_id", "helpful": true|false}`: was the reply useful? The last word counts."""
    try:
        body = json_object()
        log = own_query(body)
        if not isinstance(body.get("helpful"), bool):
            return error(400, "'helpful' must be true or false")
    except InvalidMessage as exc:
        return error(400, str(exc))
    record_feedback(log, body["helpful"])
    get_session().commit()
    return jsonify({"query_id": log.id, "helpful": log.helpful})


def contact_of(body: dict) -> str:
    """How agents can reach the user: a short line of plain text."""
    contact = body.get("contact")
    if not isinstance(contact, str):
        raise InvalidMessage("'contact' must be a string: how your agents can reach the user")
    contact = normalise(" ".join(contact.split()))
    bad = forbidden_character(contact)
    if bad is not None:
        raise InvalidMessage(f"'contact' contains {bad}")
    if not contact or len(contact) > MAX_CONTACT_CHARS:
        raise InvalidMessage(f"'contact' must be 1-{MAX_CONTACT_CHARS} characters")
    return contact


def ticket_json(ticket: Handoff) -> dict[str, object]:
    return {
        "ticket_id": ticket.token,
        "status": ticket.status,
        "message": ticket.message,
        "answer": ticket.answer,
        "created_at": ticket.created_at.isoformat(),
        "answered_at": ticket.first_response_at.isoformat() if ticket.first_response_at else None,
    }


@bp.post("/api/handoff")
@limit_per_address
@limit_per_key
def handoff():  # noqa: ANN201
    """`{"query_id", "contact"}`: a person will answer; 201 `{"ticket_id"}` (200 if it was
    opened before: one ticket per message)."""
    try:
        body = json_object()
        log = own_query(body)
        contact = contact_of(body)
    except InvalidMessage as exc:
        return error(400, str(exc))
    ticket, created = open_ticket(get_session(), log, contact)
    return jsonify({"ticket_id": ticket.token, "status": ticket.status}), 201 if created else 200


@bp.get("/api/handoff/<string(maxlength=64):ticket_id>")
@limit_per_address
@limit_per_key
def handoff_status(ticket_id: str):  # noqa: ANN201
    """The ticket's status and, once a person answered, the answer."""
    ticket = by_token(get_session(), ticket_id) if TOKEN.fullmatch(ticket_id) else None
    if ticket is None or ticket.channel != CHANNEL:
        return error(404, "no such ticket")
    return jsonify(ticket_json(ticket))


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
            "serving": {"pid": os.getpid(), **serving(current_app).status()},
            "encoder": serving(current_app).encoder_status(),
        }
    )


@bp.app_errorhandler(HTTPException)
def json_http_error(exc: HTTPException):  # noqa: ANN201
    """API clients get JSON errors (413, 405, 404, 429), never an HTML page."""
    if request.path.startswith("/api/"):
        return error(exc.code or 500, exc.description or exc.name)
    return exc
