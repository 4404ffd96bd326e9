"""Async PTB handlers: what the bot does with each kind of update.

Blocking work (database, embedding model) runs in worker threads via `asyncio.to_thread`, so
one slow answer never holds up the event loop that serves every other chat.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from collections.abc import Sequence
from functools import partial
from typing import Any

from telegram import Bot
from telegram import InlineKeyboardMarkup
from telegram import Message
from telegram import Update
from telegram.constants import ChatType
from telegram.constants import MessageEntityType
from telegram.error import TelegramError
from telegram.ext import Application
from telegram.ext import ApplicationHandlerStop
from telegram.ext import BaseHandler
from telegram.ext import CallbackQueryHandler
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import MessageHandler
from telegram.ext import TypeHandler
from telegram.ext import filters

from bot.answering import InvalidMessage
from bot.answering import Reply
from bot.telegram import texts
from bot.telegram.formatting import split_message
from bot.telegram.keyboard import NONE_PREFIX
from bot.telegram.keyboard import PREFIX
from bot.telegram.keyboard import ask_admin
from bot.telegram.keyboard import decode_none
from bot.telegram.keyboard import decode_pick
from bot.telegram.keyboard import did_you_mean
from bot.telegram.keyboard import thumbs
from bot.telegram.outbox import Outgoing
from bot.telegram.outbox import send_or_queue
from bot.telegram.rate_limit import Verdict
from bot.telegram.service import FaqBackend

logger = logging.getLogger(__name__)

GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)


def backend(context: ContextTypes.DEFAULT_TYPE) -> FaqBackend:
    return context.bot_data["backend"]


def _mention(username: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@])@{re.escape(username)}(?!\w)", re.IGNORECASE)


def addressed(message: Message, bot: Bot) -> bool:
    """Private chats always; groups only on a mention of the bot or a reply to it."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    if message.chat.type not in GROUPS:
        return False
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    for entity in (*(message.entities or ()), *(message.caption_entities or ())):
        if entity.type == MessageEntityType.TEXT_MENTION and entity.user is not None:
            if entity.user.id == bot.id:
                return True
    content = message.text or message.caption or ""
    return bool(bot.username) and _mention(bot.username).search(content) is not None


def without_mention(text: str, bot: Bot) -> str:
    return _mention(bot.username).sub(" ", text) if bot.username else text


async def send(
    context: ContextTypes.DEFAULT_TYPE,
    message: Message,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
    quote: bool = True,
    query_log_id: int | None = None,
) -> None:
    """Plain text split to fit, through the outbox (a failed send is retried later).

    In groups the first part quotes `message`, so people see which question it answers.
    """
    chunks = split_message(text)
    quote = quote and message.chat.type in GROUPS
    thread = message.message_thread_id if message.is_topic_message else None
    items = [
        Outgoing(
            message.chat_id,
            chunk,
            thread,
            message.message_id if quote and index == 0 else None,
            reply_markup.to_dict() if reply_markup and index == len(chunks) - 1 else None,
        )
        for index, chunk in enumerate(chunks)
    ]
    await send_or_queue(context.bot, backend(context).outbox, items, query_log_id)


