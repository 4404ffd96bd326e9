"""CSRF protection and session-cookie settings for the admin UI."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask import Response
from flask_wtf.csrf import CSRFProtect

from bot.config import parse_flag

csrf = CSRFProtect()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# No scripts at all; inline styles only for the dashboard's bar heights.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def secure_cookies(app: Flask) -> bool:
    """Secure cookies unless debugging or testing; BOT_SECURE_COOKIES=0/1 decides explicitly."""
    configured = parse_flag(app.config["BOT_SECURE_COOKIES"])
    return not (app.debug or app.testing) if configured is None else configured


def init_app(app: Flask) -> None:
    # Only the admin blueprint checks tokens (in its before_request): the JSON API and the
    # Telegram webhook are authenticated otherwise and must not need a form token.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    csrf.init_app(app)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies(app),
    )
    # the cookie's own expiry; bot.admin.auth enforces it (and the idle timeout) server-side
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config["ADMIN_SESSION_HOURS"])


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response
