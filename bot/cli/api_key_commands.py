"""`flask api-key create|list|revoke`: keys for the public API."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from bot.api_keys import ApiKeyError
from bot.api_keys import create_key
from bot.api_keys import list_keys
from bot.api_keys import revoke_key
from bot.db import get_session


@click.group("api-key")
def api_key_cli() -> None:
    """Keys for /api/* (sent as `Authorization: Bearer KEY`); see BOT_API_REQUIRE_KEY."""


@api_key_cli.command("create")
@with_appcontext
@click.argument("name")
def create_command(name: str) -> None:
    """Make a key and print it once: only its hash is kept."""
    try:
        row, key = create_key(get_session(), name)
    except ApiKeyError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    click.echo(key)
    click.echo(f"Key {row.name!r} created. Store it now: it cannot be shown again.", err=True)


@api_key_cli.command("list")
@with_appcontext
def list_command() -> None:
    """Every key: name, first characters, created, last used, revoked."""
    for row in list_keys(get_session()):
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        click.echo(
            f"{row.name:<30} {row.prefix}…  created {row.created_at:%Y-%m-%d}  "
            f"last used {used}  {state}"
        )


@api_key_cli.command("revoke")
@with_appcontext
@click.argument("name")
def revoke_command(name: str) -> None:
    """Stop accepting the key at once (the row stays, for the record)."""
    try:
        revoke_key(get_session(), name)
    except ApiKeyError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"Key {name!r} revoked.")
