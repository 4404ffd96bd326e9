"""FAQ intent-matching chatbot backend: the Flask application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

logger = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, database (migrated, seeded when empty), API and CLI."""
    from bot import admin
    from bot import api
    from bot import cli
    from bot import config
    from bot import db
    from bot import serving
    from bot import telegram
    from bot.catalog import has_faqs
    from bot.catalog import seed
    from bot.migrations import upgrade_database

    test_config = dict(test_config or {})
    instance_path = test_config.get("BOT_INSTANCE_PATH") or os.environ.get("BOT_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
    )
    app.config.update(config.from_environment(app.instance_path))
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )

    db.init_app(app)
    upgrade_database(app.extensions["db_engine"])
    if app.config["BOT_SEED_ON_EMPTY"]:
        with db.new_session(app) as session:
            if not has_faqs(session):
                summary = seed(
                    session,
                    app.config["BOT_SEED_FAQ_FILE"],
                    app.config["BOT_SEED_PAIRS_FILE"],
                    app.config["BOT_SEED_OOS_FILE"],
                )
                logger.info("empty database seeded with %s FAQs", summary.created)

    serving.init_app(app)
    app.register_blueprint(api.bp)
    admin.init_app(app)  # the /admin web UI and `flask create-admin`
    cli.init_app(app)
    telegram.init_app(app)
    return app
