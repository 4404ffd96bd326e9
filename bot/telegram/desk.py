"""The support desk's database side on Telegram: tickets, agents' answers, users' verdicts.

Blocking calls that the handlers run in threads, like bot.telegram.service. The user's last
few messages per chat are kept in memory (per process, bounded) so a ticket can show the
agent what came before; the query log does not know chats.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections import deque
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from bot.db import new_session
from bot.feedback import record_feedback
from bot.handoff import MAX_HISTORY
from bot.handoff import close
from bot.handoff import open_ticket
from bot.handoff import record_answer
from bot.input_rules import normalise
from bot.models import Handoff
from bot.models import QueryLog
from bot.telegram.rate_limit import RateLimiter

CHANNEL = "telegram"  # bot.telegram.service.CHANNEL: the log rows this desk may touch
HANDOFF_WINDOW = 3600.0  # seconds: TELEGRAM_HANDOFF_RATE_LIMIT presses per chat per hour
MAX_CHATS = 10_000


@dataclass(frozen=True)
class Ticket:
    """What the handlers need of a ticket, read inside its session."""

    id: int
    status: str
    message: str
    history: list[str]
    chat_id: int | None
    reply_to_message_id: int | None
    support_message_id: int | None
    query_log_id: int | None

    @classmethod
    def of(cls, row: Handoff) -> Ticket:
        return cls(
            row.id,
            row.status,
            row.message,
            list(row.history or []),
            row.chat_id,
            row.reply_to_message_id,
            row.support_message_id,
            row.query_log_id,
        )


class RecentMessages:
    """The last few messages of each chat, oldest first; chats idle longest are forgotten."""

    def __init__(self, per_chat: int = MAX_HISTORY + 1, max_chats: int = MAX_CHATS) -> None:
        self._per_chat = per_chat
        self._max_chats = max_chats
        self._chats: OrderedDict[int, deque[str]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, chat_id: int, text: str) -> None:
        """Keep the message as the query log does (spacing collapsed, NFC)."""
        text = normalise(" ".join(text.split()))
        with self._lock:
            self._chats.setdefault(chat_id, deque(maxlen=self._per_chat)).append(text)
            self._chats.move_to_end(chat_id)
            while len(self._chats) > self._max_chats:
                self._chats.popitem(last=False)

    def of(self, chat_id: int) -> list[str]:
        with self._lock:
            return list(self._chats.get(chat_id, ()))


class SupportDesk:
    """Tickets from Telegram chats, answered by agents in the support chat."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.chat_id: int | None = app.config["TELEGRAM_SUPPORT_CHAT_ID"]
        self.limiter = RateLimiter(int(app.config["TELEGRAM_HANDOFF_RATE_LIMIT"]), HANDOFF_WINDOW)
        self.recent = RecentMessages()

    @property
    def enabled(self) -> bool:
        """Without a support chat there is nobody to hand over to: no "Tanya admin"."""
        return self.chat_id is not None

    def open(
        self, query_log_id: int, chat_id: int, reply_to: int | None
    ) -> tuple[Ticket, bool] | None:
        """The message's ticket and whether it is new; None for an unknown message."""
        with new_session(self.app) as session:
            log = session.get(QueryLog, query_log_id)
            if log is None or log.channel != CHANNEL:
                return None
            row, created = open_ticket(
                session, log, str(chat_id), self.recent.of(chat_id), chat_id, reply_to
            )
            return Ticket.of(row), created

    def forwarded(self, ticket_id: int, support_message_id: int) -> None:
        """The ticket's message in the support chat: agents reply to it."""
        with new_session(self.app) as session:
            session.get(Handoff, ticket_id).support_message_id = support_message_id
            session.commit()

    def ticket_at(self, support_message_id: int) -> Ticket | None:
        """The ticket whose support-chat message this is, if any."""
        with new_session(self.app) as session:
            row = session.scalars(
                select(Handoff).where(Handoff.support_message_id == support_message_id)
            ).first()
            return Ticket.of(row) if row is not None else None

    def answer(self, ticket_id: int, text: str, agent: str) -> Ticket:
        """Record an agent's answer; TicketClosed when the ticket is closed."""
        with new_session(self.app) as session:
            row = session.get(Handoff, ticket_id)
            record_answer(row, text, agent)
            session.commit()
            return Ticket.of(row)

    def close(self, ticket_id: int) -> bool:
        with new_session(self.app) as session:
            closed = close(session.get(Handoff, ticket_id))
            session.commit()
            return closed

    def feedback(self, query_log_id: int, helpful: bool) -> bool:
        """Keep the verdict on a Telegram reply; False for an unknown message."""
        with new_session(self.app) as session:
            log = session.get(QueryLog, query_log_id)
            if log is None or log.channel != CHANNEL:
                return False
            record_feedback(log, helpful)
            session.commit()
            return True
