"""`flask telegram ...` against the fake Bot API: webhook registration, info, polling."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from fake_bot_api import FakeBotApi
from sqlalchemy import select
from telegram_updates import message

from bot.db import new_session
from bot.models import Faq
from bot.models import QueryLog
from bot.models import TelegramOutbox

TOKEN = "654321:CLI-token"
SECRET = "cli_Secret-123"
HOOK = "https://faq.example.org/telegram/webhook"


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server


@pytest.fixture
def telegram_app(make_app, fake):  # noqa: ANN001, ANN201
    return make_app(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_URL=fake.base_url,
        TELEGRAM_TIMEOUT=5.0,
    )


def invoke(app, *args: str):  # noqa: ANN001, ANN201
    return app.test_cli_runner().invoke(args=["telegram", *args])


def test_set_webhook_sends_the_secret_and_the_update_types(telegram_app, fake):
    result = invoke(telegram_app, "set-webhook", HOOK, "--drop-pending-updates")
    assert result.exit_code == 0, result.output
    assert f"Webhook set to {HOOK}" in result.output
    [call] = fake.calls_to("setWebhook")
    assert call.token == TOKEN
    assert call.params["url"] == HOOK
    assert call.params["secret_token"] == SECRET
    assert call.json("allowed_updates") == ["message", "edited_message", "callback_query"]
    assert call.json("drop_pending_updates") is True


def test_info_prints_the_webhook_readably(telegram_app, fake):
    invoke(telegram_app, "set-webhook", HOOK)
    result = invoke(telegram_app, "info")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"URL:                 {HOOK}" in lines
    assert "Pending updates:     0" in lines
    assert "Allowed updates:     message, edited_message, callback_query" in lines
    assert "Last error:          none" in lines
    assert fake.calls_to("getWebhookInfo")


def test_delete_webhook_then_info_shows_none(telegram_app, fake):
    invoke(telegram_app, "set-webhook", HOOK)
    result = invoke(telegram_app, "delete-webhook", "--drop-pending-updates")
    assert result.exit_code == 0 and "Webhook deleted." in result.output
    assert fake.calls_to("deleteWebhook")[0].json("drop_pending_updates") is True
    assert "(none" in invoke(telegram_app, "info").output


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"TELEGRAM_WEBHOOK_SECRET": None}, "TELEGRAM_WEBHOOK_SECRET is not set"),
        ({"TELEGRAM_WEBHOOK_SECRET": "has spaces!"}, "A-Z, a-z, 0-9, _ and -"),
        ({"TELEGRAM_BOT_TOKEN": None}, "TELEGRAM_BOT_TOKEN is not set"),
    ],
)
def test_set_webhook_refuses_a_missing_or_invalid_setting(telegram_app, fake, config, reason):
    telegram_app.config.update(config)
    result = invoke(telegram_app, "set-webhook", HOOK)
    assert result.exit_code == 1
    assert reason in result.output
    assert fake.calls_to("setWebhook") == []


def test_a_bot_api_error_is_reported_not_raised(telegram_app, fake):
    fake.fail("getWebhookInfo", status=500)
    result = invoke(telegram_app, "info")
    assert result.exit_code == 1
    assert "the Bot API refused" in result.output


def test_plain_http_url_gets_a_warning(telegram_app, fake):
    result = invoke(telegram_app, "set-webhook", "http://insecure.example.org/telegram/webhook")
    assert result.exit_code == 0
    assert "https://" in result.output


def test_poll_answers_an_update_from_get_updates(telegram_app, fake):
    with new_session(telegram_app) as session:
        faq = session.scalars(select(Faq).where(Faq.question == "Apa itu mode mewah?")).one()
    fake.queue_update(message(7001, "Apa itu mode mewah?"))
    result = invoke(telegram_app, "poll", "--max-updates", "1", "--timeout", "1")
    assert result.exit_code == 0, result.output
    assert "Stopped after 1 updates." in result.output
    [sent] = fake.sent_messages(7001)
    assert sent.params["text"] == faq.answer
    assert fake.calls_to("deleteWebhook")  # PTB makes sure no webhook competes
    offsets = [int(call.params.get("offset", 0)) for call in fake.calls_to("getUpdates")]
    assert max(offsets) > 0  # the processed update was confirmed
    with new_session(telegram_app) as session:
        [log] = session.scalars(select(QueryLog).where(QueryLog.channel == "telegram"))
    assert log.faq_id == faq.id


def test_poll_skips_an_update_it_has_seen(telegram_app, fake):
    update = message(7002, "Apa itu mode mewah?")
    fake.queue_update(update)
    fake.queue_update(json.loads(json.dumps(update)) | {"update_id": update["update_id"]})
    fake.queue_update(message(7003, "/help"))
    result = invoke(telegram_app, "poll", "--max-updates", "2", "--timeout", "1")
    assert result.exit_code == 0, result.output
    assert len(fake.sent_messages(7002)) == 1
    assert len(fake.sent_messages(7003)) == 1


def retried_rows(app) -> list[TelegramOutbox]:  # noqa: ANN001
    with new_session(app) as session:
        return list(session.scalars(select(TelegramOutbox).where(TelegramOutbox.status == "sent")))


def test_poll_retries_a_reply_the_bot_api_did_not_take(make_app, fake):
    app = make_app(
        TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=fake.base_url, TELEGRAM_RETRY_SECONDS=0.05
    )
    fake.fail("sendMessage", status=502, times=1)
    fake.queue_update(message(7004, "Apa itu mode mewah?"))

    def stop_once_retried() -> None:
        """The last update arrives once the failed reply went out (or after 30 s)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not retried_rows(app):
            time.sleep(0.05)
        fake.queue_update(message(7005, "/help"))

    later = threading.Thread(target=stop_once_retried)
    later.start()  # poll keeps running meanwhile, and retries the failed reply
    result = invoke(app, "poll", "--max-updates", "2", "--timeout", "1")
    later.join()
    assert result.exit_code == 0, result.output
    first, retried = fake.sent_messages(7004)
    assert first.params == retried.params
    with new_session(app) as session:
        [row] = session.scalars(select(TelegramOutbox))
        [log] = session.scalars(select(QueryLog).where(QueryLog.channel == "telegram"))
    assert (row.status, row.attempts, log.delivery) == ("sent", 2, "sent")
