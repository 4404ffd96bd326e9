"""The model a process serves with, swapped in the background when another version is active.

A worker loads the active version once when it starts (deploy/gunicorn.conf.py warms every
worker up before it takes requests; otherwise the first request does it). From then on, a
newly activated version or index is loaded by a background thread while requests go on being
answered by the model already loaded, which is replaced in one step when the new one is
complete. A failed load is retried with backoff, not by every request, and shows in /healthz.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import new_session
from bot.indexing import matcher_for
from bot.matcher import Matcher
from bot.metrics import MODEL_LOAD_STATE
from bot.metrics import MODEL_LOADS
from bot.metrics import SERVED_VERSION
from bot.models import ModelVersion
from bot.versions import active_version
from bot.versions import served_margin
from bot.versions import served_reject_margin
from bot.versions import served_threshold

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
# Requests look for a newly active version at most this often per process (the background
# watcher also looks every BOT_RELOAD_SECONDS): the query was 3% of an answer's time.
REQUEST_CHECK_SECONDS = 0.25
LOAD_STATES = ("loading", "ready", "failed")

Key = tuple[int, int]  # (version id, index revision)


class ModelNotReady(RuntimeError):
    """This process has no model to answer with yet (its first load failed or is running)."""


@dataclass(frozen=True)
class ServingModel:
    key: Key | None  # None: nothing to serve (no active version)
    version_name: str | None
    matcher: Matcher | None
    threshold: float
    margin: float
    reject_margin: float | None = None


class Serving:
    """Holds this process's ServingModel; readers never see a half-loaded one."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.poll_seconds = float(app.config["BOT_RELOAD_SECONDS"])
        self._lock = threading.Lock()  # one load at a time
        self._state_lock = threading.Lock()
        self._current: ServingModel | None = None
        self._state = "loading"
        self._error: str | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._loaded_at: float | None = None
        self._worker: threading.Thread | None = None
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._checked_at = float("-inf")  # when a request last looked for a new version
        self._pid = os.getpid()
        self._set_state("loading")

    def current(self, session: Session) -> ServingModel:
        """The model to answer with now; a newer active version is loaded in the background."""
        self._restart_if_forked()
        model = self._current
        if model is None:
            return self._load_now(session)
        now = time.monotonic()
        if now - self._checked_at >= REQUEST_CHECK_SECONDS:
            self._checked_at = now
            if model.key != self._active_key(session):
                self._start_background_work()
                self._wake.set()
        return model

    def warm_up(self) -> ServingModel:
        """Load the active version now (a worker's start), and keep watching for new ones."""
        self._restart_if_forked()
        try:
            with self.app.app_context(), new_session(self.app) as session:
                return self._load_now(session)
        finally:
            self._start_background_work()  # also retries a failed first load, with backoff

    def sync(self, timeout: float = 60.0) -> bool:
        """Wait until the active version (and index revision) is the one served.

        For whoever must see their own change at once: tests, the admin test panel. Requests
        never call it; they go on with the model already loaded.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._reload_if_changed()  # here, in the caller's thread
            with self.app.app_context(), new_session(self.app) as session:
                key = self._active_key(session)
            if self._current is not None and self._current.key == key:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the watcher thread, so it never polls a database that is gone (an app torn
        down while its process lives on: tests, an embedding host)."""
        self._closed.set()
        self._wake.set()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    def invalidate(self) -> None:
        """Forget the loaded model: the next request loads afresh (tests, config changes)."""
        with self._lock:
            self._current = None

    def status(self) -> dict[str, Any]:
        """For /healthz: what is served, and how loading goes."""
        model = self._current
        retry_in = max(0.0, self._retry_at - time.monotonic()) if self._error else None
        return {
            "state": self._state,
            "model_version": model.version_name if model else None,
            "index_revision": model.key[1] if model and model.key else None,
            "error": self._error,
            "failures": self._failures,
            "retry_in_seconds": round(retry_in, 1) if retry_in is not None else None,
            "loaded_seconds_ago": (
                round(time.monotonic() - self._loaded_at, 1) if self._loaded_at else None
            ),
        }

    def _load_now(self, session: Session) -> ServingModel:
        with self._lock:
            key = self._active_key(session)
            if self._current is not None and self._current.key == key:
                return self._current
            if self._current is None and self._error and time.monotonic() < self._retry_at:
                raise ModelNotReady(f"the model could not be loaded: {self._error}")
            try:
                self._swap(self._build(session))
            except Exception as exc:
                self._failed(exc)
                raise ModelNotReady(f"the model could not be loaded: {exc}") from exc
            return self._current

    def _start_background_work(self) -> None:
        """One watcher thread per process: loads new versions and retries failed loads."""
        with self._state_lock:
            if self._closed.is_set():
                return
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
            self._worker.start()

    def _watch(self) -> None:
        while not self._closed.is_set():
            try:
                self._reload_if_changed()
            except Exception:  # the watcher must outlive any single failure
                logger.exception("model watcher failed")
            self._wake.wait(self.poll_seconds)  # a request that saw a new version wakes it
            self._wake.clear()

    def _reload_if_changed(self) -> None:
        with self.app.app_context(), new_session(self.app) as session:
            key = self._active_key(session)
            current = self._current
            if current is not None and current.key == key:
                return
            if self._error and time.monotonic() < self._retry_at:
                return
            with self._lock:
                try:
                    self._swap(self._build(session))
                except Exception as exc:
                    self._failed(exc)

    def _build(self, session: Session) -> ServingModel:
        self._set_state("loading")
        version = active_version(session)
        if version is None:
            return ServingModel(None, None, None, 1.0, 0.0)
        key = (version.id, version.index_revision)
        logger.info("loading model version %s (index revision %s)", version.name, key[1])
        matcher = matcher_for(session, version)
        if matcher is not None:
            matcher.prepare_serving()
        return ServingModel(
            key=key,
            version_name=version.name,
            matcher=matcher,
            threshold=served_threshold(self.app.config, version),
            margin=served_margin(self.app.config, version),
            reject_margin=served_reject_margin(self.app.config, version),
        )

    def _swap(self, model: ServingModel) -> None:
        previous = self._current
        self._current = model
        self._error, self._failures, self._loaded_at = None, 0, time.monotonic()
        self._set_state("ready")
        MODEL_LOADS.labels(result="ok").inc()
        if previous is not None and previous.key is not None:
            SERVED_VERSION.remove(previous.version_name, str(previous.key[1]))
        if model.key is not None:
            SERVED_VERSION.labels(version=model.version_name, revision=str(model.key[1])).set(1)
        del previous
        release_freed_memory()

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self._error = str(exc) or type(exc).__name__
        self._retry_at = time.monotonic() + min(MAX_BACKOFF_SECONDS, 2.0**self._failures)
        self._set_state("failed" if self._current is None else "ready")
        MODEL_LOADS.labels(result="failed").inc()
        logger.exception("loading the model failed (attempt %s)", self._failures)

    def _set_state(self, state: str) -> None:
        self._state = state
        for name in LOAD_STATES:
            MODEL_LOAD_STATE.labels(state=name).set(1 if name == state else 0)

    def _restart_if_forked(self) -> None:
        """A forked child (gunicorn --preload) has no watcher thread, and must not share the
        parent's model: native thread pools do not survive a fork."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._worker = None
            self._wake = threading.Event()
            self._current = None
            self._lock = threading.Lock()
            self._state_lock = threading.Lock()

    def encoder_status(self) -> dict[str, Any] | None:
        """The loaded model's encoder: kind, threads, why, cache; None before a first message."""
        model = self._current
        if model is None or model.matcher is None:
            return None
        return {"version": model.version_name, **model.matcher.encoder.describe()}

    @staticmethod
    def _active_key(session: Session) -> Key | None:
        row = session.execute(
            select(ModelVersion.id, ModelVersion.index_revision).where(
                ModelVersion.active.is_(True)
            )
        ).first()
        return (row[0], row[1]) if row else None


def release_freed_memory() -> None:
    """Give the heap pages the old model and the load's temporaries left free back to the
    system. glibc keeps them otherwise, and a worker grew by ~40 MB per version swap."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def serving(app: Flask) -> Serving:
    return app.extensions["serving"]


def init_app(app: Flask) -> None:
    app.extensions["serving"] = Serving(app)
