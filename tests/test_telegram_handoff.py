"""The support desk on Telegram, end to end against the fake Bot API: "Tanya admin", agents
answering in the support chat, /close, 👍 / 👎, and the ways people get it wrong."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from admin_browser.support import PASSWORD
from admin_browser.support import USERNAME
from admin_browser.support import login
from admin_browser.support import post
from admin_browser.support import settle
from fake_bot_api import BOT_USER
from fake_bot_api import FakeBotApi
from harness import close_app
from sqlalchemy import select
from telegram_updates import callback_query
from telegram_updates import message
from test_telegram import NOT_TEXT
from test_telegram import Bot
from test_telegram import telegram_app

from bot.admin.auth import create_admin
from bot.db import new_session
from bot.handoff import ANSWER_PREFIX
from bot.models import AdminUser
from bot.models import Handoff
from bot.models import QueryLog
from bot.telegram import texts
from bot.telegram.keyboard import Vote
from bot.telegram.keyboard import decode_feedback
from bot.telegram.keyboard import decode_handoff
from bot.telegram.keyboard import encode_feedback
from bot.telegram.keyboard import encode_handoff

SUPPORT = -100_9000
UNKNOWN = "bisa pesan martabak lewat aplikasi ini?"
QUESTION = "Apa itu mode mewah?"
AGENT = {"id": 31, "is_bot": False, "first_name": "Rina", "username": "rina_cs"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server


@pytest.fixture(scope="module")
def desk_app(tmp_path_factory, tiny_bert, fake, databases):  # noqa: ANN001, ANN201
    # only exact phrasings are answered: anything else is the fallback
    app = telegram_app(
        tmp_path_factory,
        tiny_bert,
        fake,
        databases,
        TELEGRAM_SUPPORT_CHAT_ID=SUPPORT,
        BOT_THRESHOLD=0.99,
    )
    yield app
    close_app(app)


@pytest.fixture
def bot(desk_app, fake) -> Iterator[Bot]:  # noqa: ANN001
    fake.reset()
    harness = Bot(desk_app, fake)
    yield harness
    harness.restore()


def keyboard_of(call: Any) -> dict[str, Any]:
    return call.json("reply_markup")


def buttons(call: Any) -> list[dict[str, Any]]:
    return [button for row in keyboard_of(call)["inline_keyboard"] for button in row]


def pressed_on(chat_id: int, chat_type: str, message_id: int) -> dict[str, Any]:
    """The bot's message a button was pressed under (its id as the fake Bot API gave it)."""
    return {
        "message_id": message_id,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": chat_type, "title": "Komunitas FinBuddy"}
        if chat_type != "private"
        else {"id": chat_id, "type": "private", "first_name": "Sari"},
        "from": BOT_USER,
        "text": "…",
    }


def press(bot: Bot, chat_id: int, button: dict[str, Any], chat_type: str = "private", on=7):  # noqa: ANN001, ANN201
    keyboard = {"inline_keyboard": [[button]]}
    bot.post(
        callback_query(
            chat_id,
            button["callback_data"],
            keyboard,
            chat_type,
            pressed_on(chat_id, chat_type, on),
        )
    )


def ticket_of(app, query_log_id: int) -> Handoff | None:  # noqa: ANN001
    with new_session(app) as session:
        return session.scalars(select(Handoff).where(Handoff.query_log_id == query_log_id)).first()


def tickets(app) -> list[Handoff]:  # noqa: ANN001
    with new_session(app) as session:
        return list(session.scalars(select(Handoff).order_by(Handoff.id)))


def last_log(app) -> QueryLog:  # noqa: ANN001
    with new_session(app) as session:
        return session.scalars(select(QueryLog).order_by(QueryLog.id.desc())).first()


def agent_reply(ticket: Handoff, text: str | None = None, sender=AGENT, **content) -> dict:  # noqa: ANN001
    """An agent's message in the support chat, replying to the ticket's post."""
    replied = pressed_on(SUPPORT, "supergroup", ticket.support_message_id)
    update = message(SUPPORT, text, chat_type="supergroup", reply_to_message=replied, **content)
    update["message"]["from"] = sender
    return update


