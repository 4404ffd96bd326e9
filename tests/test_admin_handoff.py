"""Admin Handoff page: tickets in order, answered through their channel, turned into FAQs;
the dashboard's handoff and satisfaction figures; a 👎 lands in the inbox."""

from __future__ import annotations

import re
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from admin_browser.support import post
from admin_browser.support import settle
from sqlalchemy import select

from bot.db import new_session
from bot.handoff import ANSWER_PREFIX
from bot.handoff import open_ticket
from bot.models import AlternateQuestion
from bot.models import Faq
from bot.models import Handoff
from bot.models import QueryLog
from bot.models import TelegramOutbox
from bot.models import TrainingPair

pytest_plugins = ["admin_browser.support"]

MESSAGE = "bisa pesan martabak lewat aplikasi ini?"


def ticket(app, text: str = MESSAGE, channel: str = "api", minutes: int = 0, **extra) -> Handoff:  # noqa: ANN001
    """A logged message and its ticket, opened `minutes` ago."""
    with new_session(app) as session:
        log = QueryLog(text=text, channel=channel, fallback=True, score=0.1)
        session.add(log)
        session.commit()
        row, _ = open_ticket(session, log, "sari@example.com", ["halo min"], **extra)
        row.created_at = datetime.now(timezone.utc) - timedelta(minutes=minutes)
        session.commit()
        return row


def reload(app, row: Handoff) -> Handoff:  # noqa: ANN001
    with new_session(app) as session:
        return session.get(Handoff, row.id)


def answered(app, text: str, faq: int, helpful: bool | None) -> None:  # noqa: ANN001
    """A message the bot answered confidently with `faq`, and the user's verdict on it."""
    with new_session(app) as session:
        session.add(
            QueryLog(
                text=text, channel="api", fallback=False, score=0.99, faq_id=faq, helpful=helpful
            )
        )
        session.commit()


def faq_id(app, question: str) -> int:  # noqa: ANN001
    with new_session(app) as session:
        return session.scalars(select(Faq.id).where(Faq.question == question)).one()


def test_open_tickets_come_first_oldest_first_with_the_conversation(admin_app, admin):
    newer = ticket(admin_app, "pertanyaan baru", minutes=5)
    older = ticket(admin_app, "pertanyaan lama", minutes=50)
    done = ticket(admin_app, "pertanyaan selesai", minutes=90)
    post(admin, f"/admin/handoff/{done.id}/close")
    page = admin.get("/admin/handoff").get_data(as_text=True)
    order = [int(n) for n in re.findall(r'id="ticket-(\d+)"', page)]
    assert order == [older.id, newer.id, done.id]
    assert "halo min" in page and "sari@example.com" in page
    assert 'href="/admin/handoff"' in admin.get("/admin/").get_data(as_text=True)  # in the menu


def test_answering_an_api_ticket_lets_the_client_read_it(admin_app, admin):
    row = ticket(admin_app)
    response = post(admin, f"/admin/handoff/{row.id}/answer", {f"a{row.id}-answer": "Belum bisa."})
    assert response.status_code == 302
    answered = reload(admin_app, row)
    assert (answered.status, answered.answer, answered.answered_by) == (
        "answered",
        "Belum bisa.",
        "admin",
    )
    body = admin_app.test_client().get(f"/api/handoff/{row.token}").get_json()
    assert (body["status"], body["answer"]) == ("answered", "Belum bisa.")


def test_answering_a_telegram_ticket_queues_it_for_the_user(admin_app, admin):
    row = ticket(admin_app, channel="telegram", chat_id=4711, reply_to_message_id=12)
    post(admin, f"/admin/handoff/{row.id}/answer", {f"a{row.id}-answer": "Bisa lewat menu."})
    with new_session(admin_app) as session:
        [queued] = session.scalars(select(TelegramOutbox)).all()
        assert (queued.chat_id, queued.reply_to_message_id, queued.status) == (4711, 12, "pending")
        assert queued.text == ANSWER_PREFIX + "Bisa lewat menu."


@pytest.mark.parametrize("answer", ["", "   ", "a\x00b", "x" * 4001])
def test_a_bad_answer_is_refused_and_nothing_is_sent(admin_app, admin, answer):
    row = ticket(admin_app, channel="telegram", chat_id=4712)
    page = post(
        admin,
        f"/admin/handoff/{row.id}/answer",
        {f"a{row.id}-answer": answer},
        follow_redirects=True,
    )
    assert "Write an answer" in page.get_data(as_text=True)
    assert reload(admin_app, row).status == "open"
    with new_session(admin_app) as session:
        assert session.scalars(select(TelegramOutbox)).all() == []


