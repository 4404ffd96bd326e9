"""Bring an instance to life once: migrate, seed, prepare the model; workers only check.

`flask init` runs this, from any number of hosts at once: the whole of it runs under one lock
(a PostgreSQL advisory lock, or a file lock beside a SQLite database), so the first caller does
the work and the others find it done. Web workers never migrate: one started on a database
that is not at the newest migration stops with a message saying what to run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy import text
from werkzeug.serving import is_running_from_reloader

from bot.bootstrap import prepare_active_version
from bot.catalog import has_faqs
from bot.catalog import seed
from bot.db import new_session
from bot.jobs import recover
from bot.migrations import database_revision
from bot.migrations import head_revision
from bot.migrations import upgrade_database

logger = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x46_41_51_42  # "FAQB": one instance-wide lock per database
INIT_TIMEOUT_SECONDS = 30 * 60  # a concurrent init that converts a model takes a while


class NotInitialised(RuntimeError):
    """The database is not at this code's newest migration; `flask init` has not run."""


@dataclass(frozen=True)
class InitReport:
    migrated_from: str | None  # the revision before (None: an empty database)
    revision: str | None
    seeded_faqs: int
    version: str | None  # the active model version, ready to serve


@contextmanager
def instance_lock(engine: Engine, instance_path: str) -> Iterator[None]:
    """Hold the instance-wide lock: one `init` (or other exclusive step) at a time.

    PostgreSQL: a session-level advisory lock, which every host sees and which the server
    releases if the holder dies. SQLite lives on one host: a file lock beside the database.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
        return
    database = engine.url.database
    lock_path = Path(database + ".lock") if database else Path(instance_path) / "init.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path), timeout=INIT_TIMEOUT_SECONDS):
        yield


def init_instance(app: Flask) -> InitReport:
    """Migrate, seed an empty catalog, and prepare the active model version; idempotent."""
    engine = app.extensions["db_engine"]
    with instance_lock(engine, app.instance_path):
        before = database_revision(engine)
        upgrade_database(engine)
        recover(app)  # jobs of dead workers, staging and orphan version directories
        seeded = 0
        with app.app_context(), new_session(app) as session:
            if app.config["BOT_SEED_ON_EMPTY"] and not has_faqs(session):
                seeded = seed(
                    session,
                    app.config["BOT_SEED_FAQ_FILE"],
                    app.config["BOT_SEED_PAIRS_FILE"],
                    app.config["BOT_SEED_OOS_FILE"],
                ).created
                logger.info("empty database seeded with %s FAQs", seeded)
            version = prepare_active_version(app, session)
        return InitReport(
            migrated_from=before,
            revision=database_revision(engine),
            seeded_faqs=seeded,
            version=version.name if version is not None else None,
        )


def start_development_worker() -> subprocess.Popen[bytes] | None:
    """`flask run` alone gives a whole bot: start `flask worker` beside the development server.

    Under the reloader only the watching parent starts one; the worker stops when the server
    does. Production runs `flask worker` as a service of its own (deploy/).
    """
    if is_running_from_reloader():
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "bot", "worker", "--parent-pid", str(os.getpid())]
    )


def require_initialised(app: Flask) -> None:
    """Stop a web worker that would run against an unmigrated (or newer) database."""
    current, head = database_revision(app.extensions["db_engine"]), head_revision()
    if current != head:
        raise NotInitialised(
            f"the database is at migration {current or 'none'}, this code needs {head}: "
            "run `flask --app bot init` once (it migrates, seeds and prepares the model), "
            "then start the workers"
        )
