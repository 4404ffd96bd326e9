"""Admin web UI: sign-in, FAQ editor, training pairs, out-of-scope examples, inbox, handoff
tickets, test panel, import, retraining.

Every page is server-rendered (Jinja) and needs a signed-in admin; every POST carries a CSRF
token. Index rebuilds run in a background thread; retraining is queued for the worker process;
the pages show the state of both.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Flask

bp = Blueprint("admin", __name__, url_prefix="/admin")


def init_app(app: Flask) -> None:
    """Register CSRF protection, cookie settings, background workers, routes and CLI."""
    # Importing the view modules attaches their routes to `bp` (once per process).
    from bot.admin import accounts
    from bot.admin import auth
    from bot.admin import dashboard  # noqa: F401
    from bot.admin import faqs  # noqa: F401
    from bot.admin import handoff  # noqa: F401
    from bot.admin import inbox  # noqa: F401
    from bot.admin import out_of_scope  # noqa: F401
    from bot.admin import pairs  # noqa: F401
    from bot.admin import reindex
    from bot.admin import retraining  # noqa: F401
    from bot.admin import security
    from bot.admin import testpanel  # noqa: F401
    from bot.admin import transfer  # noqa: F401

    security.init_app(app)
    reindex.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(auth.create_admin_command)
    app.cli.add_command(accounts.admin_cli)
