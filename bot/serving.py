"""The model a process serves with, swapped in place when another version becomes active."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.bootstrap import bootstrap_version
from bot.indexing import matcher_for
from bot.matcher import Matcher
from bot.models import ModelVersion
from bot.versions import active_version
from bot.versions import served_margin
from bot.versions import served_threshold


@dataclass(frozen=True)
class ServingModel:
    key: tuple[int, int] | None  # (version id, index revision); None: nothing to serve
    version_name: str | None
    matcher: Matcher | None
    threshold: float
    margin: float


class Serving:
    """Holds the current ServingModel; readers never see a half-loaded one.

    Each message costs one indexed query for the active version's key; a changed key loads
    the new model and index fully before replacing the reference, so requests in flight
    finish on the old one.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._current: ServingModel | None = None

    def current(self, session: Session) -> ServingModel:
        key = self._active_key(session)
        model = self._current
        if model is not None and model.key == key and key is not None:
            return model
        with self._lock:
            if self._current is not None and self._current.key == key and key is not None:
                return self._current
            self._current = self._load(session)
            return self._current

    def invalidate(self) -> None:
        self._current = None

    def encoder_status(self) -> dict[str, Any] | None:
        """The loaded model's encoder: kind, threads, why, cache; None before a first message."""
        model = self._current
        if model is None or model.matcher is None:
            return None
        return {"version": model.version_name, **model.matcher.encoder.describe()}

    @staticmethod
    def _active_key(session: Session) -> tuple[int, int] | None:
        row = session.execute(
            select(ModelVersion.id, ModelVersion.index_revision).where(
                ModelVersion.active.is_(True)
            )
        ).first()
        return (row[0], row[1]) if row else None

    def _load(self, session: Session) -> ServingModel:
        version = active_version(session)
        if version is None:
            try:
                version = bootstrap_version(self.app, session)
            except IntegrityError:  # another worker bootstrapped first
                session.rollback()
                version = active_version(session)
        if version is None:
            return ServingModel(None, None, None, 1.0, 0.0)
        return ServingModel(
            key=(version.id, version.index_revision),
            version_name=version.name,
            matcher=matcher_for(session, version),
            threshold=served_threshold(self.app.config, version),
            margin=served_margin(self.app.config, version),
        )


def serving(app: Flask) -> Serving:
    return app.extensions["serving"]


def init_app(app: Flask) -> None:
    app.extensions["serving"] = Serving(app)
