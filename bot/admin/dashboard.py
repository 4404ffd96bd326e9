"""Dashboard: how much the bot is asked, how often it answers, what, and day by day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from datetime import timezone
from typing import Any

from flask import current_app
from flask import render_template
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.admin import bp
from bot.catalog import count_active_faqs
from bot.db import get_session
from bot.feedback import satisfaction
from bot.handoff import handoff_stats
from bot.models import Faq
from bot.models import QueryLog
from bot.models import utcnow
from bot.review import TEST_CHANNEL
from bot.review import count_of
from bot.review import inbox_statement
from bot.review import telegram_picks
from bot.versions import active_version
from bot.versions import served_threshold

DAYS = 30
DISLIKED_SHOWN = 10


@dataclass(frozen=True)
class Day:
    day: date
    answered: int
    fallback: int

    @property
    def total(self) -> int:
        return self.answered + self.fallback


@dataclass(frozen=True)
class Stats:
    messages: int
    answered: int
    fallback: int
    days: list[Day]
    top_faqs: list[tuple[int, str, int]]
    channels: list[tuple[str, int]]

    @property
    def answered_rate(self) -> float | None:
        return self.answered / self.messages if self.messages else None

    @property
    def fallback_rate(self) -> float | None:
        return self.fallback / self.messages if self.messages else None

    @property
    def busiest_day(self) -> int:
        return max((d.total for d in self.days), default=0)


def _day(value: Any) -> date:
    """SQLite returns 'YYYY-MM-DD' text for date(), PostgreSQL a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def collect_stats(session: Session, today: date | None = None, days: int = DAYS) -> Stats:
    """Users' messages only (the test panel's are left out); days in UTC."""
    users = QueryLog.channel != TEST_CHANNEL
    fallback_count = func.coalesce(func.sum(case((QueryLog.fallback.is_(True), 1), else_=0)), 0)
    messages, fallbacks = session.execute(
        select(func.count(QueryLog.id), fallback_count).where(users)
    ).one()
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    day = func.date(QueryLog.created_at)
    per_day = {
        _day(d): (int(total), int(fallback))
        for d, total, fallback in session.execute(
            select(day, func.count(QueryLog.id), fallback_count)
            .where(users, QueryLog.created_at >= datetime.combine(first, time.min, timezone.utc))
            .group_by(day)
        )
    }
    series = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        total, fallback = per_day.get(current, (0, 0))
        series.append(Day(current, total - fallback, fallback))
    asked = func.count(QueryLog.id).label("asked")
    top = session.execute(
        select(Faq.id, Faq.question, asked)
        .join(QueryLog, QueryLog.faq_id == Faq.id)
        .where(users, QueryLog.fallback.is_(False))
        .group_by(Faq.id, Faq.question)
        .order_by(asked.desc(), Faq.id)
        .limit(10)
    ).all()
    channels = session.execute(
        select(QueryLog.channel, func.count(QueryLog.id))
        .where(users)
        .group_by(QueryLog.channel)
        .order_by(func.count(QueryLog.id).desc())
    ).all()
    return Stats(
        messages=int(messages),
        answered=int(messages) - int(fallbacks),
        fallback=int(fallbacks),
        days=series,
        top_faqs=[(i, q, n) for i, q, n in top],
        channels=[(c, n) for c, n in channels],
    )


@bp.get("/")
def dashboard() -> Any:
    session = get_session()
    version = active_version(session)
    threshold = served_threshold(current_app.config, version)
    band = current_app.config["ADMIN_INBOX_BAND"]
    inbox_count = session.scalar(count_of(inbox_statement(threshold, band)))
    picks = session.scalar(count_of(telegram_picks()))
    since = datetime.combine(utcnow().date() - timedelta(days=DAYS - 1), time.min, timezone.utc)
    return render_template(
        "admin/dashboard.html",
        stats=collect_stats(session),
        version=version,
        faqs=count_active_faqs(session),
        inbox_count=inbox_count,
        picks=picks,
        handoffs=handoff_stats(session, since),
        satisfaction=satisfaction(session, since)[:DISLIKED_SHOWN],
        days=DAYS,
    )
