"""Admin accounts and sign-in: hashed passwords, session login, everything else behind it."""

from __future__ import annotations

import hmac
import logging
import secrets
import sys
import time
from typing import Any

import click
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session as cookie
from flask import url_for
from flask.cli import with_appcontext
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from bot.admin import bp
from bot.admin.common import safe_next
from bot.admin.forms import LoginForm
from bot.admin.security import SAFE_METHODS
from bot.admin.security import add_security_headers
from bot.admin.security import csrf
from bot.db import get_session
from bot.models import AdminUser
from bot.models import utcnow
from bot.throttling import client_address
from bot.throttling import configured
from bot.throttling import limiter

logger = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 8
FAILED_STATUS = 422  # a sign-in that failed; only these count against the throttle
PUBLIC_ENDPOINTS = frozenset({"admin.login"})
# Compared against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = generate_password_hash("not a real password")


class AdminAccountError(ValueError):
    """The account cannot be created or changed as asked; says why."""


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def create_admin(session: Session, username: str, password: str, reset: bool = False) -> AdminUser:
    """Create an admin (or, with `reset`, set a new password and end its sessions)."""
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise AdminAccountError("the username must be 1-100 characters without spaces")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AdminAccountError(f"the password must be at least {MIN_PASSWORD_CHARS} characters")
    user = find_admin(session, username)
    if user is not None and not reset:
        raise AdminAccountError(f"admin {username!r} exists already (use --reset to change it)")
    if user is None:
        user = AdminUser(username=username, password_hash="")
        session.add(user)
    user.password_hash = generate_password_hash(password)
    user.session_nonce = new_nonce()
    session.commit()
    return user


def find_admin(session: Session, username: str) -> AdminUser | None:
    return session.scalars(select(AdminUser).where(AdminUser.username == username)).first()


def authenticate(session: Session, username: str, password: str) -> AdminUser | None:
    """The admin, if enabled and the password is right; every failure costs one hash alike."""
    user = find_admin(session, username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or user.disabled:
        return None
    return user


def _session_admin(session: Session) -> AdminUser | None:
    """The admin this cookie signs in, if the server still honours it.

    The cookie must carry the admin's current nonce (logout, a password reset or disabling
    the account replace it) and be younger than ADMIN_SESSION_HOURS since sign-in and
    ADMIN_IDLE_MINUTES since the last page.
    """
    user_id = cookie.get("admin_id")
    if user_id is None:
        return None
    user = session.get(AdminUser, user_id) if isinstance(user_id, int) else None
    now = time.time()
    config = current_app.config
    nonce = cookie.get("admin_nonce")
    honoured = (
        user is not None
        and not user.disabled
        and bool(user.session_nonce)
        and isinstance(nonce, str)
        and hmac.compare_digest(nonce, user.session_nonce or "")
        and now - _number(cookie.get("signed_in_at")) < config["ADMIN_SESSION_HOURS"] * 3600
        and now - _number(cookie.get("seen_at")) < config["ADMIN_IDLE_MINUTES"] * 60
    )
    if not honoured:
        cookie.clear()
        return None
    cookie["seen_at"] = round(now, 3)
    return user


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


@click.command("create-admin")
@with_appcontext
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--reset", is_flag=True, help="Set a new password and sign out its sessions.")
def create_admin_command(username: str, password_stdin: bool, reset: bool) -> None:
    """Create an admin account for the web UI at /admin (the password is prompted for)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_admin(get_session(), username, password, reset=reset)
    except AdminAccountError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    verb = "Password changed (sessions signed out) for" if reset else "Created"
    click.echo(f"{verb} admin {user.username!r}; sign in at /admin/login.")


@bp.before_request
def require_login() -> Any:
    """CSRF first for every change, then a signed-in admin for everything but the login page."""
    if request.method not in SAFE_METHODS:
        csrf.protect()
    g.admin = _session_admin(get_session())
    if g.admin is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if request.method in SAFE_METHODS:
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        abort(401)
    return None


@bp.after_request
def security_headers(response: Any) -> Any:
    return add_security_headers(response)


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> Any:
    message = f"{exc.description} Go back, reload the page and try again."
    return render_template("admin/error.html", title="Form expired", message=message), 400


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge) -> Any:
    message = "Uploads are limited to 1 MiB. Split the file and import it in parts."
    return render_template("admin/error.html", title="File too large", message=message), 413


@bp.errorhandler(404)
def not_found(exc: Exception) -> Any:
    title = getattr(exc, "description", None) or "Not found"
    return render_template("admin/error.html", title=title, message=""), 404


@bp.errorhandler(401)
def unauthorised(_exc: Exception) -> Any:
    message = "You are not signed in (or your session ended). Sign in and repeat the change."
    return render_template("admin/error.html", title="Sign in first", message=message), 401


@bp.errorhandler(429)
def too_many_attempts(_exc: Exception) -> Any:
    breached = limiter.current_limit
    wait = max(1, int(breached.reset_at - time.time())) if breached else 60
    message = f"Too many failed sign-in attempts. Try again in {wait} seconds."
    return render_template("admin/error.html", title="Slow down", message=message), 429


def _failed(response: Any) -> bool:
    return response.status_code == FAILED_STATUS


def _attempted_username() -> str:
    """Throttle key for sign-ins: the username as typed, case and spacing ignored."""
    return "user:" + " ".join(request.form.get("username", "").split()).casefold()[:100]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(configured("ADMIN_LOGIN_LIMIT_IP"), methods=["POST"], deduct_when=_failed)
@limiter.limit(
    configured("ADMIN_LOGIN_LIMIT_USER"),
    key_func=_attempted_username,
    methods=["POST"],
    deduct_when=_failed,
)
def login() -> Any:
    """Sign in; only failures count against the per-address and per-username limits."""
    form = LoginForm()
    target = safe_next(request.args.get("next"), url_for("admin.dashboard"))
    if g.admin is not None and request.method == "GET":
        return redirect(target)
    if form.validate_on_submit():
        session = get_session()
        user = authenticate(session, form.username.data, form.password.data)
        if user is not None:
            cookie.clear()  # a fresh cookie: nothing from before sign-in carries over
            cookie.permanent = True
            if not user.session_nonce:
                user.session_nonce = new_nonce()
            now = round(time.time(), 3)
            cookie.update(
                admin_id=user.id, admin_nonce=user.session_nonce, signed_in_at=now, seen_at=now
            )
            user.last_login_at = utcnow()
            session.commit()
            logger.info("admin %r signed in from %s", user.username, client_address())
            return redirect(target)
        logger.warning(
            "admin sign-in failed for username %r from %s",
            (form.username.data or "")[:100],
            client_address(),
        )
        form.password.errors.append("Unknown username or wrong password.")
    status = FAILED_STATUS if form.errors else 200
    return render_template("admin/login.html", form=form), status


@bp.post("/logout")
def logout() -> Any:
    """Sign out everywhere: a new nonce ends every session of this admin, server-side."""
    g.admin.session_nonce = new_nonce()
    get_session().commit()
    cookie.clear()
    flash("Signed out.", "info")
    return redirect(url_for("admin.login"))
