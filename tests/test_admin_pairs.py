"""Training pairs: list, add, edit, approve, delete; approved ones are indexed at once."""

from __future__ import annotations

from admin_browser.support import post
from admin_browser.support import settle
from sqlalchemy import func
from sqlalchemy import select

from bot.db import new_session
from bot.models import Faq
from bot.models import TrainingPair

pytest_plugins = ["admin_browser.support"]


def faq_id(app, question):
    with new_session(app) as session:
        return session.scalars(select(Faq.id).where(Faq.question == question)).one()


def pairs_of(app, faq):
    with new_session(app) as session:
        return list(session.scalars(select(TrainingPair).where(TrainingPair.faq_id == faq)))


def pair_count(app):
    with new_session(app) as session:
        return session.scalar(select(func.count(TrainingPair.id)))


def ask(app, text):
    return app.test_client().post("/api/chat", json={"message": text}).get_json()


def test_list_filters_by_text_status_and_faq(admin_app, admin):
    page = admin.get("/admin/pairs").get_data(as_text=True)
    assert "196 pairs" in page
    mewah = faq_id(admin_app, "Apa itu mode mewah?")
    by_faq = admin.get(f"/admin/pairs?faq={mewah}").get_data(as_text=True)
    assert f"{len(pairs_of(admin_app, mewah))} pairs" in by_faq
    assert "0 pairs" in admin.get("/admin/pairs?status=pending").get_data(as_text=True)
    assert "0 pairs" in admin.get("/admin/pairs?q=zzzz-nothing").get_data(as_text=True)


def test_adding_a_pair_makes_the_bot_answer_that_phrasing(admin_app, admin):
    mewah = faq_id(admin_app, "Apa itu mode mewah?")
    text = "kak mode sultan tuh yg gimana"
    response = post(admin, "/admin/pairs/new", {"text": text, "faq_id": mewah, "approved": "y"})
    assert response.status_code == 302
    [pair] = [p for p in pairs_of(admin_app, mewah) if p.text == text]
    assert pair.approved and pair.source == "admin"
    settle(admin_app)
    assert ask(admin_app, text)["faq_id"] == mewah
    assert text in admin.get(f"/admin/faqs/{mewah}").get_data(as_text=True)


def test_bad_pairs_are_refused_and_nothing_is_saved(admin_app, admin):
    mewah = faq_id(admin_app, "Apa itu mode mewah?")
    existing = pairs_of(admin_app, mewah)[0].text
    before = pair_count(admin_app)
    cases = [
        ({"text": "", "faq_id": mewah}, "This field is required."),
        ({"text": "x" * 1001, "faq_id": mewah}, "cannot be longer than 1000"),
        ({"text": "halo", "faq_id": 99999}, "Not a valid choice"),
        ({"text": existing.upper(), "faq_id": mewah}, "already has this training pair"),
    ]
    for data, message in cases:
        response = post(admin, "/admin/pairs/new", data)
        assert response.status_code == 422, data
        assert message in response.get_data(as_text=True), message
    assert pair_count(admin_app) == before


def test_editing_moves_a_pair_to_another_faq(admin_app, admin):
    mewah = faq_id(admin_app, "Apa itu mode mewah?")
    normal = faq_id(admin_app, "Apa itu mode normal?")
    pair = pairs_of(admin_app, mewah)[0]
    page = admin.get(f"/admin/pairs/{pair.id}").get_data(as_text=True)
    assert pair.text in page
    response = post(
        admin,
        f"/admin/pairs/{pair.id}?next=/admin/faqs/{normal}",
        {"text": pair.text, "faq_id": normal, "approved": "y"},
    )
    assert response.location == f"/admin/faqs/{normal}"
    assert pair.id in [p.id for p in pairs_of(admin_app, normal)]
    assert admin.get("/admin/pairs/99999").status_code == 404


def test_unapproved_pairs_wait_for_approval(admin_app, admin):
    mewah = faq_id(admin_app, "Apa itu mode mewah?")
    text = "mode boros premium itu apa"
    post(admin, "/admin/pairs/new", {"text": text, "faq_id": mewah})  # approved unticked
    [pair] = [p for p in pairs_of(admin_app, mewah) if p.text == text]
    assert not pair.approved
    assert text in admin.get("/admin/pairs?status=pending").get_data(as_text=True)
    assert "1 new" in admin.get("/admin/faqs").get_data(as_text=True)
    post(admin, f"/admin/pairs/{pair.id}/approve")
    assert [p.approved for p in pairs_of(admin_app, mewah) if p.id == pair.id] == [True]


def test_deleting_a_pair(admin_app, admin):
    mewah = faq_id(admin_app, "Apa itu mode mewah?")
    pair = pairs_of(admin_app, mewah)[0]
    response = post(admin, f"/admin/pairs/{pair.id}/delete", {"next": f"/admin/faqs/{mewah}"})
    assert response.location == f"/admin/faqs/{mewah}"
    assert pair.id not in [p.id for p in pairs_of(admin_app, mewah)]
    settle(admin_app)