async def within_rate_limit(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Count the message; over the chat's limit the user is told once, then ignored."""
    verdict = backend(context).limiter.check(message.chat_id)
    if verdict is Verdict.NOTIFY:
        await send(context, message, texts.RATE_LIMITED)
    return verdict is Verdict.ALLOW


async def admitted(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Addressed to the bot and within the chat's rate limit."""
    return addressed(message, context.bot) and await within_rate_limit(message, context)


async def claim_update(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs first: a redelivered update id stops here, so each update is answered once."""
    if not isinstance(update, Update):
        return
    fresh = await asyncio.to_thread(backend(context).claim, update.update_id)
    if not fresh:
        logger.info("telegram update %s seen before; ignored", update.update_id)
        raise ApplicationHandlerStop


async def greet(message: Message, context: ContextTypes.DEFAULT_TYPE) -> None:
    examples = await asyncio.to_thread(backend(context).examples)
    lines = [texts.GREETING.format(name=context.bot.first_name)]
    if examples:
        lines += ["", texts.EXAMPLES_HEADER, *(f"• {question}" for question in examples)]
    if message.chat.type in GROUPS:
        lines += ["", texts.GROUP_HINT.format(username=context.bot.username)]
    await send(context, message, "\n".join(lines))


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start and /help: greet and show one example question per FAQ category."""
    message = update.effective_message  # a command is addressed to us, in groups too
    if message is not None and await within_rate_limit(message, context):
        await greet(message, context)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a question; offer "did you mean" buttons when the best two are too close."""
    message = update.effective_message
    if message is None or not await admitted(message, context):
        return
    text = without_mention(message.text or "", context.bot)
    if not text.strip() and (message.text or "").strip():
        await greet(message, context)  # just "@bot": say what the bot can do
        return
    faq = backend(context)
    try:
        answered = await asyncio.to_thread(faq.answer_message, text)
    except InvalidMessage as exc:
        await send(context, message, texts.refusal(exc.kind, faq.max_chars))
        return
    faq.desk.recent.remember(message.chat_id, text)
    query_id = answered.reply.query_id
    if answered.reply.ambiguous and len(answered.choices) > 1 and query_id is not None:
        keyboard = did_you_mean(query_id, answered.choices, faq.signing_key, message.chat_id)
        await send(context, message, texts.DID_YOU_MEAN, keyboard, query_log_id=query_id)
        return
    keyboard = reply_keyboard(faq, answered.reply, message.chat_id)
    await send(context, message, answered.reply.text, keyboard, query_log_id=query_id)


def reply_keyboard(faq: FaqBackend, reply: Reply, chat_id: int) -> InlineKeyboardMarkup | None:
    """👍 / 👎 under an answer; "Tanya admin" under the fallback when agents are there."""
    if reply.query_id is None:
        return None
    if not reply.fallback:
        return thumbs(reply.query_id, faq.signing_key, chat_id)
    return ask_admin(reply.query_id, faq.signing_key, chat_id) if faq.desk.enabled else None


async def on_pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A "did you mean" button: answer that FAQ and keep the choice for an admin to review."""
    faq = backend(context)
    decode = partial(decode_pick, key=faq.signing_key)
    await press(update, context, decode, faq.pick, texts.PICK_THANKS)


async def on_none(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "None of these": the fallback reply, and the message waits for an admin's review."""
    faq = backend(context)
    decode = partial(decode_none, key=faq.signing_key)
    keyboard = partial(ask_admin, key=faq.signing_key) if faq.desk.enabled else None
    await press(update, context, decode, faq.none_of_these, texts.NONE_THANKS, keyboard)


async def press(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    decode: Callable[..., Any],
    act: Callable[[Any], str | None],
    thanks: str,
    keyboard: Callable[..., InlineKeyboardMarkup] | None = None,
) -> None:
    """A signed button: decode its data (signed for this chat), act on it in a thread, send the
    text `act` returns (with `keyboard(decoded, chat_id=...)` under it, if given).

    Forged or stale data (or `act` returning None) only gets "no longer valid".
    """
    query = update.callback_query
    if query is None:
        return
    faq = backend(context)
    chat_id = query.message.chat.id if query.message is not None else None
    decoded = decode(query.data, chat_id=chat_id) if chat_id is not None else None
    text = await asyncio.to_thread(act, decoded) if decoded is not None else None
    if text is None or chat_id is None:
        await query.answer(texts.PICK_EXPIRED)
        return
    await query.answer(thanks)
    markup = keyboard(decoded, chat_id=chat_id) if keyboard is not None else None
    if isinstance(query.message, Message):
        await send(context, query.message, text, markup, quote=False)
    else:  # too old to be accessible: the chat is still known
        chunks = split_message(text)
        last = markup.to_dict() if markup else None
        items = [
            Outgoing(chat_id, chunk, reply_markup=last if index == len(chunks) - 1 else None)
            for index, chunk in enumerate(chunks)
        ]
        await send_or_queue(context.bot, faq.outbox, items)


async def on_other_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Unknown button data (an old keyboard): stop the client's spinner, nothing else."""
    if update.callback_query is not None:
        await update.callback_query.answer(texts.PICK_EXPIRED)


async def on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Edits are not re-answered; say so instead of silently ignoring them."""
    message = update.effective_message
    if message is not None and await admitted(message, context):
        await send(context, message, texts.EDITED)


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command we do not know; in groups only when it names this bot."""
    message = update.effective_message
    if message is None:
        return
    command = (message.text or "").split(maxsplit=1)[0]
    target = command.partition("@")[2]
    if message.chat.type != ChatType.PRIVATE:
        if not target or target.lower() != (context.bot.username or "").lower():
            return
    if await within_rate_limit(message, context):
        await send(context, message, texts.UNKNOWN_COMMAND)


async def on_not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice, documents, locations, ...: ask for text, politely."""
    message = update.effective_message
    if message is not None and await admitted(message, context):
        await send(context, message, texts.NOT_TEXT)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every failure; when our side failed (not the Bot API), apologise to the chat."""
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("telegram update %s failed", update_id, exc_info=context.error)
    if isinstance(context.error, TelegramError) or not isinstance(update, Update):
        return
    chat = update.effective_chat
    if chat is None:
        return
    try:
        await context.bot.send_message(chat_id=chat.id, text=texts.TROUBLE)
    except TelegramError:
        logger.warning("could not tell chat %s about the failure", chat.id)


def register(application: Application, faq: FaqBackend, first: Sequence[BaseHandler] = ()) -> None:
    """Wire the handlers; the first group de-duplicates, the second does the work (`first`
    before the rest: the support desk's)."""
    application.bot_data["backend"] = faq
    application.add_handler(TypeHandler(Update, claim_update), group=-1)
    message = filters.UpdateType.MESSAGE
    application.add_handlers(
        [
            *first,
            CommandHandler(["start", "help"], start, filters=message),
            CallbackQueryHandler(on_pick, pattern=rf"^{PREFIX}:"),
            CallbackQueryHandler(on_none, pattern=rf"^{NONE_PREFIX}:"),
            CallbackQueryHandler(on_other_callback),
            MessageHandler(filters.UpdateType.EDITED_MESSAGE, on_edited),
            MessageHandler(message & filters.COMMAND, on_command),
            MessageHandler(message & filters.TEXT, on_text),
            MessageHandler(message & ~filters.StatusUpdate.ALL, on_not_text),
        ]
    )
    application.add_error_handler(on_error)
