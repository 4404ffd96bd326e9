from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db import new_session
from bot.models import Faq
from bot.models import QueryLog


def logged(app):
    with new_session(app) as session:
        return list(session.scalars(select(QueryLog).order_by(QueryLog.id)))


def test_chat_answers_with_the_nearest_faq_and_logs_it(app, client):
    response = client.post("/api/chat", json={"message": "Apa itu mode mewah?"})
    assert response.status_code == 200
    body = response.get_json()
    with new_session(app) as session:
        faq = session.scalars(select(Faq).where(Faq.question == "Apa itu mode mewah?")).one()
    assert body["faq_id"] == faq.id
    assert body["answer"] == faq.answer
    assert body["fallback"] is False
    assert body["score"] > 0.9
    assert body["model_version"] == "v1"
    [entry] = logged(app)
    assert (entry.text, entry.channel, entry.faq_id, entry.fallback) == (
        "Apa itu mode mewah?",
        "api",
        faq.id,
        False,
    )


def test_below_the_threshold_the_fallback_is_given_and_logged(make_app):
    app = make_app(BOT_THRESHOLD=1.5, BOT_FALLBACK_TEXT="Nanti dijawab admin.")
    response = app.test_client().post("/api/chat", json={"message": "Apa itu mode mewah?"})
    body = response.get_json()
    assert body == {
        "answer": "Nanti dijawab admin.",
        "faq_id": None,
        "question": None,
        "score": pytest.approx(body["score"]),
        "fallback": True,
        "model_version": "v1",
        "fallback_rule": "threshold",
        "query_id": logged(app)[0].id,
    }
    assert [(e.fallback, e.fallback_rule) for e in logged(app)] == [(True, "threshold")]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"data": "not json", "content_type": "application/json"}, "must be a JSON object"),
        ({"data": "message=hi", "content_type": "text/plain"}, "must be a JSON object"),
        ({"json": ["a", "list"]}, "not list"),
        ({"json": {"text": "hi"}}, "missing field 'message'"),
        ({"json": {"message": 42}}, "message must be a string"),
        ({"json": {"message": None}}, "message must be a string"),
        ({"json": {"message": "   \n "}}, "message is empty"),
        ({"json": {"message": "x" * 4001}}, "longer than 4000 characters"),
    ],
)
def test_bad_bodies_get_a_400_with_a_reason(app, client, kwargs, reason):
    response = client.post("/api/chat", **kwargs)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]
    assert logged(app) == []


def test_a_huge_body_is_refused_as_json_not_a_crash(client):
    response = client.post("/api/chat", json={"message": "a" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "error" in response.get_json()


def test_wrong_method_is_a_json_405(client):
    response = client.get("/api/chat")
    assert response.status_code == 405
    assert "error" in response.get_json()


def test_healthz_reports_the_active_model_version(client):
    client.post("/api/chat", json={"message": "halo"})
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["model_version"] == "v1"
    assert body["faqs"] == 30


def test_empty_database_answers_with_the_fallback(make_app):
    app = make_app(BOT_SEED_ON_EMPTY=False)
    client = app.test_client()
    body = client.post("/api/chat", json={"message": "Apa itu FinBuddy?"}).get_json()
    assert body["fallback"] is True and body["faq_id"] is None and body["score"] is None
    health = client.get("/healthz").get_json()
    assert health["faqs"] == 0 and health["model_version"] is None
    assert len(logged(app)) == 1


@pytest.mark.parametrize("change", ["delete", "deactivate"])
def test_a_faq_gone_since_indexing_is_never_answered(make_app, change):
    """The served index still holds the FAQ (nothing re-indexed): answer() must skip it."""
    app = make_app(BOT_THRESHOLD=-1.0)  # always answer, so the skip is what is seen
    client = app.test_client()
    asked = {"message": "Apa itu mode mewah?"}
    first = client.post("/api/chat", json=asked).get_json()
    assert first["fallback"] is False and first["question"] == "Apa itu mode mewah?"
    with new_session(app) as session:
        faq = session.get(Faq, first["faq_id"])
        if change == "delete":
            session.delete(faq)
        else:
            faq.active = False
        session.commit()
    response = client.post("/api/chat", json=asked)
    assert response.status_code == 200
    assert response.get_json()["faq_id"] not in (first["faq_id"], None)
