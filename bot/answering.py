"""answer(): the one function every channel calls to reply to a user's message."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace

from flask import current_app
from sqlalchemy.orm import Session

from bot.db import get_session
from bot.input_rules import forbidden_character
from bot.input_rules import normalise
from bot.matcher import Candidate
from bot.metrics import ANSWERS
from bot.models import Faq
from bot.models import QueryLog
from bot.serving import serving


class InvalidMessage(ValueError):
    """The message cannot be answered at all; says why, and `kind` says it for channels."""

    def __init__(self, reason: str, kind: str = "body") -> None:
        super().__init__(reason)
        self.kind = kind  # body | type | empty | too_long | characters


@dataclass(frozen=True)
class Reply:
    text: str
    faq_id: int | None
    question: str | None
    score: float | None
    fallback: bool
    ambiguous: bool = False
    model_version: str | None = None
    threshold: float | None = None
    candidates: list[Candidate] = field(default_factory=list)
    query_id: int | None = None  # the QueryLog row: buttons and feedback refer to it

    def as_json(self) -> dict[str, object]:
        return {
            "answer": self.text,
            "faq_id": self.faq_id,
            "question": self.question,
            "score": self.score,
            "fallback": self.fallback,
            "model_version": self.model_version,
        }


def clean_message(message: object, max_chars: int) -> str:
    """The message as matched and logged: NFC, spacing collapsed; refused if unsafe."""
    if not isinstance(message, str):
        raise InvalidMessage("message must be a string", "type")
    bad = forbidden_character(message)
    if bad is not None:
        raise InvalidMessage(f"message contains {bad}", "characters")
    text = normalise(" ".join(message.split()))
    if not text:
        raise InvalidMessage("message is empty", "empty")
    if len(text) > max_chars:
        raise InvalidMessage(f"message is longer than {max_chars} characters", "too_long")
    return text


def answer(
    message: object,
    channel: str,
    session: Session | None = None,
    k: int = 3,
    delivery: str | None = None,
) -> Reply:
    """Reply with the nearest FAQ's answer, or the fallback below the threshold; log it.

    `delivery` starts the log's delivery state for channels that send the reply later.
    """
    app = current_app
    session = session or get_session()
    text = clean_message(message, app.config["BOT_MAX_MESSAGE_CHARS"])
    model = serving(app).current(session)
    fallback_text = app.config["BOT_FALLBACK_TEXT"]
    candidates = model.matcher.rank(text, k=k) if model.matcher is not None else []
    best = candidates[0] if candidates else None
    if best is None or best.score < model.threshold:
        reply = Reply(
            fallback_text,
            None,
            None,
            best.score if best else None,
            True,
            model_version=model.version_name,
            threshold=model.threshold,
            candidates=candidates,
        )
    else:
        faq = session.get(Faq, best.faq_id)
        runner_up = candidates[1].score if len(candidates) > 1 else float("-inf")
        reply = Reply(
            faq.answer,
            faq.id,
            faq.question,
            best.score,
            False,
            ambiguous=best.score - runner_up < model.margin,
            model_version=model.version_name,
            threshold=model.threshold,
            candidates=candidates,
        )
    log = QueryLog(
        text=text,
        channel=channel,
        faq_id=reply.faq_id,
        score=reply.score,
        fallback=reply.fallback,
        model_version_id=model.key[0] if model.key else None,
        delivery=delivery,
    )
    session.add(log)
    session.commit()
    ANSWERS.labels(channel=channel, outcome="fallback" if reply.fallback else "answered").inc()
    return replace(reply, query_id=log.id)
