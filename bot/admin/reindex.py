"""Rebuild the active version's index in the background after FAQ edits.

Edits commit at once and the page returns; one worker thread per app re-indexes, folding a
burst of edits into one rebuild. `wait()` lets tests (and the test panel) block until every
edit made so far is being served.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask
from flask import current_app

from bot.bootstrap import refresh_index
from bot.db import get_session
from bot.db import new_session
from bot.serving import serving

logger = logging.getLogger(__name__)


class Reindexer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._condition = threading.Condition()
        self._requested = 0
        self._done = 0
        self._running = False
        self.last_error: str | None = None

    def request(self) -> int:
        """Ask for a rebuild that includes every change committed so far; returns a ticket."""
        with self._condition:
            self._requested += 1
            if not self._running:
                self._running = True
                threading.Thread(target=self._work, name="admin-reindex", daemon=True).start()
            return self._requested

    @property
    def pending(self) -> bool:
        with self._condition:
            return self._done < self._requested

    def wait(self, timeout: float | None = 120.0) -> bool:
        """Block until every rebuild requested before this call has finished."""
        with self._condition:
            target = self._requested
            return self._condition.wait_for(lambda: self._done >= target, timeout)

    def _work(self) -> None:
        while True:
            with self._condition:
                if self._done >= self._requested:
                    self._running = False
                    return
                target = self._requested
            try:
                with self.app.app_context(), new_session(self.app) as session:
                    refresh_index(self.app, session)
                self.last_error = None
            except Exception as exc:  # the thread must survive to serve the next request
                logger.exception("index rebuild failed")
                self.last_error = str(exc)
            with self._condition:
                self._done = target
                self._condition.notify_all()


def reindexer(app: Flask) -> Reindexer:
    return app.extensions["admin_reindexer"]


def request_reindex() -> int:
    """After an admin change to what is indexed: rebuild in the background."""
    return reindexer(current_app).request()


def approve(row: Any) -> bool:
    """Approve a pending training pair or out-of-scope example and have it indexed; False when
    it is gone or was approved already."""
    if row is None or row.approved:
        return False
    row.approved = True
    get_session().commit()
    request_reindex()
    return True


def delete(row: Any) -> bool:
    """Delete a training pair or out-of-scope example, re-indexing if it was indexed (approved);
    False when it is gone already."""
    if row is None:
        return False
    was_indexed = row.approved
    session = get_session()
    session.delete(row)
    session.commit()
    if was_indexed:
        request_reindex()
    return True


def wait_until_served() -> bool:
    """Wait (up to ADMIN_TEST_WAIT_SECONDS) until this process serves every change committed so
    far; other workers pick it up within BOT_RELOAD_SECONDS. False when it timed out."""
    app = current_app._get_current_object()
    deadline = time.monotonic() + app.config["ADMIN_TEST_WAIT_SECONDS"]
    if not reindexer(app).wait(timeout=max(0.0, deadline - time.monotonic())):
        return False
    return serving(app).sync(timeout=max(0.0, deadline - time.monotonic()))


def reindex_now() -> bool:
    """Rebuild and wait until the change is served (rebuilds re-encode only new texts)."""
    request_reindex()
    return wait_until_served()


def init_app(app: Flask) -> None:
    app.extensions["admin_reindexer"] = Reindexer(app)
