"""The database side of the Telegram channel: blocking calls that handlers run in threads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

from flask import Flask
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.answering import Reply
from bot.answering import answer
from bot.answering import fallback_text
from bot.catalog import example_questions
from bot.catalog import phrasing_keys
from bot.db import new_session
from bot.keys import derive_key
from bot.models import Faq
from bot.models import QueryLog
from bot.models import TelegramUpdate
from bot.models import TrainingPair
from bot.models import utcnow
from bot.out_of_scope import add_examples
from bot.telegram.desk import SupportDesk
from bot.telegram.keyboard import SIGNING_PURPOSE
from bot.telegram.keyboard import Pick
from bot.telegram.outbox import OutboxStore
from bot.telegram.rate_limit import RateLimiter
from training.tabular import normalise_key

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
PAIR_SOURCE = "telegram"
MAX_PAIR_CHARS = 1000  # TrainingPair.text and OutOfScopeExample.text are String(1000)
MAX_EXAMPLES = 20  # one per category; a cap for very large FAQs
KEEP_UPDATE_IDS = timedelta(days=2)  # Telegram gives up redelivering after about a day
PRUNE_EVERY = 1000  # update ids are sequential: prune on every 1000th


@dataclass(frozen=True)
class Answered:
    """A reply plus what the "did you mean" keyboard needs."""

    reply: Reply
    choices: list[tuple[int, str]] = field(default_factory=list)  # (faq id, question)


class FaqBackend:
    """Everything the handlers need from the Flask app, behind blocking methods.

    Each method opens its own session, so calls from several worker threads do not share one.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.limiter = RateLimiter(int(app.config["TELEGRAM_RATE_LIMIT"]))
        self.signing_key = derive_key(str(app.config["SECRET_KEY"]), SIGNING_PURPOSE)
        self.outbox = OutboxStore(app)
        self.max_chars = int(app.config["BOT_MAX_MESSAGE_CHARS"])
        self.desk = SupportDesk(app)

    def claim(self, update_id: int) -> bool:
        """Record the update id; False when it was recorded before (a redelivery)."""
        with new_session(self.app) as session:
            session.add(TelegramUpdate(update_id=update_id))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
            if update_id % PRUNE_EVERY == 0:
                session.execute(
                    delete(TelegramUpdate).where(
                        TelegramUpdate.received_at < utcnow() - KEEP_UPDATE_IDS
                    )
                )
                session.commit()
            return True

    def answer_message(self, text: str) -> Answered:
        """Answer with the shared answer(); raises InvalidMessage like it."""
        with self.app.app_context(), new_session(self.app) as session:
            reply = answer(text, channel=CHANNEL, session=session, delivery="pending")
            choices: list[tuple[int, str]] = []
            if reply.ambiguous:
                ids = list(dict.fromkeys(candidate.faq_id for candidate in reply.candidates))
                questions = dict(
                    session.execute(
                        select(Faq.id, Faq.question).where(Faq.id.in_(ids), Faq.active.is_(True))
                    ).all()
                )
                choices = [(faq_id, questions[faq_id]) for faq_id in ids if faq_id in questions]
            return Answered(reply, choices)

    def pick(self, pick: Pick) -> str | None:
        """Answer the chosen FAQ and keep (message, FAQ) as an unreviewed training pair."""
        with new_session(self.app) as session:
            log = session.get(QueryLog, pick.query_log_id)
            faq = session.get(Faq, pick.faq_id)
            if log is None or log.channel != CHANNEL or faq is None or not faq.active:
                return None
            known = session.scalar(
                select(TrainingPair.id)
                .where(TrainingPair.faq_id == faq.id, TrainingPair.text == log.text)
                .limit(1)
            )
            if known is None and len(log.text) <= MAX_PAIR_CHARS:
                session.add(
                    TrainingPair(text=log.text, faq_id=faq.id, source=PAIR_SOURCE, approved=False)
                )
                session.commit()
                logger.info(
                    "telegram pick stored: message %s -> FAQ %s (unapproved)", log.id, faq.id
                )
            return faq.answer

    def none_of_these(self, query_log_id: int) -> str | None:
        """Keep the message as an unapproved out-of-scope example; the fallback reply.

        Unapproved: it changes nothing until an admin agrees in the inbox, so users cannot
        teach the bot to refuse. None when the message is unknown (a stale keyboard).
        """
        with new_session(self.app) as session:
            log = session.get(QueryLog, query_log_id)
            if log is None or log.channel != CHANNEL:
                return None
            own_phrasing = normalise_key(log.text) in phrasing_keys(session)
            if not own_phrasing and len(log.text) <= MAX_PAIR_CHARS:
                if add_examples(session, [log.text], PAIR_SOURCE, approved=False):
                    logger.info("telegram 'none of these' stored: message %s (unapproved)", log.id)
                session.commit()
            return fallback_text(self.app, session)

    def examples(self) -> list[str]:
        """One canonical question per FAQ category, in FAQ order."""
        with new_session(self.app) as session:
            return example_questions(session, MAX_EXAMPLES)
