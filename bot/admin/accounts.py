"""`flask admin list|disable|enable|delete USER`: manage admin accounts from the server."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from bot.admin.auth import find_admin
from bot.admin.auth import new_nonce
from bot.db import get_session
from bot.models import AdminUser


def _admin_or_exit(username: str) -> AdminUser:
    user = find_admin(get_session(), username)
    if user is None:
        click.echo(f"Error: no admin {username!r}", err=True)
        sys.exit(1)
    return user


@click.group("admin")
def admin_cli() -> None:
    """Admin accounts of the web UI (create them with `flask create-admin`)."""


@admin_cli.command("list")
@with_appcontext
def list_command() -> None:
    """Every admin, whether it may sign in, and its last sign-in."""
    for user in get_session().scalars(select(AdminUser).order_by(AdminUser.username)):
        state = "disabled" if user.disabled else "enabled"
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        click.echo(f"{user.username:<30} {state:<9} last sign-in: {last}")


@admin_cli.command("disable")
@with_appcontext
@click.argument("username")
def disable_command(username: str) -> None:
    """Refuse the admin's sign-ins and end its sessions at once."""
    user = _admin_or_exit(username)
    user.disabled = True
    user.session_nonce = new_nonce()
    get_session().commit()
    click.echo(f"Disabled admin {username!r}; its sessions are signed out.")


@admin_cli.command("enable")
@with_appcontext
@click.argument("username")
def enable_command(username: str) -> None:
    """Let a disabled admin sign in again (with its old password)."""
    user = _admin_or_exit(username)
    user.disabled = False
    get_session().commit()
    click.echo(f"Enabled admin {username!r}.")


@admin_cli.command("delete")
@with_appcontext
@click.argument("username")
def delete_command(username: str) -> None:
    """Remove the account; its sessions end with it."""
    session = get_session()
    session.delete(_admin_or_exit(username))
    session.commit()
    click.echo(f"Deleted admin {username!r}.")
