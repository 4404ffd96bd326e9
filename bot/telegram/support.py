"""The support desk on Telegram: "Tanya admin", 👍 / 👎, and agents answering in the support chat.

A user's "Tanya admin" opens a ticket and posts it to TELEGRAM_SUPPORT_CHAT_ID; an agent
answers by replying to that post, and the bot relays the text to the user. `/close` in reply
closes the ticket. In the support chat the bot answers nothing else: it is the agents' room.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from telegram import Message
from telegram import Update
from telegram import User
from telegram.error import TelegramError
from telegram.ext import BaseHandler
from telegram.ext import CallbackQueryHandler
from telegram.ext import ContextTypes
from telegram.ext import MessageHandler
from telegram.ext import filters

from bot.handoff import ANSWER_PREFIX
from bot.handoff import TicketClosed
from bot.telegram import texts
from bot.telegram.desk import SupportDesk
from bot.telegram.desk import Ticket
from bot.telegram.formatting import split_message
from bot.telegram.handlers import backend
from bot.telegram.handlers import press
from bot.telegram.handlers import send
from bot.telegram.keyboard import FEEDBACK_PREFIX
from bot.telegram.keyboard import HANDOFF_PREFIX
from bot.telegram.keyboard import Vote
from bot.telegram.keyboard import ask_admin
from bot.telegram.keyboard import decode_feedback
from bot.telegram.keyboard import decode_handoff
from bot.telegram.outbox import Outgoing
from bot.telegram.outbox import send_or_queue
from bot.telegram.rate_limit import Verdict

logger = logging.getLogger(__name__)

CLOSE_COMMAND = "/close"


def desk(context: ContextTypes.DEFAULT_TYPE) -> SupportDesk:
    return backend(context).desk


async def on_handoff(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Tanya admin": open a ticket (once per message) and post it to the support chat."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    faq, chat_id = backend(context), query.message.chat.id
    log_id = decode_handoff(query.data, faq.signing_key, chat_id)
    if log_id is None or not faq.desk.enabled:
        await query.answer(texts.PICK_EXPIRED)
        return
    if faq.desk.limiter.check(chat_id) is not Verdict.ALLOW:
        await query.answer(texts.HANDOFF_LIMITED)
        return
    reply_to = query.message.message_id if isinstance(query.message, Message) else None
    opened = await asyncio.to_thread(faq.desk.open, log_id, chat_id, reply_to)
    if opened is None:
        await query.answer(texts.PICK_EXPIRED)
        return
    ticket, created = opened
    if ticket.support_message_id is None:  # new, or an earlier post to the agents failed
        await post_ticket(context, ticket, query.message.chat.effective_name or str(chat_id))
    await query.answer(texts.HANDOFF_SENT if created else texts.HANDOFF_ALREADY)
    if created and isinstance(query.message, Message):
        await send(context, query.message, texts.HANDOFF_SENT, quote=False)


async def post_ticket(context: ContextTypes.DEFAULT_TYPE, ticket: Ticket, chat: str) -> None:
    """Post the ticket to the agents; if the Bot API refuses, the next press tries again
    (and the ticket waits on the admin's Handoff page meanwhile)."""
    support = desk(context)
    text = split_message(texts.ticket(ticket.id, chat, ticket.message, ticket.history))[0]
    try:
        posted = await context.bot.send_message(chat_id=support.chat_id, text=text)
    except TelegramError:
        logger.warning("ticket %s not posted to the support chat", ticket.id, exc_info=True)
        return
    await asyncio.to_thread(support.forwarded, ticket.id, posted.message_id)


async def on_feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """👍 / 👎: kept on the message (the last press wins); 👎 offers a person."""
    faq = backend(context)
    keyboard = partial(offer_person, key=faq.signing_key) if faq.desk.enabled else None
    decode = partial(decode_feedback, key=faq.signing_key)
    await press(update, context, decode, record_vote(faq.desk), texts.FEEDBACK_THANKS, keyboard)


def record_vote(support: SupportDesk):  # noqa: ANN201
    """What a 👍 / 👎 press does: store it; 👎 gets an apology (and the "Tanya admin" offer)."""

    def act(vote: Vote) -> str | None:
        if not support.feedback(vote.query_log_id, vote.helpful):
            return None
        if vote.helpful:
            return ""  # thanked in the button's toast; nothing more to say
        return texts.UNHELPFUL_ASK if support.enabled else texts.UNHELPFUL_SORRY

    return act


def offer_person(vote: Vote, key: bytes, chat_id: int):  # noqa: ANN201
    return ask_admin(vote.query_log_id, key, chat_id) if not vote.helpful else None


def agent_name(user: User) -> str:
    return f"@{user.username}" if user.username else user.full_name


async def on_support_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In the support chat: an agent's reply to a ticket post is relayed; the rest is ignored
    (agents talk among themselves there; bots and anonymous posts are not agents)."""
    message = update.message
    if message is None or message.reply_to_message is None:
        return
    replied, sender = message.reply_to_message, message.from_user
    if replied.from_user is None or replied.from_user.id != context.bot.id:
        return
    if sender is None or sender.is_bot or message.sender_chat is not None:
        return
    support = desk(context)
    ticket = await asyncio.to_thread(support.ticket_at, replied.message_id)
    if ticket is None:
        return
    words = (message.text or "").split(maxsplit=1)
    if words and words[0].partition("@")[0].lower() == CLOSE_COMMAND:
        closed = await asyncio.to_thread(support.close, ticket.id)
        note = texts.TICKET_CLOSED if closed else texts.TICKET_ALREADY_CLOSED
        await send(context, message, note.format(ticket=ticket.id))
        return
    if not message.text:
        await send(context, message, texts.AGENT_NOT_TEXT)
        return
    try:
        ticket = await asyncio.to_thread(
            support.answer, ticket.id, message.text, agent_name(sender)
        )
    except TicketClosed:
        await send(context, message, texts.AGENT_TICKET_CLOSED.format(ticket=ticket.id))
        return
    await relay(context, ticket, message.text)
    await send(context, message, texts.AGENT_RELAYED.format(ticket=ticket.id))


async def relay(context: ContextTypes.DEFAULT_TYPE, ticket: Ticket, answer: str) -> None:
    """The agent's answer to the user's chat, quoting the reply the user pressed under."""
    chunks = split_message(ANSWER_PREFIX + answer)
    items = [
        Outgoing(ticket.chat_id, chunk, None, ticket.reply_to_message_id if index == 0 else None)
        for index, chunk in enumerate(chunks)
    ]
    await send_or_queue(context.bot, backend(context).outbox, items, ticket.query_log_id)


def support_handlers(support: SupportDesk) -> list[BaseHandler]:
    """Handlers that go before the FAQ ones: the support chat is not answered as a user."""
    found: list[BaseHandler] = [
        CallbackQueryHandler(on_handoff, pattern=rf"^{HANDOFF_PREFIX}:"),
        CallbackQueryHandler(on_feedback, pattern=rf"^{FEEDBACK_PREFIX}:"),
    ]
    if support.chat_id is not None:
        found.insert(0, MessageHandler(filters.Chat(chat_id=support.chat_id), on_support_message))
    return found