def ask_for_a_person(
    bot: Bot, chat_id: int, chat_type: str = "private", text: str = UNKNOWN
) -> Handoff:
    """Ask something the bot cannot answer and press "Tanya admin" under the fallback."""
    mention = "@finbuddy_test_bot " if chat_type != "private" else ""
    bot.post(message(chat_id, mention + text, chat_type=chat_type))
    fallback = bot.fake.sent_messages(chat_id)[-1]
    [ask] = buttons(fallback)
    assert ask["text"] == texts.ASK_ADMIN
    assert len(ask["callback_data"].encode()) <= 64
    press(bot, chat_id, ask, chat_type)
    ticket = ticket_of(bot.app, last_log(bot.app).id)
    assert ticket is not None
    return ticket


def test_round_trip_private_chat(bot):
    """Question, fallback, button, ticket in the support chat, agent's reply relayed, a FAQ made
    from it in the admin, and the same question answered by the bot: no retraining."""
    asked = "kak, bisa transfer ke e-wallet dari sini?"
    bot.post(message(6001, "halo min"))
    bot.post(message(6001, "aku mau tanya"))
    ticket = ask_for_a_person(bot, 6001, text=asked)
    assert (ticket.status, ticket.message, ticket.chat_id) == ("open", asked, 6001)
    assert ticket.history == ["halo min", "aku mau tanya"]
    [posted] = bot.fake.sent_messages(SUPPORT)
    assert asked in posted.params["text"] and "• aku mau tanya" in posted.params["text"]
    assert ticket.support_message_id is not None
    assert bot.texts_to(6001)[-1] == texts.HANDOFF_SENT
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.HANDOFF_SENT

    bot.post(agent_reply(ticket, "Belum bisa ya kak, fitur itu belum ada."))
    relayed = bot.fake.sent_messages(6001)[-1]
    assert relayed.params["text"] == ANSWER_PREFIX + "Belum bisa ya kak, fitur itu belum ada."
    assert relayed.json("reply_parameters")["message_id"] == 7  # quotes the fallback pressed
    assert bot.texts_to(SUPPORT)[-1] == texts.AGENT_RELAYED.format(ticket=ticket.id)
    answered = ticket_of(bot.app, ticket.query_log_id)
    assert (answered.status, answered.answered_by) == ("answered", "@rina_cs")
    assert answered.answer == "Belum bisa ya kak, fitur itu belum ada."
    assert answered.first_response_at is not None

    admin = signed_in_admin(bot.app)
    form = admin.get(post(admin, f"/admin/handoff/{ticket.id}/new-faq").location)
    assert "Belum bisa ya kak, fitur itu belum ada." in form.get_data(as_text=True)
    data = {
        "question": "Bisakah transfer ke e-wallet dari FinBuddy?",
        "answer": "Belum bisa ya kak, fitur itu belum ada.",
        "active": "y",
        "queries": str(ticket.query_log_id),
    }
    assert post(admin, "/admin/faqs/new", data).status_code == 302
    settle(bot.app)
    bot.post(message(6001, asked))
    assert bot.texts_to(6001)[-1] == "Belum bisa ya kak, fitur itu belum ada."
    assert last_log(bot.app).fallback is False


def signed_in_admin(app):  # noqa: ANN001, ANN201
    with new_session(app) as session:
        if session.scalar(select(AdminUser.id).where(AdminUser.username == USERNAME)) is None:
            create_admin(session, USERNAME, PASSWORD)
    client = app.test_client()
    login(client)
    return client


def test_an_answer_written_in_the_admin_reaches_the_telegram_user(bot):
    ticket = ask_for_a_person(bot, 6017)
    admin = signed_in_admin(bot.app)
    post(admin, f"/admin/handoff/{ticket.id}/answer", {f"a{ticket.id}-answer": "Dari admin."})
    deadline = time.monotonic() + 30
    while bot.texts_to(6017)[-1] != ANSWER_PREFIX + "Dari admin.":  # the outbox pump sends it
        assert time.monotonic() < deadline, "the admin's answer never reached the user"
        time.sleep(0.05)


def test_round_trip_group_chat(bot):
    group = -100_6002
    ticket = ask_for_a_person(bot, group, "supergroup")
    assert (ticket.chat_id, ticket.message) == (group, UNKNOWN)
    bot.post(agent_reply(ticket, "Jawabannya begini."))
    relayed = bot.fake.sent_messages(group)[-1]
    assert relayed.params["text"] == ANSWER_PREFIX + "Jawabannya begini."
    assert relayed.json("reply_parameters")["message_id"] == 7


