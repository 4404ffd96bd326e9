"""How long what users typed is kept: the daily purge and `flask purge-queries`.

The query log holds every message. Copies derived from it go with it: finished Telegram
outbox rows, the unreviewed Telegram "did you mean" picks (a pair an admin never looked at)
and handoff tickets (the message, the ones before it, the agent's answer). What an admin
chose to keep stays: approved training pairs and alternate questions made from messages,
and model versions indexed with them (see the README).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from flask import Flask
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import new_session
from bot.models import AlternateQuestion
from bot.models import Handoff
from bot.models import MaintenanceRun
from bot.models import QueryLog
from bot.models import TelegramOutbox
from bot.models import TrainingPair
from bot.models import utcnow
from training.tabular import normalise_key

logger = logging.getLogger(__name__)

DAILY_JOB = "purge-queries"
CHECK_EVERY_SECONDS = 3600.0  # how often a worker asks whether the daily purge is due
PICK_SOURCE = "telegram"  # TrainingPair.source of unreviewed "did you mean" picks
BATCH = 1000


@dataclass(frozen=True)
class PurgeReport:
    queries: int = 0
    outbox: int = 0
    picks: int = 0
    tickets: int = 0
    pairs: int = 0
    pairs_left: int = 0  # training pairs that still contain the text (--matching)
    alternates_left: int = 0  # alternate questions that still contain the text (--matching)


def _contains(needle: str):  # noqa: ANN202
    key = normalise_key(needle)
    return lambda text: key in normalise_key(text)


def _matching_ids(session: Session, column, id_column, needle: str, where=()) -> list[int]:  # noqa: ANN001
    """Ids of rows whose text contains `needle` (case, spacing and Unicode form ignored).

    Compared in Python, since SQL's lower() and LIKE do not fold non-ASCII letters alike.
    """
    contains = _contains(needle)
    statement = select(id_column, column).where(*where).execution_options(yield_per=BATCH)
    return [row_id for row_id, text in session.execute(statement) if contains(text)]


def _delete_ids(session: Session, model, ids: list[int]) -> int:  # noqa: ANN001
    for start in range(0, len(ids), BATCH):
        session.execute(delete(model).where(model.id.in_(ids[start : start + BATCH])))
    return len(ids)


def _matching_tickets(session: Session, needle: str, where=()) -> list[int]:  # noqa: ANN001
    """Tickets whose message, or a message before it, contains `needle`."""
    contains = _contains(needle)
    statement = select(Handoff.id, Handoff.message, Handoff.history).where(*where)
    return [
        ticket_id
        for ticket_id, message, history in session.execute(statement)
        if any(contains(text) for text in [message, *(history or [])])
    ]


def purge(
    session: Session,
    older_than: timedelta | None = None,
    matching: str | None = None,
    pairs: bool = False,
    now: datetime | None = None,
) -> PurgeReport:
    """Delete logged messages older than `older_than` and/or containing `matching`; commits.

    With `matching` and `pairs`, training pairs containing the text go too (any source).
    """
    if older_than is None and not matching:
        raise ValueError("say what to purge: an age, a text, or both")
    cutoff = (now or utcnow()) - older_than if older_than is not None else None
    log_where = [QueryLog.created_at < cutoff] if cutoff is not None else []
    pick_where = [TrainingPair.source == PICK_SOURCE, TrainingPair.approved.is_(False)]
    ticket_where = [Handoff.created_at < cutoff] if cutoff is not None else []
    if cutoff is not None:
        pick_where.append(TrainingPair.created_at < cutoff)
    outbox = 0
    if matching:
        queries = _delete_ids(
            session,
            QueryLog,
            _matching_ids(session, QueryLog.text, QueryLog.id, matching, log_where),
        )
        picks = _delete_ids(
            session,
            TrainingPair,
            _matching_ids(session, TrainingPair.text, TrainingPair.id, matching, pick_where),
        )
        tickets = _delete_ids(session, Handoff, _matching_tickets(session, matching, ticket_where))
        pair_ids = _matching_ids(session, TrainingPair.text, TrainingPair.id, matching)
        removed_pairs = _delete_ids(session, TrainingPair, pair_ids) if pairs else 0
        alternates_left = len(
            _matching_ids(session, AlternateQuestion.text, AlternateQuestion.id, matching)
        )
    else:
        queries = session.execute(delete(QueryLog).where(*log_where)).rowcount
        picks = session.execute(delete(TrainingPair).where(*pick_where)).rowcount
        tickets = session.execute(delete(Handoff).where(*ticket_where)).rowcount
        outbox = session.execute(
            delete(TelegramOutbox).where(
                TelegramOutbox.status != "pending", TelegramOutbox.created_at < cutoff
            )
        ).rowcount
        pair_ids, removed_pairs, alternates_left = [], 0, 0
    session.commit()
    return PurgeReport(
        queries=queries,
        outbox=outbox,
        picks=picks,
        tickets=tickets,
        pairs=removed_pairs,
        pairs_left=len(pair_ids) - removed_pairs,
        alternates_left=alternates_left,
    )


def claim_run(session: Session, name: str, every: timedelta, now: datetime | None = None) -> bool:
    """True for exactly one caller per `every`, however many workers ask at once.

    A conditional UPDATE (or the INSERT of the first run) is atomic in every database.
    """
    now = now or utcnow()
    claimed = session.execute(
        update(MaintenanceRun)
        .where(MaintenanceRun.name == name, MaintenanceRun.ran_at <= now - every)
        .values(ran_at=now)
    ).rowcount
    if claimed:
        session.commit()
        return True
    if session.get(MaintenanceRun, name) is not None:
        session.rollback()
        return False
    session.add(MaintenanceRun(name=name, ran_at=now))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def purge_if_due(app: Flask, now: datetime | None = None) -> PurgeReport | None:
    """The daily BOT_QUERY_LOG_DAYS purge, if this worker is the one to run it today."""
    days = int(app.config["BOT_QUERY_LOG_DAYS"])
    if days <= 0:
        return None
    with new_session(app) as session:
        if not claim_run(session, DAILY_JOB, timedelta(days=1), now):
            return None
        report = purge(session, older_than=timedelta(days=days), now=now)
    logger.info(
        "retention: %s messages older than %s days purged (%s outbox rows, %s unreviewed picks)",
        report.queries,
        days,
        report.outbox,
        report.picks,
    )
    return report


class DailyPurge:
    """At most hourly per worker, one request asks whether the day's purge is due.

    Asking is one UPDATE; the one worker that wins runs the purge (a DELETE) right there.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._next_check = 0.0
        self._lock = threading.Lock()

    def on_request(self) -> None:
        with self._lock:
            if time.monotonic() < self._next_check:
                return
            self._next_check = time.monotonic() + CHECK_EVERY_SECONDS
        try:
            purge_if_due(self.app)
        except Exception:  # never fail a user's request over housekeeping
            logger.exception("retention: the daily purge failed; it is retried in an hour")


def init_app(app: Flask) -> None:
    daily = DailyPurge(app)
    app.extensions["daily_purge"] = daily
    app.before_request(daily.on_request)
