"""`flask telegram ...`: register the webhook, inspect it, or poll for development."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from collections.abc import Callable
from typing import TypeVar

import click
from flask import Flask
from flask.cli import ScriptInfo
from flask.cli import pass_script_info
from telegram import Bot
from telegram import WebhookInfo
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from bot.telegram.application import ALLOWED_UPDATES
from bot.telegram.application import TelegramNotConfigured
from bot.telegram.application import bot_token
from bot.telegram.polling import poll

T = TypeVar("T")
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token


async def _with_bot(app: Flask, action: Callable[[Bot], Awaitable[T]]) -> T:
    timeout = float(app.config["TELEGRAM_TIMEOUT"])
    request = HTTPXRequest(connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)
    bot = Bot(bot_token(app), base_url=app.config["TELEGRAM_API_URL"], request=request)
    async with bot:  # initialize() calls getMe, which also checks the token
        return await action(bot)


def webhook_secret(app: Flask) -> str:
    secret = app.config.get("TELEGRAM_WEBHOOK_SECRET")
    if not secret:
        raise TelegramNotConfigured(
            "TELEGRAM_WEBHOOK_SECRET is not set; the webhook refuses every request without it"
        )
    if not SECRET_PATTERN.fullmatch(secret):
        raise TelegramNotConfigured(
            "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
        )
    return str(secret)


def set_webhook(app: Flask, url: str, drop_pending_updates: bool = False) -> bool:
    """Tell Telegram to POST updates to `url`, with our secret token in a header."""
    secret = webhook_secret(app)
    return asyncio.run(
        _with_bot(
            app,
            lambda bot: bot.set_webhook(
                url=url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=drop_pending_updates,
            ),
        )
    )


def delete_webhook(app: Flask, drop_pending_updates: bool = False) -> bool:
    return asyncio.run(
        _with_bot(app, lambda bot: bot.delete_webhook(drop_pending_updates=drop_pending_updates))
    )


def webhook_info(app: Flask) -> WebhookInfo:
    return asyncio.run(_with_bot(app, lambda bot: bot.get_webhook_info()))


def describe(info: WebhookInfo) -> list[str]:
    """getWebhookInfo as aligned lines for people."""
    error = "none"
    if info.last_error_date is not None:
        error = f"{info.last_error_date:%Y-%m-%d %H:%M:%S %Z} {info.last_error_message or ''}"
    allowed = ", ".join(info.allowed_updates) if info.allowed_updates else "all (Telegram default)"
    rows = [
        ("URL", info.url or "(none: updates wait for getUpdates / polling)"),
        ("Pending updates", str(info.pending_update_count)),
        ("Allowed updates", allowed),
        ("Max connections", str(info.max_connections or "-")),
        ("IP address", info.ip_address or "-"),
        ("Custom certificate", "yes" if info.has_custom_certificate else "no"),
        ("Last error", error.strip()),
    ]
    return [f"{label + ':':<20} {value}" for label, value in rows]


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except TelegramNotConfigured as exc:
        raise click.ClickException(str(exc)) from exc
    except TelegramError as exc:
        raise click.ClickException(f"the Bot API refused: {exc}") from exc


@click.group("telegram")
def telegram_cli() -> None:
    """Connect the bot to Telegram (webhook or polling)."""


@telegram_cli.command("set-webhook")
@click.argument("url")
@click.option("--drop-pending-updates", is_flag=True, help="Discard updates waiting at Telegram.")
@pass_script_info
def set_webhook_command(script: ScriptInfo, url: str, drop_pending_updates: bool) -> None:
    """Register URL (ending in /telegram/webhook) with Telegram, with the secret token."""
    if not url.startswith("https://"):
        click.echo("Warning: Telegram only delivers webhooks to https:// URLs.", err=True)
    app = script.load_app()
    _run(lambda: set_webhook(app, url, drop_pending_updates))
    click.echo(f"Webhook set to {url} (secret token sent; updates: {', '.join(ALLOWED_UPDATES)}).")


@telegram_cli.command("delete-webhook")
@click.option("--drop-pending-updates", is_flag=True, help="Discard updates waiting at Telegram.")
@pass_script_info
def delete_webhook_command(script: ScriptInfo, drop_pending_updates: bool) -> None:
    """Stop webhook delivery (needed before polling elsewhere)."""
    app = script.load_app()
    _run(lambda: delete_webhook(app, drop_pending_updates))
    click.echo("Webhook deleted.")


@telegram_cli.command("info")
@pass_script_info
def info_command(script: ScriptInfo) -> None:
    """Show what Telegram knows about our webhook (getWebhookInfo)."""
    app = script.load_app()
    for line in describe(_run(lambda: webhook_info(app))):
        click.echo(line)


@telegram_cli.command("poll")
@click.option("--max-updates", type=int, default=0, help="Stop after N updates (0: Ctrl-C).")
@click.option("--timeout", "poll_timeout", type=int, default=30, help="Long-poll seconds.")
@click.option("--drop-pending-updates", is_flag=True, help="Discard updates waiting at Telegram.")
@pass_script_info
def poll_command(
    script: ScriptInfo, max_updates: int, poll_timeout: int, drop_pending_updates: bool
) -> None:
    """Fetch updates with getUpdates instead of a webhook (for development; deletes it)."""
    app = script.load_app()
    click.echo("Polling Telegram for updates (Ctrl-C to stop)...")
    try:
        count = _run(
            lambda: asyncio.run(poll(app, max_updates, poll_timeout, drop_pending_updates))
        )
    except KeyboardInterrupt:
        click.echo("Stopped.")
        return
    click.echo(f"Stopped after {count} updates.")
