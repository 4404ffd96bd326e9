"""What test apps share: their config, and fresh databases (SQLite, or PostgreSQL if given).

`BOT_TEST_DATABASE_URL` (e.g. postgresql+psycopg://user@127.0.0.1:5432/postgres) names a
PostgreSQL server and a database to connect to for administration; every test then gets a
database of its own on that server, created empty (or copied from a template) and dropped
afterwards. Without it, tests use SQLite files in their temporary instance folders.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.serving import serving

SERVER_URL = os.environ.get("BOT_TEST_DATABASE_URL", "")
BACKEND = "postgresql" if SERVER_URL.startswith("postgresql") else "sqlite"


class Databases:
    """Creates and drops the databases of one test process (an xdist worker)."""

    def __init__(self, server_url: str) -> None:
        self.server = make_url(server_url)
        self.admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        self.prefix = f"bot_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_"
        self.created: list[str] = []

    def create(self, template: str | None = None) -> str:
        """A new database (a copy of `template`, if given); returns its URL."""
        name = self.prefix + uuid.uuid4().hex[:10]
        clause = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        self.created.append(name)
        return self.server.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        """Drop a database this object created (connections still open are cut)."""
        name = database_name(url)
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop(self.server.set(database=name).render_as_string(hide_password=False))
        self.admin.dispose()


def database_name(url: str) -> str:
    return make_url(url).database or ""


def app_config(instance: Path, model: Path | str, database_url: str | None) -> dict[str, object]:
    """What every test app shares: testing mode, its instance, a model, initialised at start."""
    config: dict[str, object] = {
        "TESTING": True,
        "BOT_INSTANCE_PATH": str(instance),
        "BOT_BASE_MODEL": str(model),
        "BOT_AUTO_INIT": True,
    }
    if database_url is not None:
        config["DATABASE_URL"] = database_url
    return config


def close_app(app: Flask) -> None:
    """Stop the app's model watcher and close its pool, before its database is dropped."""
    serving(app).close()
    app.extensions["db_engine"].dispose()
