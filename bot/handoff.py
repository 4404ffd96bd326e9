"""Handoff tickets: a message a person answers, whichever channel it came from.

Channel-neutral: the API, Telegram and the admin call these. Delivering the answer is the
channel's business: an API client asks for it, Telegram sends it (from the admin, through
the outbox table that the Telegram process pumps).
"""

from __future__ import annotations

import secrets
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from sqlalchemy import ColumnElement
from sqlalchemy import case
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import Handoff
from bot.models import QueryLog
from bot.models import TelegramOutbox
from bot.models import utcnow

OPEN = "open"
ANSWERED = "answered"
CLOSED = "closed"
STATUSES = (OPEN, ANSWERED, CLOSED)
TOKEN_BYTES = 24  # 32 URL-safe characters: not guessable, so a token is its own permission
MAX_HISTORY = 5  # earlier messages of the conversation kept with a ticket
MAX_CONTACT_CHARS = 200  # Handoff.contact
MAX_AGENT_CHARS = 100  # Handoff.answered_by
ANSWER_PREFIX = "Jawaban dari tim kami:\n\n"  # what the user sees above an agent's answer


class TicketClosed(ValueError):
    """The ticket is closed: an answer to it is not delivered."""


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def ticket_for(session: Session, query_log_id: int) -> Handoff | None:
    return session.scalars(select(Handoff).where(Handoff.query_log_id == query_log_id)).first()


def by_token(session: Session, token: str) -> Handoff | None:
    return session.scalars(select(Handoff).where(Handoff.token == token)).first()


def open_ticket(
    session: Session,
    log: QueryLog,
    contact: str,
    history: Sequence[str] = (),
    chat_id: int | None = None,
    reply_to_message_id: int | None = None,
) -> tuple[Handoff, bool]:
    """A ticket for the logged message, and whether it is new; committed.

    One ticket per message: asking again (or two presses racing) returns the first one.
    """
    existing = ticket_for(session, log.id)
    if existing is not None:
        return existing, False
    ticket = Handoff(
        token=secrets.token_urlsafe(TOKEN_BYTES),
        query_log_id=log.id,
        message=log.text,
        history=[text for text in history if text != log.text][-MAX_HISTORY:],
        channel=log.channel,
        contact=contact,
        chat_id=chat_id,
        reply_to_message_id=reply_to_message_id,
        status=OPEN,
    )
    session.add(ticket)
    try:
        session.commit()
    except IntegrityError:  # another worker opened it a moment ago
        session.rollback()
        return ticket_for(session, log.id), False
    return ticket, True


def record_answer(ticket: Handoff, answer: str, agent: str) -> None:
    """An agent answered; the caller delivers it through the ticket's channel and commits."""
    if ticket.status == CLOSED:
        raise TicketClosed(f"ticket #{ticket.id} is closed")
    ticket.answer = answer
    ticket.answered_by = agent[:MAX_AGENT_CHARS]
    ticket.status = ANSWERED
    if ticket.first_response_at is None:
        ticket.first_response_at = utcnow()


def close(ticket: Handoff) -> bool:
    """Close the ticket; False when it was closed already. The caller commits."""
    if ticket.status == CLOSED:
        return False
    ticket.status, ticket.closed_at = CLOSED, utcnow()
    return True


def queue_telegram_answer(session: Session, ticket: Handoff, answer: str) -> None:
    """Hand the answer to the Telegram outbox, which the Telegram process sends within
    TELEGRAM_RETRY_SECONDS (the admin runs in a process that may have no Bot API loop)."""
    session.add(
        TelegramOutbox(
            chat_id=ticket.chat_id,
            reply_to_message_id=ticket.reply_to_message_id,
            text=ANSWER_PREFIX + answer,
            query_log_id=ticket.query_log_id,
            attempts=0,
            next_attempt_at=utcnow(),
        )
    )


def queue_order() -> ColumnElement[int]:
    """Open tickets first, then answered, then closed."""
    return case((Handoff.status == OPEN, 0), (Handoff.status == ANSWERED, 1), else_=2)


def tickets(session: Session, limit: int) -> list[Handoff]:
    """Open tickets first, oldest first: the ones waiting longest are answered first."""
    statement = select(Handoff).order_by(queue_order(), Handoff.created_at, Handoff.id)
    return list(session.scalars(statement.limit(limit)))


@dataclass(frozen=True)
class HandoffStats:
    opened: int
    answered: int
    median_first_response: timedelta | None

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.opened if self.opened else None


def handoff_stats(session: Session, since: datetime) -> HandoffStats:
    """Tickets opened since `since`, how many got an answer, and how soon (median)."""
    rows = session.execute(
        select(Handoff.created_at, Handoff.first_response_at).where(Handoff.created_at >= since)
    ).all()
    waits = [aware(first) - aware(created) for created, first in rows if first is not None]
    median = (
        timedelta(seconds=statistics.median(w.total_seconds() for w in waits)) if waits else None
    )
    return HandoffStats(len(rows), len(waits), median)
