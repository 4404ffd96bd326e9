"""Rate limits (Flask-Limiter) for the public API and for admin sign-in attempts.

Counts live in BOT_RATE_LIMIT_STORAGE: in memory by default (each worker process counts
on its own), a `redis://` URL when several processes or hosts serve. A refused request
gets 429 with Retry-After; the view behind it never runs, so it costs no work.
"""

from __future__ import annotations

from flask import Flask
from flask import current_app
from flask import request
from flask_limiter import Limiter
from werkzeug.middleware.proxy_fix import ProxyFix


def client_address() -> str:
    """The peer's address; behind BOT_TRUSTED_PROXIES proxies, the one they forwarded."""
    return request.remote_addr or "unknown"


limiter = Limiter(key_func=client_address, headers_enabled=True, strategy="fixed-window")


def configured(name: str):  # noqa: ANN201
    """A limit string read from the app config when a request is checked."""
    return lambda: current_app.config[name]


def init_app(app: Flask) -> None:
    """Bind the limiter with this app's storage; trust X-Forwarded-For only when told to."""
    app.config["RATELIMIT_ENABLED"] = app.config.get("RATELIMIT_ENABLED", True)
    app.config["RATELIMIT_STORAGE_URI"] = app.config["BOT_RATE_LIMIT_STORAGE"]
    app.config["RATELIMIT_KEY_PREFIX"] = "faq-bot"
    limiter.init_app(app)
    proxies = int(app.config["BOT_TRUSTED_PROXIES"])
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
