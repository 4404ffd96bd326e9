"""FAQ intent-matching chatbot backend: the Flask application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

logger = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, database, API, admin, Telegram and CLI.

    Under a WSGI server the database must already be initialised (`flask init`); the
    development server (`flask run`) and BOT_AUTO_INIT initialise it first themselves.
    """
    from bot import admin
    from bot import api
    from bot import cli
    from bot import config
    from bot import db
    from bot import monitoring
    from bot import retention
    from bot import serving
    from bot import telegram
    from bot import throttling
    from bot.boot import init_instance
    from bot.boot import require_initialised
    from bot.boot import start_development_worker
    from bot.input_rules import DatabaseIdConverter
    from bot.keys import checked_secret_key

    test_config = dict(test_config or {})
    instance_path = test_config.get("BOT_INSTANCE_PATH") or os.environ.get("BOT_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
    )
    app.url_map.converters["int"] = DatabaseIdConverter  # before any route is added
    app.config.update(config.from_environment(app.instance_path))
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SECRET_KEY"] = checked_secret_key(app.config["SECRET_KEY"], app.instance_path)
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )

    db.init_app(app)
    serving.init_app(app)
    throttling.init_app(app)  # before the blueprints: it checks limits ahead of their hooks
    retention.init_app(app)
    app.register_blueprint(api.bp)
    monitoring.init_app(app)
    admin.init_app(app)  # the /admin web UI and `flask create-admin`
    cli.init_app(app)
    telegram.init_app(app)

    command = _flask_command()
    if app.config["BOT_AUTO_INIT"] or command == "run":
        init_instance(app)
    elif command is None:  # a WSGI server's worker: never migrates by itself
        require_initialised(app)
    if command == "run":
        start_development_worker()
    return app


def _flask_command() -> str | None:
    """The `flask` command loading the app ("run", or the group's name), None outside the CLI."""
    import click

    context = click.get_current_context(silent=True)
    if context is None:
        return None
    return context.command.name or "flask"
