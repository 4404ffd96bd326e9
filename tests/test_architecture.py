"""The layering DESIGN.md promises, checked on the real import graph and the real app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    """pyproject's import-linter contracts: bot/ one way down, training/ never into bot/.

    Lazy imports inside functions and TYPE_CHECKING imports count too.
    """
    from importlinter.cli import lint_imports

    exit_code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    assert exit_code == 0, "an import contract is broken: run `lint-imports` to see which"


# A web worker's life: the app on an initialised instance, one message, then what it loaded.
SERVE_ONE_MESSAGE = """
import json, sys
from bot import create_app
app = create_app(json.loads(sys.argv[1]))
reply = app.test_client().post("/api/chat", json={"message": "gmn caranya login di hp baru"})
assert reply.status_code == 200, reply.get_data(as_text=True)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[2:])))
"""


def worker_config(app: Flask) -> str:
    """The config of a worker process started on `app`'s (initialised) instance."""
    keys = ("TESTING", "BOT_INSTANCE_PATH", "BOT_BASE_MODEL", "DATABASE_URL")
    return json.dumps({key: app.config[key] for key in keys})


def test_serving_a_message_does_not_load_the_plotting_stack(app):
    """matplotlib is for reports only: a web worker answering messages never pays for it."""
    app.extensions["db_engine"].dispose()
    loaded = subprocess.run(
        [sys.executable, "-c", SERVE_ONE_MESSAGE, worker_config(app), "matplotlib"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(loaded.stdout.splitlines()[-1]) == []
