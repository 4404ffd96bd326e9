"""The public API: channel fixed server-side, optional keys, rate limits with Retry-After."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db import new_session
from bot.models import ApiKey
from bot.models import QueryLog

QUESTION = "Apa itu mode mewah?"


def channels(app) -> list[str]:  # noqa: ANN001
    with new_session(app) as session:
        return list(session.scalars(select(QueryLog.channel).order_by(QueryLog.id)))


def new_key(app, name: str = "website") -> str:  # noqa: ANN001
    result = app.test_cli_runner().invoke(args=["api-key", "create", name])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.mark.parametrize("spoofed", ["telegram", "admin-test", "x" * 500, 7])
def test_a_client_cannot_choose_the_logged_channel(app, client, spoofed):
    response = client.post("/api/chat", json={"message": QUESTION, "channel": spoofed})
    assert response.status_code == 200
    assert channels(app) == ["api"]


def test_an_api_key_is_shown_once_and_stored_hashed(app):
    key = new_key(app)
    assert key.startswith("fbk_") and len(key) > 40
    with new_session(app) as session:
        row = session.scalars(select(ApiKey)).one()
    assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    listing = app.test_cli_runner().invoke(args=["api-key", "list"]).output
    assert "website" in listing and row.prefix in listing and key not in listing
    duplicate = app.test_cli_runner().invoke(args=["api-key", "create", "website"])
    assert duplicate.exit_code == 1 and "exists already" in duplicate.output


def test_keys_are_optional_but_a_presented_key_must_be_valid(app, client):
    key = new_key(app)
    assert client.post("/api/chat", json={"message": QUESTION}).status_code == 200
    ok = client.post("/api/chat", json={"message": QUESTION}, headers={"X-API-Key": key})
    assert ok.status_code == 200
    wrong = client.post(
        "/api/chat", json={"message": QUESTION}, headers={"Authorization": "Bearer fbk_nope"}
    )
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.get_json()["error"]
    with new_session(app) as session:
        assert session.scalars(select(ApiKey)).one().last_used_at is not None


def test_with_require_key_only_valid_unrevoked_keys_get_answers(make_app):
    app = make_app(BOT_API_REQUIRE_KEY=True)
    client = app.test_client()
    key = new_key(app)
    refused = client.post("/api/chat", json={"message": QUESTION})
    assert refused.status_code == 401 and "API key is required" in refused.get_json()["error"]
    bearer = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/chat", json={"message": QUESTION}, headers=bearer).status_code == 200
    assert client.get("/healthz").status_code == 200  # health checks need no key
    revoked = app.test_cli_runner().invoke(args=["api-key", "revoke", "website"])
    assert revoked.exit_code == 0, revoked.output
    after = client.post("/api/chat", json={"message": QUESTION}, headers=bearer)
    assert after.status_code == 401
    assert channels(app) == ["api"]  # refused requests log nothing


def test_the_per_address_limit_answers_429_with_retry_after_in_json(make_app):
    app = make_app(BOT_API_RATE_LIMIT_IP="3 per minute")
    client = app.test_client()
    for _ in range(3):
        assert client.post("/api/chat", json={"message": QUESTION}).status_code == 200
    limited = client.post("/api/chat", json={"message": QUESTION})
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert "3 per 1 minute" in limited.get_json()["error"]
    assert len(channels(app)) == 3  # the refused one was never answered or logged
    assert client.get("/healthz").status_code == 200  # not limited
    other = client.post(
        "/api/chat", json={"message": QUESTION}, environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert other.status_code == 200  # another address has its own count


def test_the_per_key_limit_counts_each_key_on_its_own(make_app):
    app = make_app(BOT_API_RATE_LIMIT_KEY="2 per minute")
    client = app.test_client()
    first, second = new_key(app, "first"), new_key(app, "second")

    def ask(key: str, address: str) -> int:
        return client.post(
            "/api/chat",
            json={"message": QUESTION},
            headers={"X-API-Key": key},
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    assert [ask(first, f"192.0.2.{n}") for n in range(3)] == [200, 200, 429]  # any address
    assert ask(second, "192.0.2.1") == 200
