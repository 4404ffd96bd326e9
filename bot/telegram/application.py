"""Build the python-telegram-bot Application that both webhook and polling feed."""

from __future__ import annotations

from flask import Flask
from telegram.ext import Application

from bot.telegram.handlers import register
from bot.telegram.service import FaqBackend
from bot.telegram.support import support_handlers

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


class TelegramNotConfigured(RuntimeError):
    """TELEGRAM_BOT_TOKEN (or, for the webhook, TELEGRAM_WEBHOOK_SECRET) is missing."""


def bot_token(app: Flask) -> str:
    token = app.config.get("TELEGRAM_BOT_TOKEN")
    if not token:
        raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")
    return str(token)


def build_application(app: Flask, polling: bool = False) -> Application:
    """An Application on TELEGRAM_API_URL; without an Updater unless it polls itself."""
    timeout = float(app.config["TELEGRAM_TIMEOUT"])
    builder = (
        Application.builder()
        .token(bot_token(app))
        .base_url(app.config["TELEGRAM_API_URL"])
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout)
        .pool_timeout(timeout)
    )
    if polling:
        # getUpdates adds its long-poll time to this read timeout itself
        builder = builder.get_updates_connect_timeout(timeout).get_updates_read_timeout(timeout)
    else:
        builder = builder.updater(None)  # our Flask view receives the updates
    application = builder.build()
    faq = FaqBackend(app)
    register(application, faq, first=support_handlers(faq.desk))
    return application
