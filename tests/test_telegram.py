"""The Telegram webhook end to end: real Flask app, real PTB, a fake Bot API over HTTP."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fake_bot_api import BOT_ID
from fake_bot_api import BOT_USERNAME
from fake_bot_api import FakeBotApi
from harness import app_config
from harness import close_app
from sqlalchemy import func
from sqlalchemy import select
from telegram_updates import bot_message
from telegram_updates import callback_query
from telegram_updates import message

from bot import create_app
from bot.answering import fallback_text
from bot.db import new_session
from bot.models import Faq
from bot.models import OutOfScopeExample
from bot.models import QueryLog
from bot.models import TelegramOutbox
from bot.models import TrainingPair
from bot.serving import serving
from bot.telegram import texts
from bot.telegram.formatting import split_message
from bot.telegram.runtime import TelegramRuntime

TOKEN = "123456:TEST-token"
SECRET = "s3cret_Token-ok"
QUESTION = "Apa itu mode mewah?"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server


def telegram_app(tmp_path_factory, tiny_bert, fake, databases, **config: Any):  # noqa: ANN001, ANN201
    """An app talking to the fake Bot API, on a database of its own."""
    instance = tmp_path_factory.mktemp("telegram") / "instance"
    database_url = databases.create() if databases is not None else None
    return create_app(
        {
            **app_config(instance, tiny_bert, database_url),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_URL": fake.base_url,
            "TELEGRAM_TIMEOUT": 5.0,
            "TELEGRAM_RETRY_SECONDS": 0.05,
            **config,
        }
    )


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory, tiny_bert, fake, databases):  # noqa: ANN001, ANN201
    """One app (and model index) for the module: building it is the slow part."""
    app = telegram_app(tmp_path_factory, tiny_bert, fake, databases)
    yield app
    close_app(app)


class Bot:
    """The app as Telegram sees it: post updates, wait until they are handled, read calls."""

    def __init__(self, app, fake: FakeBotApi) -> None:  # noqa: ANN001
        self.app = app
        self.fake = fake
        self.client = app.test_client()
        self._saved: dict[str, Any] = {}
        self.runtime = self._fresh_runtime()

    def _fresh_runtime(self) -> TelegramRuntime:
        runtime = TelegramRuntime(self.app)
        self.app.extensions["telegram"] = runtime
        return runtime

    def configure(self, **config: Any) -> None:
        """Change config for this test only; the runtime is rebuilt to read it."""
        for key, value in config.items():
            self._saved.setdefault(key, self.app.config.get(key))
            self.app.config[key] = value
        self.runtime.close()
        self.runtime = self._fresh_runtime()
        if {"BOT_THRESHOLD", "BOT_AMBIGUITY_MARGIN", "BOT_REJECT_MARGIN"} & config.keys():
            serving(self.app).invalidate()

    def restore(self) -> None:
        self.runtime.close()
        self.app.config.update(self._saved)
        if {"BOT_THRESHOLD", "BOT_AMBIGUITY_MARGIN", "BOT_REJECT_MARGIN"} & self._saved.keys():
            serving(self.app).invalidate()

    def post(self, update: Any, secret: str | None = SECRET, wait: bool = True, **kwargs: Any):  # noqa: ANN201
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        if "data" not in kwargs and "json" not in kwargs:
            kwargs["json"] = update
        response = self.client.post("/telegram/webhook", headers=headers, **kwargs)
        if wait:
            assert self.runtime.wait_idle(timeout=30), "update still in flight after 30 s"
        return response

    def texts_to(self, chat_id: int) -> list[str]:
        return [call.params["text"] for call in self.fake.sent_messages(chat_id)]


@pytest.fixture
def bot(shared_app, fake) -> Iterator[Bot]:  # noqa: ANN001
    fake.reset()
    harness = Bot(shared_app, fake)
    yield harness
    harness.restore()


def faq_by_question(app, question: str) -> Faq:  # noqa: ANN001
    with new_session(app) as session:
        return session.scalars(select(Faq).where(Faq.question == question)).one()


def logs_from(app, since: int = 0) -> list[QueryLog]:  # noqa: ANN001
    with new_session(app) as session:
        return list(
            session.scalars(
                select(QueryLog).where(QueryLog.id > since, QueryLog.channel == "telegram")
            )
        )


def last_log_id(app) -> int:  # noqa: ANN001
    with new_session(app) as session:
        return session.scalar(select(func.coalesce(func.max(QueryLog.id), 0)))


def test_a_question_gets_exactly_one_answer_in_the_right_chat(bot):
    faq = faq_by_question(bot.app, QUESTION)
    since = last_log_id(bot.app)
    response = bot.post(message(5001, QUESTION))
    assert response.status_code == 200
    [sent] = bot.fake.calls_to("sendMessage")
    assert sent.token == TOKEN
    assert sent.json("chat_id") == 5001
    assert sent.params["text"] == faq.answer
    assert "parse_mode" not in sent.params  # plain text: nothing in an answer is markup
    assert [(log.text, log.faq_id) for log in logs_from(bot.app, since)] == [(QUESTION, faq.id)]
    assert [call.method for call in bot.fake.calls] == ["getMe", "sendMessage"]


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", "ß-not-ascii"])
def test_a_missing_or_wrong_secret_is_refused_and_nothing_is_sent(bot, secret):
    since = last_log_id(bot.app)
    response = bot.post(message(5002, QUESTION), secret=secret)
    assert response.status_code == 403
    assert bot.fake.calls == []
    assert logs_from(bot.app, since) == []


def test_without_a_configured_secret_every_request_is_refused_and_logged(bot, caplog):
    bot.configure(TELEGRAM_WEBHOOK_SECRET=None)
    with caplog.at_level(logging.WARNING, logger="bot.telegram.webhook"):
        response = bot.post(message(5003, QUESTION), secret="anything")
    assert response.status_code == 403
    assert "TELEGRAM_WEBHOOK_SECRET is not set" in caplog.text
    assert bot.fake.calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "not json", "content_type": "application/json"},
        {"data": "update_id=1", "content_type": "application/x-www-form-urlencoded"},
        {"json": ["a", "list"]},
        {"json": {"message": {"text": "no update id"}}},
        {"json": {"update_id": "7"}},
    ],
)
def test_a_body_that_is_not_an_update_is_a_400(bot, kwargs):
    response = bot.post(None, **kwargs)
    assert response.status_code == 400
    assert bot.fake.calls == []


def test_an_unparseable_update_is_logged_and_acknowledged(bot, caplog):
    broken = {"update_id": 99, "message": {"text": "no chat, no date"}}
    with caplog.at_level(logging.ERROR, logger="bot.telegram.webhook"):
        response = bot.post(broken)
    assert response.status_code == 200  # Telegram must not retry it forever
    assert "could not be parsed" in caplog.text
    assert bot.fake.calls == []


def test_a_redelivered_update_is_answered_once(bot):
    since = last_log_id(bot.app)
    update = message(5004, QUESTION)
    assert bot.post(update).status_code == 200
    assert bot.post(update).status_code == 200
    # and racing deliveries of another update: still one answer
    racing = message(5005, QUESTION)
    for _ in range(3):
        bot.post(racing, wait=False)
    assert bot.runtime.wait_idle(timeout=30)
    assert len(bot.texts_to(5004)) == 1
    assert len(bot.texts_to(5005)) == 1
    assert len(logs_from(bot.app, since)) == 2


def test_ambiguous_question_offers_did_you_mean_and_the_pick_is_learned(bot, caplog):
    bot.configure(BOT_AMBIGUITY_MARGIN=1.0)  # every answer counts as ambiguous
    asked = "mode mewah tuh maksudnya gimana"
    caplog.set_level(logging.INFO)
    bot.post(message(5006, asked))
    [offer] = bot.fake.sent_messages(5006)
    assert offer.params["text"] == texts.DID_YOU_MEAN
    keyboard = offer.json("reply_markup")
    *buttons, none_of_these = [row[0] for row in keyboard["inline_keyboard"]]
    assert 2 <= len(buttons) <= 3
    assert none_of_these["text"] == texts.NONE_OF_THESE
    assert all(len(button["callback_data"].encode()) <= 64 for button in buttons)
    with new_session(bot.app) as session:
        questions = dict(session.execute(select(Faq.question, Faq.id)).all())
    assert all(button["text"] in questions for button in buttons)

    chosen = buttons[1]  # not simply the best: the user knows better
    chosen_faq = faq_by_question(bot.app, chosen["text"])
    bot.post(callback_query(5006, chosen["callback_data"], keyboard))
    [ack] = bot.fake.calls_to("answerCallbackQuery")
    assert ack.params["callback_query_id"].startswith("cbq-")
    assert bot.texts_to(5006)[1:] == [chosen_faq.answer]
    with new_session(bot.app) as session:
        pairs = session.scalars(select(TrainingPair).where(TrainingPair.source == "telegram"))
        learned = [(p.text, p.faq_id, p.approved) for p in pairs]
    assert learned == [(asked, chosen_faq.id, False)]
    assert "telegram pick stored" in caplog.text and asked not in caplog.text

    # pressing again answers again but stores nothing new
    bot.post(callback_query(5006, chosen["callback_data"], keyboard))
    assert telegram_pairs(bot.app) == 1


def pending_examples(app) -> list[tuple[str, str, bool]]:  # noqa: ANN001
    with new_session(app) as session:
        rows = session.scalars(
            select(OutOfScopeExample).where(OutOfScopeExample.source == "telegram")
        )
        return [(e.text, e.source, e.approved) for e in rows]


def test_none_of_these_gives_the_fallback_and_waits_for_an_admin(bot):
    # every message answered, and every answer ambiguous: the buttons always come
    bot.configure(BOT_AMBIGUITY_MARGIN=1.0, BOT_THRESHOLD=-1.0, BOT_REJECT_MARGIN=10.0)
    asked = "mode sultan di bank sebelah apaan"
    bot.post(message(5031, asked))
    [offer] = bot.fake.sent_messages(5031)
    keyboard = offer.json("reply_markup")
    none_of_these = keyboard["inline_keyboard"][-1][0]
    assert none_of_these["callback_data"].startswith("none:")
    assert len(none_of_these["callback_data"].encode()) <= 64

    bot.post(callback_query(5031, none_of_these["callback_data"], keyboard))
    [ack] = bot.fake.calls_to("answerCallbackQuery")
    assert ack.params["text"] == texts.NONE_THANKS
    [reply] = bot.texts_to(5031)[1:]
    with new_session(bot.app) as session:
        fallback = fallback_text(bot.app, session)
    assert reply == fallback and "• " in reply  # the fallback, with example topics
    assert pending_examples(bot.app) == [(asked, "telegram", False)]

    # unapproved: the reject class does not know it, so asking again still gets buttons
    bot.post(message(5031, asked))
    assert bot.fake.sent_messages(5031)[-1].params["text"] == texts.DID_YOU_MEAN
    bot.post(callback_query(5031, none_of_these["callback_data"], keyboard))
    assert pending_examples(bot.app) == [(asked, "telegram", False)]  # stored once


@pytest.mark.parametrize("data", ["none:1:000000000000", "none:1", "none:x:abc", "none:1:2:3"])
def test_forged_none_of_these_data_stores_nothing(bot, data):
    before = pending_examples(bot.app)
    bot.post(callback_query(5032, data, {"inline_keyboard": []}))
    [ack] = bot.fake.calls_to("answerCallbackQuery")
    assert ack.params["text"] == texts.PICK_EXPIRED
    assert bot.fake.sent_messages() == []
    assert pending_examples(bot.app) == before


def telegram_pairs(app) -> int:  # noqa: ANN001
    with new_session(app) as session:
        return session.scalar(
            select(func.count()).select_from(TrainingPair).where(TrainingPair.source == "telegram")
        )


@pytest.mark.parametrize(
    "data",
    ["pick:1:2:000000000000", "pick:x", "something-else", "pick:1:2:3:4"],
)
def test_forged_or_stale_button_data_stores_nothing(bot, data):
    before = telegram_pairs(bot.app)
    bot.post(callback_query(5007, data, {"inline_keyboard": []}))
    [ack] = bot.fake.calls_to("answerCallbackQuery")
    assert ack.params["text"] == texts.PICK_EXPIRED
    assert bot.fake.sent_messages() == []
    assert telegram_pairs(bot.app) == before


NOT_TEXT = {
    "sticker": {
        "sticker": {
            "file_id": "s1",
            "file_unique_id": "u1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    },
    "photo": {"photo": [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]},
    "voice": {"voice": {"file_id": "v1", "file_unique_id": "u3", "duration": 3}},
    "document": {"document": {"file_id": "d1", "file_unique_id": "u4", "file_name": "a.pdf"}},
    "location": {"location": {"latitude": -6.2, "longitude": 106.8}},
    "contact": {"contact": {"phone_number": "+62811", "first_name": "Budi"}},
}


@pytest.mark.parametrize("kind", sorted(NOT_TEXT))
def test_messages_without_text_get_a_polite_reply(bot, kind):
    response = bot.post(message(5008, **NOT_TEXT[kind]))
    assert response.status_code == 200
    assert bot.texts_to(5008) == [texts.NOT_TEXT]


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        (message(5009, QUESTION, kind="edited_message"), texts.EDITED),
        (message(5009, "   "), texts.EMPTY),
        (message(5009, "kenapa " * 700), texts.TOO_LONG.format(limit=4000)),
        (message(5009, "/tidakada"), texts.UNKNOWN_COMMAND),
    ],
    ids=["edited", "blank", "too-long", "unknown-command"],
)
def test_odd_messages_get_a_polite_reply(bot, update, expected):
    since = last_log_id(bot.app)
    assert bot.post(update).status_code == 200
    assert bot.texts_to(5009) == [expected]
    assert logs_from(bot.app, since) == []


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 1_000_001, "my_chat_member": {"chat": {"id": 1, "type": "private"}}},
        {"update_id": 1_000_002, "poll": {"id": "p", "question": "?", "options": []}},
        {"update_id": 1_000_003, "some_future_field": {"x": 1}},
        message(5010, new_chat_members=[{"id": 9, "is_bot": False, "first_name": "Ani"}]),
    ],
    ids=["my-chat-member", "poll", "unknown-type", "service-message"],
)
def test_updates_we_do_not_handle_are_acknowledged_quietly(bot, update):
    assert bot.post(update).status_code == 200
    assert bot.fake.sent_messages() == []


def test_start_greets_and_lists_one_question_per_category(bot):
    bot.post(message(5011, "/start"))
    [greeting] = bot.texts_to(5011)
    with new_session(bot.app) as session:
        categories = set(session.scalars(select(Faq.category).where(Faq.active.is_(True))))
    listed = [line[2:] for line in greeting.splitlines() if line.startswith("• ")]
    assert greeting.startswith("Halo!")
    assert len(listed) == len(categories)
    with new_session(bot.app) as session:
        listed_categories = {
            session.scalars(select(Faq.category).where(Faq.question == q)).one() for q in listed
        }
    assert listed_categories == categories
    bot.post(message(5011, "/help"))
    assert bot.texts_to(5011)[1] == greeting


def test_below_the_threshold_the_fallback_is_sent(bot):
    bot.configure(BOT_THRESHOLD=1.5, BOT_FALLBACK_TEXT="Nanti dijawab admin.")
    bot.post(message(5012, QUESTION))
    assert bot.texts_to(5012) == ["Nanti dijawab admin."]


def outbox_rows(app, chat_id: int) -> list[TelegramOutbox]:  # noqa: ANN001
    with new_session(app) as session:
        statement = select(TelegramOutbox).where(TelegramOutbox.chat_id == chat_id)
        return list(session.scalars(statement.order_by(TelegramOutbox.id)))


def wait_for_outbox(app, chat_id: int, timeout: float = 30.0) -> list[TelegramOutbox]:  # noqa: ANN001
    """Until no queued reply to the chat is pending (the pump sent it or gave up)."""
    deadline = time.monotonic() + timeout
    while any(row.status == "pending" for row in outbox_rows(app, chat_id)):
        assert time.monotonic() < deadline, "outbox still pending"
        time.sleep(0.05)
    return outbox_rows(app, chat_id)


def delivery_of(app, chat_text: str, since: int) -> list[str | None]:  # noqa: ANN001
    return [log.delivery for log in logs_from(app, since) if log.text == chat_text]


def test_a_failed_reply_is_queued_retried_and_delivered_exactly_once(bot, caplog):
    faq = faq_by_question(bot.app, QUESTION)
    bot.fake.fail("sendMessage", status=502, times=2)  # the Bot API fails, then recovers
    since = last_log_id(bot.app)
    with caplog.at_level(logging.INFO, logger="bot.telegram.outbox"):
        response = bot.post(message(5013, QUESTION))
        assert response.status_code == 200
        assert delivery_of(bot.app, QUESTION, since) in (["queued"], ["sent"])
        [row] = wait_for_outbox(bot.app, 5013)
    assert row.status == "sent" and row.attempts == 3 and row.chat_id == 5013
    assert len(bot.fake.sent_messages(5013)) == 3  # two failures, then the one that counted
    assert bot.fake.sent_messages(5013)[0].params == bot.fake.sent_messages(5013)[2].params
    assert bot.texts_to(5013)[-1] == faq.answer
    assert delivery_of(bot.app, QUESTION, since) == ["sent"]
    assert "queued for retry" in caplog.text and "delivered on retry" in caplog.text
    assert QUESTION not in caplog.text  # what the user wrote never reaches the log
    bot.post(message(5013, QUESTION))  # the next answer goes straight out
    assert len(bot.fake.sent_messages(5013)) == 4
    assert len(outbox_rows(bot.app, 5013)) == 1


def test_a_reply_telegram_refuses_for_good_is_not_retried(bot, caplog):
    bot.fake.fail("sendMessage", status=403)  # e.g. the user blocked the bot
    since = last_log_id(bot.app)
    with caplog.at_level(logging.ERROR, logger="bot.telegram.outbox"):
        bot.post(message(5025, QUESTION))
    assert len(bot.fake.sent_messages(5025)) == 1
    assert outbox_rows(bot.app, 5025) == []
    assert delivery_of(bot.app, QUESTION, since) == ["failed"]
    assert "refused" in caplog.text


def test_a_reply_that_keeps_failing_is_given_up_with_a_clear_log(bot, caplog):
    bot.configure(TELEGRAM_RETRY_HOURS=0.0005)  # about two seconds
    bot.fake.fail("sendMessage", status=500)
    since = last_log_id(bot.app)
    with caplog.at_level(logging.ERROR, logger="bot.telegram.outbox"):
        bot.post(message(5026, QUESTION))
        [row] = wait_for_outbox(bot.app, 5026)
    assert row.status == "failed" and row.attempts >= 2 and "NetworkError" in row.last_error
    assert delivery_of(bot.app, QUESTION, since) == ["failed"]
    assert "given up" in caplog.text


def test_a_long_reply_keeps_its_order_when_retried(bot):
    faq = faq_by_question(bot.app, QUESTION)
    long_answer = "\n\n".join(f"Bagian {i}. " + "Mode mewah itu premium. " * 200 for i in range(3))
    with new_session(bot.app) as session:
        session.get(Faq, faq.id).answer = long_answer
        session.commit()
    try:
        bot.fake.fail("sendMessage", status=500, times=2)  # the first part fails twice
        bot.post(message(5027, QUESTION))
        rows = wait_for_outbox(bot.app, 5027)
    finally:
        with new_session(bot.app) as session:
            session.get(Faq, faq.id).answer = faq.answer
            session.commit()
    delivered = bot.texts_to(5027)[2:]  # after the two failed tries
    assert [row.status for row in rows] == ["sent"] * len(rows) and len(rows) >= 2
    assert delivered == split_message(long_answer) and len(delivered) >= 3


def test_a_stalling_bot_api_does_not_hold_up_the_webhook(bot):
    bot.configure(TELEGRAM_TIMEOUT=0.5)
    bot.fake.stall("sendMessage", seconds=5, times=1)
    since = last_log_id(bot.app)
    started = time.perf_counter()
    response = bot.post(message(5014, QUESTION), wait=False)
    answered_in = time.perf_counter() - started
    assert response.status_code == 200
    assert not bot.runtime.wait_idle(timeout=0)  # Telegram got its 200 while we still work
    assert answered_in < 5  # and long before the stalled call would have returned
    assert bot.runtime.wait_idle(timeout=30)  # the send timed out after 0.5 s and was queued
    assert [log.text for log in logs_from(bot.app, since)] == [QUESTION]
    [row] = wait_for_outbox(bot.app, 5014)
    assert row.status == "sent" and "TimedOut" in row.last_error
    assert len(bot.fake.sent_messages(5014)) == 2  # the timed-out try and the retry


def test_closing_the_runtime_finishes_updates_in_flight(bot):
    bot.fake.stall("sendMessage", seconds=0.5, times=1)
    bot.post(message(5028, QUESTION), wait=False)
    bot.runtime.close(timeout=30)  # what atexit runs
    assert len(bot.fake.sent_messages(5028)) == 1
    assert bot.runtime.wait_idle(timeout=0)


def test_when_get_me_fails_telegram_is_asked_to_deliver_again(bot, caplog):
    bot.fake.fail("getMe", status=500, times=1)
    update = message(5015, QUESTION)
    with caplog.at_level(logging.WARNING, logger="bot.telegram.webhook"):
        assert bot.post(update).status_code == 503  # not taken, so not lost
    assert "getMe" in caplog.text
    assert bot.fake.sent_messages() == []
    assert bot.post(update).status_code == 200  # Telegram's redelivery
    assert len(bot.texts_to(5015)) == 1


def test_a_long_answer_is_split_on_paragraphs_below_the_limit(bot):
    faq = faq_by_question(bot.app, QUESTION)
    paragraphs = [
        f"Bagian {i}. " + ("Mode mewah memberi tampilan premium. " * 40).strip() for i in range(8)
    ]
    long_answer = "\n\n".join(paragraphs)
    assert len(long_answer) > 2 * 4096
    with new_session(bot.app) as session:
        session.get(Faq, faq.id).answer = long_answer
        session.commit()
    try:
        bot.post(message(5016, QUESTION))
    finally:
        with new_session(bot.app) as session:
            session.get(Faq, faq.id).answer = faq.answer
            session.commit()
    chunks = bot.texts_to(5016)
    assert len(chunks) >= 3
    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert all(chunk.startswith("Bagian") for chunk in chunks)  # cut between paragraphs
    assert "\n\n".join(chunks) == long_answer


def test_in_groups_the_bot_answers_only_when_addressed(bot):
    group = -100_5017
    faq = faq_by_question(bot.app, QUESTION)
    bot.post(message(group, QUESTION, chat_type="supergroup"))
    bot.post(message(group, **NOT_TEXT["sticker"], chat_type="supergroup"))
    bot.post(message(group, "/help@another_bot", chat_type="supergroup"))
    bot.post(message(group, f"@{BOT_USERNAME}x {QUESTION}", chat_type="supergroup"))
    assert bot.fake.sent_messages() == []

    mention = f"@{BOT_USERNAME} {QUESTION}"
    entity = {"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1}
    bot.post(message(group, mention, chat_type="supergroup", entities=[entity]))
    [answer] = bot.fake.sent_messages(group)
    assert answer.params["text"] == faq.answer
    asked = json.loads(answer.params["reply_parameters"])
    assert asked["allow_sending_without_reply"] is True  # quoted, but never fails on it

    reply = message(
        group, QUESTION, chat_type="supergroup",
        reply_to_message=bot_message(group, "supergroup", "jawaban sebelumnya"),
    )  # fmt: skip
    bot.post(reply)
    bot.post(message(group, f"/help@{BOT_USERNAME}", chat_type="supergroup"))
    bot.post(message(group, "/start", chat_type="supergroup"))
    sent = bot.texts_to(group)
    assert sent[:2] == [faq.answer, faq.answer]
    assert sent[2].startswith("Halo!") and f"@{BOT_USERNAME}" in sent[2]
    assert sent[3] == sent[2]
    assert len(sent) == 4


def test_a_chat_over_the_rate_limit_is_told_once_then_ignored(bot):
    bot.configure(TELEGRAM_RATE_LIMIT=2)
    for _ in range(5):
        bot.post(message(5018, QUESTION))
    faq = faq_by_question(bot.app, QUESTION)
    assert bot.texts_to(5018) == [faq.answer, faq.answer, texts.RATE_LIMITED]
    bot.post(message(5019, QUESTION))  # other chats are not affected
    assert bot.texts_to(5019) == [faq.answer]


def test_concurrent_chats_are_all_answered(bot):
    chats = range(6001, 6011)

    def deliver(chat_id: int) -> None:
        client = bot.app.test_client()  # one client per thread, like separate connections
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        response = client.post(
            "/telegram/webhook", json=message(chat_id, QUESTION), headers=headers
        )
        assert response.status_code == 200

    threads = [threading.Thread(target=deliver, args=(chat_id,)) for chat_id in chats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert bot.runtime.wait_idle(timeout=60)
    assert sorted(call.json("chat_id") for call in bot.fake.sent_messages()) == list(chats)
    assert len(bot.fake.calls_to("getMe")) == 1  # the Application is initialised once
    assert bot.runtime.application.bot.id == BOT_ID


def test_a_signed_pick_for_an_unknown_message_stores_nothing(bot):
    from bot.telegram.keyboard import Pick
    from bot.telegram.keyboard import encode_pick

    faq = faq_by_question(bot.app, QUESTION)
    before = telegram_pairs(bot.app)
    data = encode_pick(
        Pick(10**9, faq.id), bot.runtime.application.bot_data["backend"].signing_key, 5021
    )
    bot.post(callback_query(5021, data, {"inline_keyboard": []}))
    [ack] = bot.fake.calls_to("answerCallbackQuery")
    assert ack.params["text"] == texts.PICK_EXPIRED
    assert telegram_pairs(bot.app) == before


def test_a_bare_mention_in_a_group_gets_the_greeting(bot):
    group = -100_5022
    mention = f"@{BOT_USERNAME}"
    entity = {"type": "mention", "offset": 0, "length": len(mention)}
    bot.post(message(group, mention, chat_type="supergroup", entities=[entity]))
    [greeting] = bot.texts_to(group)
    assert greeting.startswith("Halo!")


def test_when_too_many_updates_are_in_flight_telegram_is_asked_to_retry(bot, monkeypatch):
    monkeypatch.setattr("bot.telegram.runtime.MAX_IN_FLIGHT", 0)
    update = message(5023, QUESTION)
    assert bot.post(update).status_code == 503
    assert bot.fake.sent_messages() == []
    monkeypatch.setattr("bot.telegram.runtime.MAX_IN_FLIGHT", 256)
    assert bot.post(update).status_code == 200  # the redelivery is answered: it was not claimed
    assert len(bot.texts_to(5023)) == 1


def test_without_a_token_the_webhook_answers_503(bot, caplog):
    bot.configure(TELEGRAM_BOT_TOKEN=None)
    with caplog.at_level(logging.ERROR, logger="bot.telegram.webhook"):
        assert bot.post(message(5024, QUESTION)).status_code == 503
    assert "TELEGRAM_BOT_TOKEN is not set" in caplog.text
    assert bot.fake.calls == []