def test_a_second_press_does_not_open_or_post_a_second_ticket(bot):
    ticket = ask_for_a_person(bot, 6003)
    fallback = [c for c in bot.fake.sent_messages(6003) if "reply_markup" in c.params][-1]
    press(bot, 6003, buttons(fallback)[0])
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.HANDOFF_ALREADY
    assert [t.id for t in tickets(bot.app) if t.chat_id == 6003] == [ticket.id]
    assert len(bot.fake.sent_messages(SUPPORT)) == 1


def test_a_ticket_the_support_chat_refused_is_posted_on_the_next_press(bot):
    bot.post(message(6004, UNKNOWN))
    [ask] = buttons(bot.fake.sent_messages(6004)[-1])
    bot.fake.fail("sendMessage", status=400, times=1)  # the post to the agents fails
    press(bot, 6004, ask)
    ticket = ticket_of(bot.app, last_log(bot.app).id)
    assert ticket.support_message_id is None
    press(bot, 6004, ask)
    assert ticket_of(bot.app, ticket.query_log_id).support_message_id is not None
    assert UNKNOWN in bot.texts_to(SUPPORT)[-1]


def test_handoff_presses_are_rate_limited_per_chat(bot):
    bot.configure(TELEGRAM_HANDOFF_RATE_LIMIT=2)
    before = len(tickets(bot.app))
    for _ in range(3):
        bot.post(message(6005, UNKNOWN))
        press(bot, 6005, buttons(bot.fake.sent_messages(6005)[-1])[0])
    acks = [call.params["text"] for call in bot.fake.calls_to("answerCallbackQuery")]
    assert acks == [texts.HANDOFF_SENT, texts.HANDOFF_SENT, texts.HANDOFF_LIMITED]
    assert len(tickets(bot.app)) == before + 2
    ask_for_a_person(bot, 6006)  # another chat has its own count


def test_without_a_support_chat_there_is_no_button(bot):
    bot.configure(TELEGRAM_SUPPORT_CHAT_ID=None)
    bot.post(message(6007, UNKNOWN))
    fallback = bot.fake.sent_messages(6007)[-1]
    assert "reply_markup" not in fallback.params
    # and an old button (signed, but nobody to hand over to) opens nothing
    before = len(tickets(bot.app))
    key = bot.runtime.application.bot_data["backend"].signing_key
    press(
        bot, 6007, {"text": "x", "callback_data": encode_handoff(last_log(bot.app).id, key, 6007)}
    )
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.PICK_EXPIRED
    assert len(tickets(bot.app)) == before


def test_none_of_these_offers_a_person(bot):
    bot.configure(BOT_AMBIGUITY_MARGIN=1.0, BOT_THRESHOLD=-1.0, BOT_REJECT_MARGIN=10.0)
    bot.post(message(6008, "mode sultan di bank sebelah apaan"))
    offer = bot.fake.sent_messages(6008)[-1]
    none_of_these = buttons(offer)[-1]
    press(bot, 6008, none_of_these)
    reply = bot.fake.sent_messages(6008)[-1]
    [ask] = buttons(reply)
    assert ask["text"] == texts.ASK_ADMIN
    press(bot, 6008, ask)
    assert ticket_of(bot.app, last_log(bot.app).id).message == "mode sultan di bank sebelah apaan"


@pytest.mark.parametrize(
    "data", ["ask:1:AAAAAAAAAAAAAAAAAAAAAA", "ask:x", "ask:1:2:3", "fb:1:2:abc"]
)
def test_forged_handoff_or_feedback_data_does_nothing(bot, data):
    before = len(tickets(bot.app))
    press(bot, 6009, {"text": "x", "callback_data": data})
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.PICK_EXPIRED
    assert bot.fake.sent_messages() == []
    assert len(tickets(bot.app)) == before


def test_a_button_copied_into_another_chat_is_refused(bot):
    bot.post(message(6010, UNKNOWN))
    [ask] = buttons(bot.fake.sent_messages(6010)[-1])
    before = len(tickets(bot.app))
    press(bot, 6011, ask)
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.PICK_EXPIRED
    assert len(tickets(bot.app)) == before


