"""Dashboard figures: messages, answered and fallback rates, top FAQs, per day."""

from __future__ import annotations

from datetime import date
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from admin_browser.support import post
from sqlalchemy import select

from bot.admin.dashboard import collect_stats
from bot.db import new_session
from bot.models import Faq
from bot.models import QueryLog

pytest_plugins = ["admin_browser.support"]

TODAY = date(2026, 11, 20)


def add_logs(app):
    with new_session(app) as session:
        mewah = session.scalars(select(Faq.id).where(Faq.question == "Apa itu mode mewah?")).one()
        normal = session.scalars(
            select(Faq.id).where(Faq.question == "Apa itu mode normal?")
        ).one()

        def at(days_ago):
            moment = datetime.combine(TODAY, datetime.min.time(), timezone.utc)
            return moment - timedelta(days=days_ago) + timedelta(hours=10)

        rows = [
            (mewah, False, "api", 0),
            (mewah, False, "telegram", 0),
            (mewah, False, "telegram", 1),
            (normal, False, "api", 1),
            (None, True, "telegram", 1),
            (None, True, "api", 40),  # older than the chart's 30 days
            (None, True, "admin-test", 0),  # the test panel: never counted
        ]
        for faq_id, fallback, channel, days_ago in rows:
            session.add(
                QueryLog(
                    text="x",
                    channel=channel,
                    faq_id=faq_id,
                    fallback=fallback,
                    score=0.9,
                    created_at=at(days_ago),
                )
            )
        session.commit()
    return mewah, normal


def test_collect_stats_counts_users_messages_only(admin_app):
    mewah, normal = add_logs(admin_app)
    with new_session(admin_app) as session:
        stats = collect_stats(session, today=TODAY)
    assert (stats.messages, stats.answered, stats.fallback) == (6, 4, 2)
    assert stats.answered_rate == 4 / 6 and stats.fallback_rate == 2 / 6
    assert len(stats.days) == 30 and stats.days[-1].day == TODAY
    assert (stats.days[-1].answered, stats.days[-1].fallback) == (2, 0)
    assert (stats.days[-2].answered, stats.days[-2].fallback) == (2, 1)
    assert sum(d.total for d in stats.days) == 5
    assert stats.busiest_day == 3
    assert [(faq_id, n) for faq_id, _, n in stats.top_faqs] == [(mewah, 3), (normal, 1)]
    assert dict(stats.channels) == {"telegram": 3, "api": 3}


def test_no_messages_no_rates(admin_app):
    with new_session(admin_app) as session:
        stats = collect_stats(session, today=TODAY)
    assert stats.messages == 0 and stats.answered_rate is None and stats.busiest_day == 0


def test_dashboard_page_renders_the_figures(admin_app, admin):
    add_logs(admin_app)
    post(admin, "/admin/test", {"message": "halo"})
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Serving model <strong>v1</strong>" in page
    assert "66.7 %" in page and "33.3 %" in page
    assert page.count('class="day"') == 30
    assert "Apa itu mode mewah?" in page
    assert "admin-test" not in page
    assert admin.get("/admin").status_code == 308  # the bare prefix goes to the dashboard


def test_days_are_utc_days_whatever_the_database_time_zone(admin_app):
    """23:30 and 00:30 UTC fall on two days, even where the server's zone is UTC+14."""
    midnight = datetime.combine(TODAY, datetime.min.time(), timezone.utc)
    with new_session(admin_app) as session:
        for moment in (midnight - timedelta(minutes=30), midnight + timedelta(minutes=30)):
            session.add(QueryLog(text="x", channel="api", fallback=True, created_at=moment))
        session.commit()
        stats = collect_stats(session, today=TODAY)
    assert [(d.day, d.fallback) for d in stats.days[-2:]] == [
        (TODAY - timedelta(days=1), 1),
        (TODAY, 1),
    ]
