"""Admin accounts and sign-in: hashed passwords, session login, everything else behind it."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import abort
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

MIN_PASSWORD_CHARS = 8
PUBLIC_ENDPOINTS = frozenset({"admin.login"})
# Compared against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = generate_password_hash("not a real password")


class AdminAccountError(ValueError):
    """The account cannot be created or changed as asked; says why."""


def create_admin(session: Session, username: str, password: str, reset: bool = False) -> AdminUser:
    """Create an admin (or, with `reset`, set a new password); the caller need not commit."""
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise AdminAccountError("the username must be 1-100 characters without spaces")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AdminAccountError(f"the password must be at least {MIN_PASSWORD_CHARS} characters")
    user = session.scalars(select(AdminUser).where(AdminUser.username == username)).first()
    if user is not None and not reset:
        raise AdminAccountError(f"admin {username!r} exists already (use --reset to change it)")
    if user is None:
        user = AdminUser(username=username, password_hash="")
        session.add(user)
    user.password_hash = generate_password_hash(password)
    session.commit()
    return user


def authenticate(session: Session, username: str, password: str) -> AdminUser | None:
    user = session.scalars(select(AdminUser).where(AdminUser.username == username)).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def _session_key(user: AdminUser) -> str:
    """Changes with the password, so resetting a password signs out its old sessions."""
    return user.password_hash[-16:]


@click.command("create-admin")
@with_appcontext
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--reset", is_flag=True, help="Set a new password for an existing admin.")
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
    verb = "Password changed for" if reset else "Created"
    click.echo(f"{verb} admin {user.username!r}; sign in at /admin/login.")


@bp.before_request
def require_login() -> Any:
    """CSRF first for every change, then a signed-in admin for everything but the login page."""
    if request.method not in SAFE_METHODS:
        csrf.protect()
    g.admin = None
    user_id = cookie.get("admin_id")
    if user_id is not None:
        user = get_session().get(AdminUser, user_id)
        if user is not None and cookie.get("admin_key") == _session_key(user):
            g.admin = user
        else:
            cookie.clear()
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


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in; the session is cleared first so an old session id is never reused."""
    form = LoginForm()
    target = safe_next(request.args.get("next"), url_for("admin.dashboard"))
    if g.admin is not None and request.method == "GET":
        return redirect(target)
    if form.validate_on_submit():
        session = get_session()
        user = authenticate(session, form.username.data, form.password.data)
        if user is not None:
            cookie.clear()
            cookie.permanent = True
            cookie["admin_id"] = user.id
            cookie["admin_key"] = _session_key(user)
            user.last_login_at = utcnow()
            session.commit()
            return redirect(target)
        form.password.errors.append("Unknown username or wrong password.")
    status = 422 if form.errors else 200
    return render_template("admin/login.html", form=form), status


@bp.post("/logout")
def logout() -> Any:
    """Forget the signed-in admin (a POST: a link could sign people out from elsewhere)."""
    cookie.clear()
    flash("Signed out.", "info")
    return redirect(url_for("admin.login"))
