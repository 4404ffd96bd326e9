"""Admin sessions end server-side (timeouts, logout, reset, disable) and sign-in is throttled."""

from __future__ import annotations

import logging
import time

import pytest
from admin_browser.support import PASSWORD
from admin_browser.support import USERNAME
from admin_browser.support import csrf_token
from admin_browser.support import login
from admin_browser.support import post
from sqlalchemy import select

from bot.db import new_session
from bot.models import AdminUser

pytest_plugins = ["admin_browser.support"]


def signed_in(client) -> bool:  # noqa: ANN001
    return client.get("/admin/faqs").status_code == 200


def session_cookie(client) -> str:  # noqa: ANN001
    return client.get_cookie("session").value


def attempt(client, username: str, password: str):  # noqa: ANN001, ANN201
    page = client.get("/admin/login").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "username": username, "password": password}
    return client.post("/admin/login", data=data)


def test_the_default_lifetime_is_twelve_hours_not_flasks_month(admin_app):
    assert admin_app.permanent_session_lifetime.total_seconds() == 12 * 3600


def test_a_session_ends_after_its_absolute_lifetime_even_when_busy(make_admin_app):
    app = make_admin_app(ADMIN_SESSION_HOURS=3 / 3600)
    client = app.test_client()
    login(client)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # active all along: the idle timeout never fires
        assert signed_in(client)
        time.sleep(0.2)
    time.sleep(1.2)
    response = client.get("/admin/faqs")
    assert response.status_code == 302 and "/admin/login" in response.location


def test_an_idle_session_ends(make_admin_app):
    app = make_admin_app(ADMIN_IDLE_MINUTES=1 / 60)
    client = app.test_client()
    login(client)
    assert signed_in(client)
    time.sleep(1.2)
    assert not signed_in(client)


def test_logout_revokes_the_session_server_side(admin_app, admin):
    stolen = session_cookie(admin)
    other_device = admin_app.test_client()
    login(other_device)
    post(admin, "/admin/logout")
    thief = admin_app.test_client()
    thief.set_cookie("session", stolen)
    assert not signed_in(thief)  # the old cookie is still validly signed, yet refused
    assert not signed_in(other_device)  # logout signs this admin out everywhere


def test_resetting_the_password_revokes_sessions(admin_app, admin):
    stolen = session_cookie(admin)
    result = admin_app.test_cli_runner().invoke(
        args=["create-admin", USERNAME, "--reset", "--password-stdin"], input="brand-new-pass\n"
    )
    assert "sessions signed out" in result.output
    thief = admin_app.test_client()
    thief.set_cookie("session", stolen)
    assert not signed_in(thief)


def test_disable_enable_and_delete_an_admin(admin_app, admin):
    runner = admin_app.test_cli_runner()
    stolen = session_cookie(admin)
    result = runner.invoke(args=["admin", "disable", USERNAME])
    assert result.exit_code == 0, result.output
    assert not signed_in(admin)
    refused = attempt(admin_app.test_client(), USERNAME, PASSWORD)
    assert refused.status_code == 422  # the right password, but the account is off
    assert "disabled" in runner.invoke(args=["admin", "list"]).output

    assert runner.invoke(args=["admin", "enable", USERNAME]).exit_code == 0
    thief = admin_app.test_client()
    thief.set_cookie("session", stolen)
    assert not signed_in(thief)  # enabling again does not revive the sessions it ended
    login(admin_app.test_client())

    assert runner.invoke(args=["admin", "delete", USERNAME]).exit_code == 0
    with new_session(admin_app) as session:
        assert session.scalars(select(AdminUser)).all() == []
    missing = runner.invoke(args=["admin", "disable", "nobody"])
    assert missing.exit_code == 1 and "no admin 'nobody'" in missing.output


def test_failed_sign_ins_are_throttled_per_username_before_any_hash(make_admin_app, monkeypatch):
    app = make_admin_app(ADMIN_LOGIN_LIMIT_USER="3 per minute")
    hashes = []
    real = __import__("werkzeug.security", fromlist=["check_password_hash"]).check_password_hash
    monkeypatch.setattr(
        "bot.admin.auth.check_password_hash", lambda *a: hashes.append(1) or real(*a)
    )
    for number in range(3):  # from three different clients: still one username
        assert attempt(app.test_client(), USERNAME, f"wrong-{number}").status_code == 422
    assert len(hashes) == 3
    throttled = attempt(app.test_client(), USERNAME, PASSWORD)
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in throttled.get_data(as_text=True)
    assert len(hashes) == 3  # the throttled attempt cost no password hash
    assert attempt(app.test_client(), "someone-else", "wrong").status_code == 422


def test_failed_sign_ins_are_throttled_per_address(make_admin_app):
    app = make_admin_app(ADMIN_LOGIN_LIMIT_IP="2 per minute")
    client = app.test_client()
    assert attempt(client, "alice", "wrong").status_code == 422
    assert attempt(client, "bob", "wrong").status_code == 422
    assert attempt(client, "carol", "wrong").status_code == 429


def test_successful_sign_ins_do_not_count(make_admin_app):
    app = make_admin_app(
        ADMIN_LOGIN_LIMIT_IP="2 per minute", ADMIN_LOGIN_LIMIT_USER="2 per minute"
    )
    for _ in range(4):
        assert attempt(app.test_client(), USERNAME, PASSWORD).status_code == 302


def test_failed_sign_ins_are_logged_without_the_password(visitor, caplog):
    with caplog.at_level(logging.INFO, logger="bot.admin.auth"):
        attempt(visitor, "mallory", "hunter2-secret")
        attempt(visitor, USERNAME, PASSWORD)
    assert "sign-in failed for username 'mallory' from 127.0.0.1" in caplog.text
    assert f"admin '{USERNAME}' signed in from 127.0.0.1" in caplog.text
    assert "hunter2-secret" not in caplog.text and PASSWORD not in caplog.text


@pytest.mark.parametrize(
    "query",
    ["_method=DELETE", "_external=1&page=2", "_anchor=x&_scheme=javascript", "page=x&q=%00"],
)
def test_odd_query_arguments_never_break_a_paged_list(admin, query):
    response = admin.get(f"/admin/faqs?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "javascript:" not in page and "http://localhost/admin" not in page


def test_the_address_comes_from_the_proxy_only_when_configured(make_admin_app, caplog):
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    with caplog.at_level(logging.WARNING, logger="bot.admin.auth"):
        direct = make_admin_app().test_client()
        page = direct.get("/admin/login").get_data(as_text=True)
        direct.post(
            "/admin/login",
            data={"csrf_token": csrf_token(page), "username": "x", "password": "y"},
            headers=forwarded,
        )
        proxied = make_admin_app(BOT_TRUSTED_PROXIES=1).test_client()
        page = proxied.get("/admin/login").get_data(as_text=True)
        proxied.post(
            "/admin/login",
            data={"csrf_token": csrf_token(page), "username": "z", "password": "y"},
            headers=forwarded,
        )
    assert "username 'x' from 127.0.0.1" in caplog.text  # a client cannot pick its address
    assert "username 'z' from 203.0.113.9" in caplog.text