def test_the_support_chat_is_not_answered_and_non_agents_are_ignored(bot):
    ticket = ask_for_a_person(bot, 6012)
    sent_before = len(bot.fake.sent_messages())
    robot = {"id": 99, "is_bot": True, "first_name": "OtherBot", "username": "other_bot"}
    bot.post(message(SUPPORT, f"@finbuddy_test_bot {QUESTION}", chat_type="supergroup"))
    bot.post(message(SUPPORT, "/help", chat_type="supergroup"))
    bot.post(agent_reply(ticket, "jawaban palsu", sender=robot))
    not_a_ticket = message(
        SUPPORT,
        "balasan ke pesan biasa",
        chat_type="supergroup",
        reply_to_message=pressed_on(SUPPORT, "supergroup", 999_999),
    )
    bot.post(not_a_ticket)
    # a user elsewhere cannot close or answer tickets
    bot.post(message(6013, "/close", reply_to_message=pressed_on(6013, "private", 1)))
    assert len(bot.fake.sent_messages()) == sent_before + 1
    assert bot.texts_to(6013) == [texts.UNKNOWN_COMMAND]
    assert ticket_of(bot.app, ticket.query_log_id).status == "open"


def test_an_agent_reply_that_is_not_text_gets_a_polite_note(bot):
    ticket = ask_for_a_person(bot, 6014)
    bot.post(agent_reply(ticket, **NOT_TEXT["sticker"]))
    assert bot.texts_to(SUPPORT)[-1] == texts.AGENT_NOT_TEXT
    assert bot.texts_to(6014)[-1] == texts.HANDOFF_SENT  # nothing relayed
    assert ticket_of(bot.app, ticket.query_log_id).status == "open"


def test_close_and_a_reply_to_a_closed_ticket(bot):
    ticket = ask_for_a_person(bot, 6015)
    bot.post(agent_reply(ticket, "/close"))
    assert bot.texts_to(SUPPORT)[-1] == texts.TICKET_CLOSED.format(ticket=ticket.id)
    closed = ticket_of(bot.app, ticket.query_log_id)
    assert closed.status == "closed" and closed.closed_at is not None
    bot.post(agent_reply(ticket, "telat jawab"))
    assert bot.texts_to(SUPPORT)[-1] == texts.AGENT_TICKET_CLOSED.format(ticket=ticket.id)
    assert bot.texts_to(6015)[-1] == texts.HANDOFF_SENT  # the user got nothing
    assert ticket_of(bot.app, ticket.query_log_id).answer is None
    bot.post(agent_reply(ticket, "/close@finbuddy_test_bot"))
    assert bot.texts_to(SUPPORT)[-1] == texts.TICKET_ALREADY_CLOSED.format(ticket=ticket.id)


def test_thumbs_under_answers_are_kept_and_the_last_press_wins(bot):
    bot.post(message(6016, QUESTION))
    answer = bot.fake.sent_messages(6016)[-1]
    up, down = buttons(answer)
    assert (up["text"], down["text"]) == (texts.HELPFUL, texts.UNHELPFUL)
    assert all(len(b["callback_data"].encode()) <= 64 for b in (up, down))
    log_id = last_log(bot.app).id
    press(bot, 6016, up)
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.FEEDBACK_THANKS
    assert len(bot.fake.sent_messages(6016)) == 1  # a 👍 only gets the thanks
    with new_session(bot.app) as session:
        assert session.get(QueryLog, log_id).helpful is True

    press(bot, 6016, down)
    sorry = bot.fake.sent_messages(6016)[-1]
    assert sorry.params["text"] == texts.UNHELPFUL_ASK
    [ask] = buttons(sorry)
    with new_session(bot.app) as session:
        assert session.get(QueryLog, log_id).helpful is False
    press(bot, 6016, ask)  # and a person can take it from there
    assert ticket_of(bot.app, log_id).message == QUESTION


@pytest.mark.parametrize("log_id", [1, 2**63 - 1])
def test_new_button_data_fits_telegram_and_is_bound_to_its_chat(log_id):
    key = b"k" * 32
    ask = encode_handoff(log_id, key, -100_123)
    votes = [encode_feedback(Vote(log_id, helpful), key, -100_123) for helpful in (True, False)]
    assert all(len(data.encode()) <= 64 for data in (ask, *votes))
    assert decode_handoff(ask, key, -100_123) == log_id
    assert [decode_feedback(data, key, -100_123) for data in votes] == [
        Vote(log_id, True),
        Vote(log_id, False),
    ]
    assert decode_handoff(ask, key, -100_124) is None  # another chat
    assert decode_feedback(votes[0], key, -100_124) is None
    assert decode_handoff(votes[0], key, -100_123) is None  # another kind
