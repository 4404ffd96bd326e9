"""getUpdates long polling for development: the same handlers, no public URL needed."""

from __future__ import annotations

import asyncio
import logging

from flask import Flask

from bot.telegram.application import ALLOWED_UPDATES
from bot.telegram.application import build_application
from bot.telegram.outbox import pump
from bot.telegram.outbox import pump_interval

logger = logging.getLogger(__name__)


async def poll(
    app: Flask, max_updates: int = 0, timeout: int = 30, drop_pending_updates: bool = False
) -> int:
    """Handle updates one by one until `max_updates` (0: until cancelled); return the count.

    PTB deletes any webhook first (Telegram refuses getUpdates while one is set). Updates
    fetched beyond `max_updates` are handled too before returning: stopping confirms them to
    Telegram, so skipping them would lose them.
    """
    application = build_application(app, polling=True)
    updater = application.updater
    assert updater is not None  # built with polling=True
    processed = 0
    async with application:
        await updater.start_polling(
            timeout=timeout,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=drop_pending_updates,
        )
        logger.info("polling as @%s", application.bot.username)
        store = application.bot_data["backend"].outbox
        retrying = asyncio.create_task(
            pump(application.bot, store, pump_interval(app), lambda: True)
        )  # replies the Bot API did not take are retried here too
        try:
            while not max_updates or processed < max_updates:
                await application.process_update(await application.update_queue.get())
                processed += 1
        finally:
            retrying.cancel()
            await updater.stop()
            while not application.update_queue.empty():
                await application.process_update(application.update_queue.get_nowait())
                processed += 1
    return processed