def test_a_closed_ticket_is_not_answered(admin_app, admin):
    row = ticket(admin_app)
    post(admin, f"/admin/handoff/{row.id}/close")
    assert reload(admin_app, row).status == "closed"
    page = post(
        admin,
        f"/admin/handoff/{row.id}/answer",
        {f"a{row.id}-answer": "telat"},
        follow_redirects=True,
    )
    assert "is closed; the answer was not sent" in page.get_data(as_text=True)
    assert reload(admin_app, row).answer is None


@pytest.mark.parametrize("action", ["answer", "close", "new-faq", "attach"])
def test_unknown_tickets_are_404(admin, action):
    assert post(admin, f"/admin/handoff/987654/{action}").status_code == 404


def test_new_faq_from_an_answered_ticket_is_answered_at_once(admin_app, admin):
    row = ticket(admin_app)
    post(admin, f"/admin/handoff/{row.id}/answer", {f"a{row.id}-answer": "Belum bisa, kak."})
    response = post(admin, f"/admin/handoff/{row.id}/new-faq")
    assert response.location.startswith("/admin/faqs/new?")
    form = admin.get(response.location).get_data(as_text=True)
    assert f'value="{MESSAGE}"' in form and "Belum bisa, kak." in form  # both prefilled
    data = {
        "question": "Bisakah pesan makanan di FinBuddy?",
        "answer": "Belum bisa, kak.",
        "active": "y",
        "queries": str(row.query_log_id),
    }
    assert post(admin, "/admin/faqs/new", data).status_code == 302
    new_id = faq_id(admin_app, data["question"])
    with new_session(admin_app) as session:
        pairs = session.scalars(select(TrainingPair.text).filter_by(faq_id=new_id)).all()
        assert pairs == [MESSAGE]  # the user's message is its first training pair
        assert session.get(QueryLog, row.query_log_id).review_status == "created"
    settle(admin_app)
    reply = admin_app.test_client().post("/api/chat", json={"message": MESSAGE}).get_json()
    assert (reply["faq_id"], reply["fallback"]) == (new_id, False)  # no retraining needed


@pytest.mark.parametrize("kind", ["pair", "alternate"])
def test_attach_the_message_to_an_existing_faq(admin_app, admin, kind):
    row = ticket(admin_app)
    post(admin, f"/admin/handoff/{row.id}/answer", {f"a{row.id}-answer": "Lihat FAQ mode mewah."})
    target = faq_id(admin_app, "Apa itu mode mewah?")
    data = {f"t{row.id}-faq_id": str(target), f"t{row.id}-kind": kind}
    page = post(admin, f"/admin/handoff/{row.id}/attach", data, follow_redirects=True)
    assert f"added to FAQ #{target}" in page.get_data(as_text=True)
    with new_session(admin_app) as session:
        model = TrainingPair if kind == "pair" else AlternateQuestion
        texts = session.scalars(select(model.text).filter_by(faq_id=target)).all()
    assert MESSAGE in texts
    settle(admin_app)


def test_the_dashboard_shows_tickets_response_time_and_satisfaction(admin_app, admin):
    for minutes in (10, 30, 90):  # answered now: waited 10, 30 and 90 minutes
        row = ticket(admin_app, f"pertanyaan {minutes}", minutes=minutes)
        post(admin, f"/admin/handoff/{row.id}/answer", {f"a{row.id}-answer": "ok"})
    ticket(admin_app, "belum dijawab", minutes=5)
    faq = faq_id(admin_app, "Apa itu mode mewah?")
    for helpful in (False, False, True):
        answered(admin_app, "mode mewah?", faq, helpful)
    page = admin.get("/admin/").get_data(as_text=True)
    tiles = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "Tickets opened 4 " in tiles
    assert "Median first response 30 min" in tiles
    assert "Tickets answered 75.0 % 3 of 4" in tiles
    assert "Apa itu mode mewah? 1 2 33.3 %" in tiles


def test_a_thumbs_down_puts_a_confident_answer_in_the_inbox(admin_app, admin):
    faq = faq_id(admin_app, "Apa itu mode mewah?")
    answered(admin_app, "mode mewah itu apa sih (fine)", faq, None)
    answered(admin_app, "mode mewah itu apa sih (disliked)", faq, False)
    page = admin.get("/admin/inbox").get_data(as_text=True)
    assert "(disliked)" in page and "(fine)" not in page
