"""Engine and per-request sessions for plain SQLAlchemy 2 inside Flask."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from flask import Flask
from flask import current_app
from flask import g
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker


def make_engine(url: str) -> Engine:
    """Create an engine that is safe to share with forked workers.

    Every connection works in UTC, whatever the server's time zone (dates in the dashboard and
    retention are UTC days); SQLite gets foreign keys, WAL and a busy timeout for CLI + server.
    A forked child (gunicorn --preload) drops the parent's pooled connections instead of
    sharing their sockets.
    """
    if url.startswith("postgresql"):
        engine = create_engine(
            url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"}
        )
    elif not url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True)
    else:
        engine = _sqlite_engine(url)
    os.register_at_fork(after_in_child=partial(_forget_connections, weakref.ref(engine)))
    return engine


def _forget_connections(engine_ref: weakref.ref[Engine]) -> None:
    engine = engine_ref()
    if engine is not None:
        engine.dispose(close=False)


def _sqlite_engine(url: str) -> Engine:
    """SQLite gets foreign keys, WAL and a busy timeout for CLI + server.

    With WAL, `synchronous=NORMAL` syncs at checkpoints instead of every commit: logging a
    message then costs a write, not a disk flush (a power cut may lose the last few messages'
    log rows, never corrupt the database; a crash of the app loses nothing).
    """
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """The session of the current app context, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    return g.db_session


@contextmanager
def new_session(app: Flask) -> Iterator[Session]:
    """A session independent of any request, for background work."""
    session = app.extensions["db_sessionmaker"]()
    try:
        yield session
    finally:
        session.close()


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
