"""The Telegram channel: webhook view, polling, CLI; replies come from the shared answer()."""

from __future__ import annotations

import logging

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the webhook and `flask telegram`; nothing talks to Telegram until needed."""
    from bot.telegram import cli
    from bot.telegram import webhook
    from bot.telegram.runtime import TelegramRuntime

    # httpx logs every request URL at INFO, and Bot API URLs contain the bot token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app.extensions["telegram"] = TelegramRuntime(app)
    app.register_blueprint(webhook.bp)
    app.cli.add_command(cli.telegram_cli)
