"""At-least-once replies: what the Bot API did not take waits in a table and is retried.

A reply is sent at once; if the Bot API fails in a way that may pass (network, timeout,
5xx, flood control), the unsent parts are written to `telegram_outbox` and the runtime's
pump retries them with exponential backoff, in order per chat, until they are sent or
TELEGRAM_RETRY_HOURS have passed. Refusals that will not pass (a bad request, a bot the
user blocked) are logged and given up at once. `query_log.delivery` follows the message:
pending, sent, queued (retrying) or failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy import update
from telegram import Bot
from telegram import InlineKeyboardMarkup
from telegram import ReplyParameters
from telegram.error import BadRequest
from telegram.error import NetworkError
from telegram.error import RetryAfter
from telegram.error import TelegramError

from bot.db import new_session
from bot.models import QueryLog
from bot.models import TelegramOutbox
from bot.models import utcnow

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=15)
LEASE = timedelta(minutes=2)  # a claimed row is not retried by another worker meanwhile
CLAIM_BATCH = 20


@dataclass(frozen=True)
class Outgoing:
    """One Telegram message to send: plain text, where, and its keyboard."""

    chat_id: int
    text: str
    message_thread_id: int | None = None
    reply_to_message_id: int | None = None
    reply_markup: dict[str, Any] | None = None


async def deliver(bot: Bot, outgoing: Outgoing) -> None:
    """Plain text (no parse mode: nothing in an answer is read as markup)."""
    markup = outgoing.reply_markup
    await bot.send_message(
        chat_id=outgoing.chat_id,
        text=outgoing.text,
        message_thread_id=outgoing.message_thread_id,
        reply_parameters=(
            ReplyParameters(outgoing.reply_to_message_id, allow_sending_without_reply=True)
            if outgoing.reply_to_message_id is not None
            else None
        ),
        reply_markup=InlineKeyboardMarkup.de_json(markup, bot) if markup else None,
    )


def retryable(exc: TelegramError) -> bool:
    """Network trouble, timeouts, 5xx and flood control may pass; other refusals will not."""
    return isinstance(exc, RetryAfter) or (
        isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)
    )


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class OutboxStore:
    """The table side of the outbox: blocking calls that the async code runs in threads."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.first_delay = timedelta(seconds=float(app.config["TELEGRAM_RETRY_SECONDS"]))
        self.give_up_after = timedelta(hours=float(app.config["TELEGRAM_RETRY_HOURS"]))

    def backoff(self, attempts: int, exc: TelegramError | None = None) -> timedelta:
        delay = min(self.first_delay * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
        if isinstance(exc, RetryAfter):
            delay = max(delay, timedelta(seconds=_seconds(exc.retry_after)))
        return delay

    def mark_delivery(self, query_log_id: int | None, state: str) -> None:
        if query_log_id is None:
            return
        with new_session(self.app) as session:
            session.execute(
                update(QueryLog).where(QueryLog.id == query_log_id).values(delivery=state)
            )
            session.commit()

    def enqueue(self, items: list[Outgoing], query_log_id: int | None, exc: TelegramError) -> None:
        """Keep the unsent parts of a reply for the pump; the first try already failed."""
        retry_at = utcnow() + self.backoff(1, exc)
        with new_session(self.app) as session:
            for item in items:
                session.add(
                    TelegramOutbox(
                        chat_id=item.chat_id,
                        message_thread_id=item.message_thread_id,
                        reply_to_message_id=item.reply_to_message_id,
                        text=item.text,
                        reply_markup=item.reply_markup,
                        query_log_id=query_log_id,
                        attempts=1,
                        next_attempt_at=retry_at,
                        last_error=_describe(exc),
                    )
                )
            if query_log_id is not None:
                session.execute(
                    update(QueryLog).where(QueryLog.id == query_log_id).values(delivery="queued")
                )
            session.commit()
        logger.warning(
            "telegram reply to chat %s queued for retry (%s part(s)): %s",
            items[0].chat_id,
            len(items),
            _describe(exc),
        )

    def claim_due(self, now: datetime | None = None) -> list[tuple[int, Outgoing]]:
        """Due rows, the oldest pending one per chat only (so parts keep their order).

        Each is leased with a conditional UPDATE, so of several workers one sends it.
        """
        now = now or utcnow()
        claimed: list[tuple[int, Outgoing]] = []
        with new_session(self.app) as session:
            pending = session.scalars(
                select(TelegramOutbox)
                .where(TelegramOutbox.status == "pending")
                .order_by(TelegramOutbox.id)
            )
            heads: dict[int, TelegramOutbox] = {}
            for row in pending:
                heads.setdefault(row.chat_id, row)
            for row in heads.values():
                if _aware(row.next_attempt_at) > now or len(claimed) >= CLAIM_BATCH:
                    continue
                won = session.execute(
                    update(TelegramOutbox)
                    .where(
                        TelegramOutbox.id == row.id,
                        TelegramOutbox.status == "pending",
                        TelegramOutbox.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=now + LEASE)
                    .execution_options(synchronize_session=False)
                ).rowcount
                session.commit()
                if won:
                    claimed.append((row.id, _outgoing(row)))
        return claimed

    def sent(self, row_id: int) -> None:
        with new_session(self.app) as session:
            row = session.get(TelegramOutbox, row_id)
            row.status, row.finished_at = "sent", utcnow()
            row.attempts += 1
            session.flush()
            if row.query_log_id is not None and not self._waiting(session, row.query_log_id):
                session.execute(
                    update(QueryLog).where(QueryLog.id == row.query_log_id).values(delivery="sent")
                )
            session.commit()
        logger.info("telegram reply %s to chat %s delivered on retry", row_id, row.chat_id)

    def failed(self, row_id: int, exc: TelegramError) -> None:
        """Back off, or give up for good (and say so) when the error will not pass or is old."""
        with new_session(self.app) as session:
            row = session.get(TelegramOutbox, row_id)
            row.attempts += 1
            row.last_error = _describe(exc)
            expired = utcnow() - _aware(row.created_at) >= self.give_up_after
            if retryable(exc) and not expired:
                row.next_attempt_at = utcnow() + self.backoff(row.attempts, exc)
                session.commit()
                return
            row.status, row.finished_at = "failed", utcnow()
            if row.query_log_id is not None:
                session.execute(
                    update(QueryLog)
                    .where(QueryLog.id == row.query_log_id)
                    .values(delivery="failed")
                )
            session.commit()
        logger.error(
            "telegram reply %s to chat %s given up after %s attempts: %s",
            row_id,
            row.chat_id,
            row.attempts,
            row.last_error,
        )

    @staticmethod
    def _waiting(session: Any, query_log_id: int) -> bool:
        return (
            session.scalar(
                select(TelegramOutbox.id)
                .where(
                    TelegramOutbox.query_log_id == query_log_id,
                    TelegramOutbox.status == "pending",
                )
                .limit(1)
            )
            is not None
        )


async def send_or_queue(
    bot: Bot, store: OutboxStore, items: list[Outgoing], query_log_id: int | None = None
) -> None:
    """Send the parts in order; from the first that fails for a passing reason, queue them."""
    for index, item in enumerate(items):
        try:
            await deliver(bot, item)
        except TelegramError as exc:
            if retryable(exc):
                await asyncio.to_thread(store.enqueue, items[index:], query_log_id, exc)
            else:
                logger.error("telegram reply to chat %s refused: %s", item.chat_id, exc)
                await asyncio.to_thread(store.mark_delivery, query_log_id, "failed")
            return
    await asyncio.to_thread(store.mark_delivery, query_log_id, "sent")


async def retry_due(bot: Bot, store: OutboxStore) -> int:
    """One round of the pump: send every claimed row; returns how many were sent."""
    delivered = 0
    for row_id, outgoing in await asyncio.to_thread(store.claim_due):
        try:
            await deliver(bot, outgoing)
        except TelegramError as exc:
            await asyncio.to_thread(store.failed, row_id, exc)
            continue
        await asyncio.to_thread(store.sent, row_id)
        delivered += 1
    return delivered


def pump_interval(app: Flask) -> float:
    """How often the pump looks for due replies: the first retry delay, within 0.05-30 s."""
    return max(0.05, min(float(app.config["TELEGRAM_RETRY_SECONDS"]), 30.0))


async def pump(bot: Bot, store: OutboxStore, interval: float, ready: Callable[[], bool]) -> None:
    """Retry queued replies every `interval` seconds (once `ready()`) until cancelled."""
    while True:
        try:
            if ready():
                await retry_due(bot, store)
        except Exception:
            logger.exception("telegram outbox round failed; trying again")
        await asyncio.sleep(interval)


def _outgoing(row: TelegramOutbox) -> Outgoing:
    return Outgoing(
        row.chat_id, row.text, row.message_thread_id, row.reply_to_message_id, row.reply_markup
    )


def _describe(exc: TelegramError) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
