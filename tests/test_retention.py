"""Personal data: the query log is purged by age (daily, once among workers) or by content."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select

from bot.db import new_session
from bot.handoff import open_ticket
from bot.models import Faq
from bot.models import Handoff
from bot.models import QueryLog
from bot.models import TelegramOutbox
from bot.models import TrainingPair
from bot.models import utcnow
from bot.retention import DAILY_JOB
from bot.retention import claim_run
from bot.retention import purge_if_due

SECRET = "nomor rekening saya 1234-5678"


def add_history(app, days_ago: int, text: str, pick: bool = False) -> int:  # noqa: ANN001
    """A logged message `days_ago` old, with an outbox row and (optionally) a pending pick."""
    when = utcnow() - timedelta(days=days_ago)
    with new_session(app) as session:
        faq_id = session.scalar(select(Faq.id).limit(1))
        log = QueryLog(text=text, channel="telegram", fallback=True, created_at=when)
        session.add(log)
        session.flush()
        session.add(
            TelegramOutbox(
                chat_id=1, text="jawaban", query_log_id=log.id, status="sent", created_at=when
            )
        )
        if pick:
            session.add(
                TrainingPair(
                    text=text, faq_id=faq_id, source="telegram", approved=False, created_at=when
                )
            )
        session.commit()
        return log.id


def texts(app, model=QueryLog) -> list[str]:  # noqa: ANN001
    with new_session(app) as session:
        return sorted(session.scalars(select(model.text)))


def count(app, model) -> int:  # noqa: ANN001
    with new_session(app) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_purge_by_age_removes_old_messages_and_their_copies(app):
    add_history(app, 100, SECRET, pick=True)
    add_history(app, 5, "pesan baru", pick=True)
    pairs_before = count(app, TrainingPair)
    result = app.test_cli_runner().invoke(args=["purge-queries", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 logged message(s), 1 sent Telegram repl(ies) and 1 unreviewed" in (
        result.output
    )
    assert texts(app) == ["pesan baru"]
    assert SECRET not in texts(app, TrainingPair)  # the unreviewed pick made from it is gone
    assert count(app, TrainingPair) == pairs_before - 1
    assert count(app, TelegramOutbox) == 1


def test_purge_by_content_ignores_case_and_unicode_form(app):
    add_history(app, 1, "Saya di Café Kopi, nomor REKENING 1234", pick=True)
    add_history(app, 1, "apa itu mode mewah")
    with new_session(app) as session:
        faq_id = session.scalar(select(Faq.id).limit(1))
        session.add(TrainingPair(text="rekening 1234 bocor", faq_id=faq_id, source="inbox"))
        session.commit()
    result = app.test_cli_runner().invoke(
        args=["purge-queries", "--matching", "cafe\u0301 kopi, nomor rekening"]
    )
    assert result.exit_code == 0, result.output
    assert texts(app) == ["apa itu mode mewah"]
    assert "Saya di Café Kopi, nomor REKENING 1234" not in texts(app, TrainingPair)

    kept = app.test_cli_runner().invoke(args=["purge-queries", "--matching", "rekening 1234"])
    assert "Still containing the text: 1 training pair(s)" in kept.output
    erased = app.test_cli_runner().invoke(
        args=["purge-queries", "--matching", "rekening 1234", "--pairs"]
    )
    assert "Deleted 1 training pair(s)." in erased.output
    assert "Index rebuilt" in erased.output
    assert not [t for t in texts(app, TrainingPair) if "rekening 1234" in t]


def ticket_texts(app) -> list[str]:  # noqa: ANN001
    with new_session(app) as session:
        return sorted(session.scalars(select(Handoff.message)))


def test_handoff_tickets_go_with_the_messages_by_age_and_by_content(app):
    for days_ago, text, history in (
        (100, "pertanyaan lama", []),
        (1, "pertanyaan baru", [SECRET]),
        (1, "pertanyaan lain", []),
    ):
        log_id = add_history(app, days_ago, text)
        with new_session(app) as session:
            log = session.get(QueryLog, log_id)
            row, _ = open_ticket(session, log, "x", history)
            row.created_at = log.created_at
            session.commit()
    by_age = app.test_cli_runner().invoke(args=["purge-queries", "--older-than", "30"])
    assert "Deleted 1 handoff ticket(s)." in by_age.output
    assert ticket_texts(app) == ["pertanyaan baru", "pertanyaan lain"]
    by_content = app.test_cli_runner().invoke(args=["purge-queries", "--matching", "REKENING"])
    assert "Deleted 1 handoff ticket(s)." in by_content.output  # found in the earlier messages
    assert ticket_texts(app) == ["pertanyaan lain"]


def test_purge_without_a_rule_uses_bot_query_log_days(make_app):
    app = make_app(BOT_QUERY_LOG_DAYS=10)
    add_history(app, 11, "lama")
    add_history(app, 9, "baru")
    assert app.test_cli_runner().invoke(args=["purge-queries"]).exit_code == 0
    assert texts(app) == ["baru"]
    usage = app.test_cli_runner().invoke(args=["purge-queries", "--pairs"])
    assert usage.exit_code == 2 and "--pairs needs --matching" in usage.output


def test_the_server_purges_daily_once_among_workers(make_app):
    app = make_app(BOT_QUERY_LOG_DAYS=30)
    add_history(app, 45, SECRET)
    app.test_client().get("/healthz")  # any request asks whether the day's purge is due
    assert texts(app) == []

    add_history(app, 45, "lagi")
    assert purge_if_due(app) is None  # already ran today
    tomorrow = utcnow() + timedelta(days=1, minutes=1)
    won = []

    def worker() -> None:
        with new_session(app) as session:
            won.append(claim_run(session, DAILY_JOB, timedelta(days=1), tomorrow))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False] * 5 + [True]


def test_a_zero_retention_keeps_everything(make_app):
    app = make_app(BOT_QUERY_LOG_DAYS=0)
    add_history(app, 4000, "sangat lama")
    app.test_client().get("/healthz")
    assert purge_if_due(app) is None
    assert texts(app) == ["sangat lama"]


def test_message_text_never_reaches_the_log_above_debug(app, client, caplog):
    with caplog.at_level(logging.INFO):
        client.post("/api/chat", json={"message": SECRET})
        client.post("/api/chat", json={"message": SECRET + "\x00"})
    assert SECRET not in caplog.text
