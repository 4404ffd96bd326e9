"""The bridge from synchronous Flask views to the asyncio world of python-telegram-bot."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from concurrent.futures import Future
from typing import Any

from flask import Flask
from telegram import Update
from telegram.ext import Application

from bot.telegram.application import build_application
from bot.telegram.outbox import pump
from bot.telegram.outbox import pump_interval

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 256  # beyond this the webhook answers 503 and Telegram redelivers later


class TelegramBusy(RuntimeError):
    """Too many updates in flight; the caller should ask Telegram to retry."""


class TelegramRuntime:
    """One event-loop thread and one initialised Application per app and process.

    Flask threads hand updates over with `run_coroutine_threadsafe` and return at once; the
    loop runs them concurrently (their blocking parts in worker threads). The loop thread
    starts on the first update, so a server that forks workers after `create_app` gets one
    loop per worker; with it starts the outbox pump, which retries failed replies. At exit
    (atexit: a normal end, or SIGTERM under gunicorn) `close()` lets the updates in flight
    finish first; replies still waiting stay in the outbox table for the next start.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._pid = os.getpid()
        self._application: Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = False
        self._init_lock = asyncio.Lock()
        self._pump: Future[None] | None = None
        self.pump_interval = pump_interval(app)

    @property
    def application(self) -> Application:
        """Built on first use (raises TelegramNotConfigured without a token)."""
        with self._lock:
            self._forget_if_forked()
            if self._application is None:
                self._application = build_application(self.app)
            return self._application

    def parse(self, data: dict[str, Any]) -> Update:
        return Update.de_json(data, self.application.bot)

    def submit(self, update: Update) -> Future[None]:
        """Schedule the update on the loop; the returned future ends when it is handled."""
        application = self.application
        loop = self._running_loop(application)
        self._ensure_initialized(application, loop)
        with self._idle:
            if self._in_flight >= MAX_IN_FLIGHT:
                raise TelegramBusy(f"{self._in_flight} updates in flight")
            self._in_flight += 1
        try:
            future = asyncio.run_coroutine_threadsafe(self._process(application, update), loop)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _ensure_initialized(
        self, application: Application, loop: asyncio.AbstractEventLoop
    ) -> None:
        """getMe before accepting the first update: if the Bot API is down, Telegram is told
        to deliver again later (503) instead of the update being taken and then lost."""
        if self._ready:
            return
        ready = asyncio.run_coroutine_threadsafe(self._initialized(application), loop)
        try:
            ready.result(timeout=2 * float(self.app.config["TELEGRAM_TIMEOUT"]) + 1)
        except Exception as exc:
            raise TelegramBusy(f"the Bot API did not answer getMe ({exc!r})") from exc

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no update is being handled; False if `timeout` ran out first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Let updates in flight finish, then stop the pump, the Application and the loop."""
        atexit.unregister(self.close)
        if not self.wait_idle(timeout):
            logger.warning("telegram: updates still in flight after %s s at shutdown", timeout)
        with self._lock:
            loop, thread, application = self._loop, self._thread, self._application
            ready, pump = self._ready, self._pump
            self._loop = self._thread = self._application = self._pump = None
            self._ready = False
        if loop is None or thread is None:
            return
        if pump is not None:
            pump.cancel()
        if application is not None and ready:
            shutdown = asyncio.run_coroutine_threadsafe(application.shutdown(), loop)
            try:
                shutdown.result(timeout)
            except Exception:
                logger.exception("telegram application did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    async def _initialized(self, application: Application) -> None:
        async with self._init_lock:
            if not self._ready:
                await application.initialize()  # getMe once; retried on the next use
                self._ready = True

    async def _process(self, application: Application, update: Update) -> None:
        await self._initialized(application)
        await application.process_update(update)  # handler errors go to the error handler

    def _finished(self, future: Future[None] | None) -> None:
        if future is not None and not future.cancelled() and future.exception() is not None:
            logger.error("telegram update not processed", exc_info=future.exception())
        with self._idle:  # after logging, so whoever waits for idle also sees the log
            self._in_flight -= 1
            self._idle.notify_all()

    def _running_loop(self, application: Application) -> asyncio.AbstractEventLoop:
        with self._lock:
            self._forget_if_forked()
            if self._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()
                thread = threading.Thread(
                    target=_run_loop, args=(loop, started), name="telegram-loop", daemon=True
                )
                thread.start()
                started.wait()
                self._loop, self._thread = loop, thread
                store = application.bot_data["backend"].outbox
                retrying = pump(application.bot, store, self.pump_interval, lambda: self._ready)
                self._pump = asyncio.run_coroutine_threadsafe(retrying, loop)
                atexit.register(self.close)
            return self._loop

    def _forget_if_forked(self) -> None:
        """A forked child inherits the objects but not the loop thread: start afresh."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._loop = self._thread = self._application = self._pump = None
            self._ready = False
            self._init_lock = asyncio.Lock()
            self._in_flight = 0


def _run_loop(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def telegram_runtime(app: Flask) -> TelegramRuntime:
    return app.extensions["telegram"]
