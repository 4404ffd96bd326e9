"""answer(): the one function every channel calls to reply to a user's message."""

from __future__ import annotations

import time
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace

import numpy as np
from flask import Flask
from flask import current_app
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.catalog import example_questions
from bot.db import get_session
from bot.input_rules import forbidden_character
from bot.input_rules import normalise
from bot.matcher import Candidate
from bot.matcher import OutOfScopeMatch
from bot.metrics import ANSWERS
from bot.models import Faq
from bot.models import QueryLog
from bot.serving import ServingModel
from bot.serving import serving
from training.evaluation import REJECT_RULE
from training.evaluation import THRESHOLD_RULE
from training.evaluation import fallback_rules

NO_FAQ_RULE = "no_faq"  # nothing to answer with: no active FAQ or no model yet
FALLBACK_TOPICS = 5  # example questions the fallback reply offers
SPARE_CANDIDATES = 3  # ranked beyond k, in case FAQs went away since the index was built

# Built once and run on the session's connection, below the ORM: the two statements of every
# message, whose ORM form (statement building, unit of work) cost about 1 ms of a 10 ms answer.
LIVE_FAQS = select(Faq.id, Faq.question, Faq.answer).where(
    Faq.id.in_(bindparam("ids", expanding=True)), Faq.active.is_(True)
)
LOG_QUERY = insert(QueryLog.__table__)


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
    fallback_rule: str | None = None  # threshold | reject_class | no_faq; None: answered
    out_of_scope: OutOfScopeMatch | None = None
    reject_margin: float | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "answer": self.text,
            "faq_id": self.faq_id,
            "question": self.question,
            "score": self.score,
            "fallback": self.fallback,
            "model_version": self.model_version,
            "fallback_rule": self.fallback_rule,
            "query_id": self.query_id,
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


def fallback_text(app: Flask, session: Session) -> str:
    """The fallback reply: BOT_FALLBACK_TEXT with {topics} replaced by example questions, one
    a line."""
    template = app.config["BOT_FALLBACK_TEXT"]
    if "{topics}" not in template:
        return template
    topics = "\n".join(f"• {q}" for q in fallback_topics(app, session))
    return template.replace("{topics}", topics).strip()


def fallback_topics(app: Flask, session: Session) -> list[str]:
    """The example questions, read at most once per `BOT_RELOAD_SECONDS` in this process.

    Most out-of-scope traffic gets the fallback, and finding one question per category reads
    the whole catalog (3 ms of every fallback at 10k FAQs). An edit shows as soon as a new
    model would: within the reload interval.
    """
    now = time.monotonic()
    expires, topics = app.extensions.get("fallback_topics", (0.0, []))
    if now >= expires:
        topics = example_questions(session, FALLBACK_TOPICS)
        app.extensions["fallback_topics"] = (now + app.config["BOT_RELOAD_SECONDS"], topics)
    return topics


def fallback_rule(
    model: ServingModel, best: Candidate | None, out_of_scope: OutOfScopeMatch | None
) -> str | None:
    """Which rule sends the message to the fallback (as calibration judged it), or None.

    An approved out-of-scope example itself always gets the fallback, whatever the margin:
    what an admin marked "not our topic" is refused from the next message on.
    """
    if best is None:
        return NO_FAQ_RULE
    reject = out_of_scope.score if out_of_scope is not None else -np.inf
    below, beaten = fallback_rules(
        np.array([best.score]), np.array([reject]), model.threshold, model.reject_margin
    )
    if below[0]:
        return THRESHOLD_RULE
    exact = out_of_scope is not None and out_of_scope.exact
    return REJECT_RULE if beaten[0] or exact else None


def live_candidates(
    session: Session, candidates: list[Candidate], k: int
) -> tuple[list[Candidate], dict[int, tuple[str, str]]]:
    """The first k candidates whose FAQ is still there and active (one deleted or deactivated
    since the index was built is skipped until the rebuilt index is served), and the question
    and answer of each: one query for what a reply needs."""
    ids = sorted({c.faq_id for c in candidates})
    if not ids:
        return [], {}
    rows = session.connection().execute(LIVE_FAQS, {"ids": ids})
    live = {faq_id: (question, text) for faq_id, question, text in rows}
    return [c for c in candidates if c.faq_id in live][:k], live


def answer(
    message: object,
    channel: str,
    session: Session | None = None,
    k: int = 3,
    delivery: str | None = None,
    api_key_id: int | None = None,
) -> Reply:
    """Reply with the nearest FAQ's answer, or the fallback below the threshold or when an
    out-of-scope example beats the best FAQ by the reject margin; log it.

    `delivery` starts the log's delivery state for channels that send the reply later;
    `api_key_id` records which API client asked (feedback and tickets are that client's).
    """
    app = current_app
    session = session or get_session()
    text = clean_message(message, app.config["BOT_MAX_MESSAGE_CHARS"])
    model = serving(app).current(session)
    assessment = (
        model.matcher.assess(text, k=k + SPARE_CANDIDATES) if model.matcher is not None else None
    )
    candidates, faqs = live_candidates(session, assessment.candidates if assessment else [], k)
    out_of_scope = assessment.out_of_scope if assessment is not None else None
    best = candidates[0] if candidates else None
    rule = fallback_rule(model, best, out_of_scope)
    if rule is not None:
        reply = Reply(
            fallback_text(app, session),
            None,
            None,
            best.score if best else None,
            True,
            model_version=model.version_name,
            threshold=model.threshold,
            candidates=candidates,
            fallback_rule=rule,
            out_of_scope=out_of_scope,
            reject_margin=model.reject_margin,
        )
    else:
        question, answer_text = faqs[best.faq_id]
        runner_up = candidates[1].score if len(candidates) > 1 else float("-inf")
        reply = Reply(
            answer_text,
            best.faq_id,
            question,
            best.score,
            False,
            ambiguous=best.score - runner_up < model.margin,
            model_version=model.version_name,
            threshold=model.threshold,
            candidates=candidates,
            out_of_scope=out_of_scope,
            reject_margin=model.reject_margin,
        )
    logged = session.connection().execute(
        LOG_QUERY,
        {
            "text": text,
            "channel": channel,
            "faq_id": reply.faq_id,
            "score": reply.score,
            "fallback": reply.fallback,
            "fallback_rule": reply.fallback_rule,
            "model_version_id": model.key[0] if model.key else None,
            "delivery": delivery,
            "api_key_id": api_key_id,
        },
    )
    session.commit()
    ANSWERS.labels(channel=channel, outcome="fallback" if reply.fallback else "answered").inc()
    return replace(reply, query_id=logged.inserted_primary_key[0])
