"""FAQ editor: list, search, create, edit, (de)activate, delete; the bot follows at once."""

from __future__ import annotations

from admin_browser.support import post
from admin_browser.support import settle
from sqlalchemy import func
from sqlalchemy import select

from bot.db import new_session
from bot.models import AlternateQuestion
from bot.models import Faq
from bot.models import ModelVersion
from bot.models import TrainingPair

pytest_plugins = ["admin_browser.support"]

NEW = {
    "question": "Bisakah FinBuddy terhubung ke e-wallet?",
    "answer": "Bisa, lewat menu Integrasi.",
    "category": "fitur",
    "alternates": "Bisa konek ke e-wallet?\n\n  bisa   konek ke E-WALLET? \nFinBuddy support OVO?",
    "active": "y",
}


def faq_by_question(app, question):
    with new_session(app) as session:
        return session.scalars(select(Faq).where(Faq.question == question)).first()


def counts(app):
    with new_session(app) as session:
        return tuple(
            session.scalar(select(func.count(model.id)))
            for model in (Faq, AlternateQuestion, TrainingPair)
        )


def ask(app, text):
    return app.test_client().post("/api/chat", json={"message": text}).get_json()


def test_the_list_pages_through_all_faqs(admin):
    first = admin.get("/admin/faqs").get_data(as_text=True)
    assert "30 FAQs · page 1 of 2" in first
    assert "Apa itu FinBuddy?" in first
    second = admin.get("/admin/faqs?page=2").get_data(as_text=True)
    assert "page 2 of 2" in second
    assert admin.get("/admin/faqs?page=junk").status_code == 200


def test_search_and_category_filter(admin_app, admin):
    page = admin.get("/admin/faqs?q=mode+mewah").get_data(as_text=True)
    assert "Apa itu mode mewah?" in page and "Apa itu FinBuddy?" not in page
    by_alternate = admin.get("/admin/faqs?q=dibuka+gimana").get_data(as_text=True)
    assert "Bagaimana cara mengakses dashboard keuangan?" in by_alternate
    with new_session(admin_app) as session:
        category = session.scalars(select(Faq.category).where(Faq.category != "")).first()
        expected = session.scalar(select(func.count(Faq.id)).where(Faq.category == category))
    page = admin.get(f"/admin/faqs?category={category}").get_data(as_text=True)
    assert f"{expected} FAQs" in page


def test_creating_a_faq_answers_it_without_retraining(admin_app, admin):
    ask(admin_app, "halo")  # the API is serving v1 before the change
    response = post(admin, "/admin/faqs/new", NEW)
    assert response.status_code == 302
    faq = faq_by_question(admin_app, NEW["question"])
    assert faq is not None and faq.category == "fitur" and faq.active
    with new_session(admin_app) as session:
        alternates = session.scalars(
            select(AlternateQuestion.text).where(AlternateQuestion.faq_id == faq.id)
        ).all()
    assert alternates == ["Bisa konek ke e-wallet?", "FinBuddy support OVO?"]

    settle(admin_app)
    reply = ask(admin_app, "FinBuddy support OVO?")
    assert reply["faq_id"] == faq.id and reply["answer"] == NEW["answer"]
    with new_session(admin_app) as session:
        version = session.scalars(select(ModelVersion)).one()
        assert version.name == "v1" and version.index_revision >= 1  # re-indexed, not retrained

    page = admin.get(response.location).get_data(as_text=True)
    assert f"FAQ #{faq.id} created" in page
    assert "nearly identical" not in page


