"""The API's handoff tickets and feedback: round trip, and every way a client can get it wrong."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db import new_session
from bot.handoff import record_answer
from bot.models import Handoff
from bot.models import QueryLog

QUESTION = "Apa itu mode mewah?"
UNKNOWN = "bisa pesan martabak lewat aplikasi ini?"


def ask(client, message: str = QUESTION, **kwargs):  # noqa: ANN001, ANN201
    response = client.post("/api/chat", json={"message": message}, **kwargs)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def log_of(app, query_id: int) -> QueryLog:  # noqa: ANN001
    with new_session(app) as session:
        return session.get(QueryLog, query_id)


def new_key(app, name: str) -> str:  # noqa: ANN001
    result = app.test_cli_runner().invoke(args=["api-key", "create", name])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_chat_returns_the_query_id_of_its_log_row(app, client):
    body = ask(client)
    logged = log_of(app, body["query_id"])
    assert (logged.text, logged.channel) == (QUESTION, "api")


def test_the_handoff_round_trip(make_app):
    app = make_app(BOT_THRESHOLD=1.5)  # nothing is answered: every message needs a person
    client = app.test_client()
    reply = ask(client, UNKNOWN)
    assert reply["fallback"] is True
    opened = client.post(
        "/api/handoff", json={"query_id": reply["query_id"], "contact": "sari@example.com"}
    )
    assert opened.status_code == 201
    ticket_id = opened.get_json()["ticket_id"]
    assert len(ticket_id) >= 32 and not ticket_id.isdigit()

    waiting = client.get(f"/api/handoff/{ticket_id}").get_json()
    assert (waiting["status"], waiting["answer"], waiting["message"]) == ("open", None, UNKNOWN)

    with new_session(app) as session:
        ticket = session.scalars(select(Handoff).where(Handoff.token == ticket_id)).one()
        assert (ticket.contact, ticket.channel, ticket.query_log_id) == (
            "sari@example.com",
            "api",
            reply["query_id"],
        )
        record_answer(ticket, "Belum bisa, kak. Fitur itu belum ada.", "rina")
        session.commit()
    answered = client.get(f"/api/handoff/{ticket_id}").get_json()
    assert answered["status"] == "answered"
    assert answered["answer"] == "Belum bisa, kak. Fitur itu belum ada."
    assert answered["answered_at"] is not None


def test_a_second_ticket_for_the_same_message_is_the_first(app, client):
    query_id = ask(client, UNKNOWN)["query_id"]
    first = client.post("/api/handoff", json={"query_id": query_id, "contact": "a"})
    again = client.post("/api/handoff", json={"query_id": query_id, "contact": "b"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["ticket_id"] == first.get_json()["ticket_id"]
    with new_session(app) as session:
        assert len(session.scalars(select(Handoff)).all()) == 1


def test_unknown_or_foreign_query_ids_are_404(app, client):
    with app.app_context():  # a message from another channel
        from bot.answering import answer

        telegram_id = answer(QUESTION, channel="telegram").query_id
    for query_id in (telegram_id, 999_999):
        for path, extra in (("/api/handoff", {"contact": "x"}), ("/api/feedback", {"helpful": 1})):
            response = client.post(path, json={"query_id": query_id, **extra})
            assert response.status_code == 404, (path, query_id)
            assert "no message with query_id" in response.get_json()["error"]
    with new_session(app) as session:
        assert session.scalars(select(Handoff)).all() == []
        assert session.get(QueryLog, telegram_id).helpful is None


def test_another_clients_messages_and_tickets_are_out_of_reach(app, client):
    mine, theirs = new_key(app, "mine"), new_key(app, "theirs")
    as_me = {"headers": {"X-API-Key": mine}}
    as_them = {"headers": {"X-API-Key": theirs}}
    query_id = ask(client, UNKNOWN, **as_me)["query_id"]
    for headers in (as_them, {}):  # another key, or no key at all
        ticket = {"query_id": query_id, "contact": "x"}
        assert client.post("/api/handoff", json=ticket, **headers).status_code == 404
        vote = {"query_id": query_id, "helpful": False}
        assert client.post("/api/feedback", json=vote, **headers).status_code == 404
    opened = client.post("/api/handoff", json={"query_id": query_id, "contact": "x"}, **as_me)
    assert opened.status_code == 201
    ticket_id = opened.get_json()["ticket_id"]
    guessed = ticket_id[:-1] + ("y" if ticket_id.endswith("x") else "x")  # one character off
    assert client.get(f"/api/handoff/{guessed}").status_code == 404
    # the token itself is the permission: whoever holds it may read the ticket
    assert client.get(f"/api/handoff/{ticket_id}", **as_them).status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"contact": "x"}, "'query_id' must be"),
        ({"query_id": "1", "contact": "x"}, "'query_id' must be"),
        ({"query_id": True, "contact": "x"}, "'query_id' must be"),
        ({"query_id": -1, "contact": "x"}, "'query_id' must be"),
        ({"query_id": 2**70, "contact": "x"}, "'query_id' must be"),
        ({"query_id": "OWN"}, "'contact' must be a string"),
        ({"query_id": "OWN", "contact": 5}, "'contact' must be a string"),
        ({"query_id": "OWN", "contact": "  "}, "'contact' must be 1-200"),
        ({"query_id": "OWN", "contact": "x" * 201}, "'contact' must be 1-200"),
        ({"query_id": "OWN", "contact": "a\x00b"}, "control character"),
    ],
)
def test_bad_handoff_bodies_are_400_and_open_nothing(app, client, body, reason):
    own = ask(client, UNKNOWN)["query_id"]
    body = {key: own if value == "OWN" else value for key, value in body.items()}
    response = client.post("/api/handoff", json=body)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]
    with new_session(app) as session:
        assert session.scalars(select(Handoff)).all() == []


@pytest.mark.parametrize("path", ["/api/handoff", "/api/feedback"])
def test_a_body_that_is_not_a_json_object_is_400(client, path):
    response = client.post(path, data="query_id=1", content_type="text/plain")
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]


@pytest.mark.parametrize("ticket_id", ["nope", "a" * 32, "a%00b", "x" * 65, "..%2F..%2Fetc"])
def test_unknown_or_malformed_ticket_ids_are_404_in_json(client, ticket_id):
    response = client.get(f"/api/handoff/{ticket_id}")
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_feedback_is_stored_on_the_message_and_the_last_word_counts(app, client):
    query_id = ask(client)["query_id"]
    for helpful in (True, False):
        response = client.post("/api/feedback", json={"query_id": query_id, "helpful": helpful})
        assert response.status_code == 200
        assert response.get_json() == {"query_id": query_id, "helpful": helpful}
        assert log_of(app, query_id).helpful is helpful
    assert log_of(app, query_id).feedback_at is not None


@pytest.mark.parametrize("helpful", [None, 1, "yes", "true", [True]])
def test_feedback_must_be_true_or_false(app, client, helpful):
    query_id = ask(client)["query_id"]
    body = {"query_id": query_id} | ({} if helpful is None else {"helpful": helpful})
    response = client.post("/api/feedback", json=body)
    assert response.status_code == 400
    assert "'helpful' must be true or false" in response.get_json()["error"]
    assert log_of(app, query_id).helpful is None
