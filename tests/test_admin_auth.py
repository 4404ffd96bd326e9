"""Sign-in, the create-admin command, CSRF and cookie settings of the admin UI."""

from __future__ import annotations

import pytest
from admin_browser.support import PASSWORD
from admin_browser.support import USERNAME
from admin_browser.support import csrf_token
from admin_browser.support import login
from admin_browser.support import post
from admin_browser.support import token
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from werkzeug.security import check_password_hash

from bot.admin.security import secure_cookies
from bot.config import from_environment
from bot.db import new_session
from bot.models import AdminUser
from bot.models import Faq

pytest_plugins = ["admin_browser.support"]

PAGES = [
    "/admin/",
    "/admin/faqs",
    "/admin/faqs/new",
    "/admin/faqs/1",
    "/admin/faqs/1/delete",
    "/admin/pairs",
    "/admin/pairs/new",
    "/admin/pairs/1",
    "/admin/inbox",
    "/admin/test",
    "/admin/import",
    "/admin/export.csv",
    "/admin/retrain",
    "/admin/retrain/jobs/1.json",
]
ACTIONS = [
    "/admin/logout",
    "/admin/faqs/new",
    "/admin/faqs/1",
    "/admin/faqs/1/toggle",
    "/admin/faqs/1/delete",
    "/admin/pairs/new",
    "/admin/pairs/1",
    "/admin/pairs/1/approve",
    "/admin/pairs/1/delete",
    "/admin/inbox/attach",
    "/admin/inbox/ignore",
    "/admin/inbox/new-faq",
    "/admin/inbox/picks/1/approve",
    "/admin/inbox/picks/1/reject",
    "/admin/test",
    "/admin/import",
    "/admin/import/confirm",
    "/admin/retrain",
    "/admin/versions/1/activate",
]


def faq_count(app: Flask) -> int:
    with new_session(app) as session:
        return session.scalar(select(func.count(Faq.id)))


@pytest.mark.parametrize("url", PAGES)
def test_every_page_redirects_to_the_login_when_signed_out(visitor, url):
    response = visitor.get(url)
    assert response.status_code == 302
    assert response.location.startswith("/admin/login?next=")


@pytest.mark.parametrize("url", ACTIONS)
def test_every_action_is_refused_when_signed_out(admin_app, visitor, url):
    without_token = visitor.post(url, data={"question": "x"})
    assert without_token.status_code == 400  # no CSRF token
    with_token = visitor.post(url, data={"csrf_token": token(visitor, "/admin/login")})
    assert with_token.status_code == 401
    assert "Sign in first" in with_token.get_data(as_text=True)
    assert faq_count(admin_app) == 30


@pytest.mark.parametrize("url", ACTIONS)
def test_every_action_needs_the_csrf_token_when_signed_in(admin_app, admin, url):
    response = admin.post(url, data={"question": "Pertanyaan baru?", "answer": "Jawaban."})
    assert response.status_code == 400
    assert "CSRF token is missing" in response.get_data(as_text=True)
    forged = admin.post(url, data={"csrf_token": "forged", "question": "Pertanyaan baru?"})
    assert forged.status_code == 400
    assert faq_count(admin_app) == 30
    assert admin.get("/admin/").status_code == 200  # still signed in: logout was refused too


def test_login_with_a_wrong_password_shows_an_error(visitor):
    page = visitor.get("/admin/login").get_data(as_text=True)
    response = visitor.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page), "username": USERNAME, "password": "wrong"},
    )
    assert response.status_code == 422
    assert "Unknown username or wrong password." in response.get_data(as_text=True)
    assert visitor.get("/admin/").status_code == 302


def test_login_goes_back_to_the_page_asked_for_but_never_elsewhere(admin_app, visitor):
    page = visitor.get("/admin/login").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "username": USERNAME, "password": PASSWORD}
    response = visitor.post("/admin/login?next=/admin/inbox", data=data)
    assert response.location == "/admin/inbox"
    with new_session(admin_app) as session:
        assert session.scalars(select(AdminUser)).one().last_login_at is not None

    other = admin_app.test_client()
    page = other.get("/admin/login").get_data(as_text=True)
    data["csrf_token"] = csrf_token(page)
    response = other.post("/admin/login?next=https://evil.example/admin", data=data)
    assert response.location == "/admin/"


def test_logout_ends_the_session(admin):
    response = post(admin, "/admin/logout")
    assert response.status_code == 302
    assert admin.get("/admin/faqs").status_code == 302


def test_session_cookie_is_httponly_and_samesite_lax(visitor):
    page = visitor.get("/admin/login").get_data(as_text=True)
    response = visitor.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page), "username": USERNAME, "password": PASSWORD},
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # testing: plain http


def test_cookies_are_secure_unless_debugging_or_testing(monkeypatch):
    monkeypatch.delenv("BOT_SECURE_COOKIES", raising=False)
    app = Flask(__name__)
    app.config.update(from_environment("."))
    assert secure_cookies(app) is True
    app.testing = True
    assert secure_cookies(app) is False
    app.config["BOT_SECURE_COOKIES"] = "1"
    assert secure_cookies(app) is True
    monkeypatch.setenv("BOT_SECURE_COOKIES", "0")
    plain_http = Flask(__name__)
    plain_http.config.update(from_environment("."))
    assert secure_cookies(plain_http) is False


def test_admin_pages_forbid_framing_and_scripts(admin):
    headers = admin.get("/admin/").headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "script-src 'none'" in headers["Content-Security-Policy"]


def test_the_api_needs_no_csrf_token(visitor):
    response = visitor.post("/api/chat", json={"message": "Apa itu mode mewah?"})
    assert response.status_code == 200


def test_create_admin_reads_the_password_from_stdin(admin_app):
    runner = admin_app.test_cli_runner()
    result = runner.invoke(
        args=["create-admin", "siti", "--password-stdin"], input="s3cret-pass\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created admin 'siti'" in result.output
    with new_session(admin_app) as session:
        user = session.scalars(select(AdminUser).where(AdminUser.username == "siti")).one()
        assert user.password_hash != "s3cret-pass"
        assert check_password_hash(user.password_hash, "s3cret-pass")
    login(admin_app.test_client(), "siti", "s3cret-pass")


def test_create_admin_prompts_twice_for_the_password(admin_app):
    result = admin_app.test_cli_runner().invoke(
        args=["create-admin", "budi"], input="long-enough-1\nlong-enough-1\n"
    )
    assert result.exit_code == 0, result.output
    login(admin_app.test_client(), "budi", "long-enough-1")


@pytest.mark.parametrize(
    ("args", "password", "reason"),
    [
        (["create-admin", USERNAME], "another-password", "exists already"),
        (["create-admin", "short"], "1234567", "at least 8 characters"),
        (["create-admin", "two words"], "long-enough-1", "without spaces"),
    ],
)
def test_create_admin_refuses_bad_accounts(admin_app, args, password, reason):
    result = admin_app.test_cli_runner().invoke(
        args=[*args, "--password-stdin"], input=password + "\n"
    )
    assert result.exit_code == 1
    assert reason in result.output
    with new_session(admin_app) as session:
        assert session.scalar(select(func.count(AdminUser.id))) == 1


def test_resetting_a_password_signs_out_old_sessions(admin_app, admin):
    result = admin_app.test_cli_runner().invoke(
        args=["create-admin", USERNAME, "--reset", "--password-stdin"], input="brand-new-pass\n"
    )
    assert result.exit_code == 0, result.output
    assert "Password changed" in result.output
    assert admin.get("/admin/").status_code == 302
    login(admin, USERNAME, "brand-new-pass")