def test_a_near_duplicate_question_is_saved_with_a_warning(admin_app, admin):
    data = {**NEW, "question": "Apa itu mode mewah??", "alternates": ""}
    response = post(admin, "/admin/faqs/new", data, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "nearly identical to FAQ" in page and "Apa itu mode mewah?" in page
    assert faq_by_question(admin_app, "Apa itu mode mewah??") is not None


def test_bad_input_shows_errors_and_saves_nothing(admin_app, admin):
    before = counts(admin_app)
    cases = [
        ({**NEW, "answer": "   "}, "This field is required."),
        ({**NEW, "question": ""}, "This field is required."),
        ({**NEW, "question": "x" * 501}, "Field cannot be longer than 500 characters."),
        ({**NEW, "question": "apa itu   MODE MEWAH?"}, "already has this question"),
        (
            {**NEW, "alternates": "Bisa konek ke e-wallet?\nApa itu mode normal?"},
            "&#39;Apa itu mode normal?&#39; already belongs to FAQ",
        ),
        ({**NEW, "alternates": "y" * 501}, "at most 500 characters"),
    ]
    for data, message in cases:
        response = post(admin, "/admin/faqs/new", data)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, data
        assert message in page, (message, data)
        assert "Nothing was saved" in page
    assert counts(admin_app) == before


def test_editing_changes_answer_and_alternates_and_reindexes(admin_app, admin):
    faq = faq_by_question(admin_app, "Apa itu mode normal?")
    page = admin.get(f"/admin/faqs/{faq.id}").get_data(as_text=True)
    assert "Apa itu mode normal?" in page and "Training pairs" in page
    data = {
        "question": "Apa itu mode normal?",
        "answer": "Mode normal: jawaban baru.",
        "category": faq.category,
        "alternates": "mode normal itu apaan sih",
        "active": "y",
    }
    assert post(admin, f"/admin/faqs/{faq.id}", data).status_code == 302
    settle(admin_app)
    reply = ask(admin_app, "mode normal itu apaan sih")
    assert reply["faq_id"] == faq.id and reply["answer"] == "Mode normal: jawaban baru."


def test_a_failed_edit_leaves_the_faq_as_it_was(admin_app, admin):
    faq = faq_by_question(admin_app, "Apa itu mode normal?")
    data = {
        "question": "Apa itu mode mewah?",  # another FAQ's question
        "answer": "Diubah?",
        "alternates": "",
        "active": "y",
    }
    response = post(admin, f"/admin/faqs/{faq.id}", data)
    assert response.status_code == 422
    after = faq_by_question(admin_app, "Apa itu mode normal?")
    assert after is not None and after.answer == faq.answer


def test_deactivating_stops_answering_and_activating_brings_it_back(admin_app, admin):
    faq = faq_by_question(admin_app, "Apa itu mode mewah?")
    assert ask(admin_app, "Apa itu mode mewah?")["faq_id"] == faq.id
    assert post(admin, f"/admin/faqs/{faq.id}/toggle").status_code == 302
    settle(admin_app)
    assert not faq_by_question(admin_app, "Apa itu mode mewah?").active
    assert ask(admin_app, "Apa itu mode mewah?")["faq_id"] != faq.id
    listing = admin.get("/admin/faqs?status=inactive").get_data(as_text=True)
    assert "Apa itu mode mewah?" in listing and "1 FAQs" in listing

    post(admin, f"/admin/faqs/{faq.id}/toggle", {"next": "https://evil.example/"})
    settle(admin_app)
    assert ask(admin_app, "Apa itu mode mewah?")["faq_id"] == faq.id


def test_delete_asks_first_then_removes_pairs_and_alternates(admin_app, admin):
    faq = faq_by_question(admin_app, "Bagaimana cara mengakses dashboard keuangan?")
    confirm = admin.get(f"/admin/faqs/{faq.id}/delete").get_data(as_text=True)
    assert "Delete for good" in confirm
    assert faq_by_question(admin_app, faq.question) is not None
    assert post(admin, f"/admin/faqs/{faq.id}/delete").status_code == 302
    settle(admin_app)
    with new_session(admin_app) as session:
        assert session.get(Faq, faq.id) is None
        assert not session.scalars(select(AlternateQuestion).filter_by(faq_id=faq.id)).all()
        assert not session.scalars(select(TrainingPair).filter_by(faq_id=faq.id)).all()
    assert admin.get(f"/admin/faqs/{faq.id}").status_code == 404
    assert post(admin, f"/admin/faqs/{faq.id}/delete").status_code == 404
