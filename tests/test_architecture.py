"""The layering DESIGN.md promises, checked on the real import graph and the real app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    """pyproject's import-linter contracts: bot/ one way down, training/ never into bot/.

    Lazy imports inside functions and TYPE_CHECKING imports count too.
    """
    from importlinter.cli import lint_imports

    exit_code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    assert exit_code == 0, "an import contract is broken: run `lint-imports` to see which"


SERVE_ONE_MESSAGE = """
import json, sys
from bot import create_app
config = {"TESTING": True, "BOT_INSTANCE_PATH": sys.argv[1], "BOT_BASE_MODEL": sys.argv[2]}
app = create_app(config)
reply = app.test_client().post("/api/chat", json={"message": "gmn caranya login di hp baru"})
assert reply.status_code == 200, reply.get_data(as_text=True)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[3:])))
"""


def test_serving_a_message_does_not_load_the_plotting_stack(tmp_path, tiny_bert):
    """matplotlib is for reports only: a web worker answering messages never pays for it."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE_ONE_MESSAGE,
            str(tmp_path / "instance"),
            str(tiny_bert),
            "matplotlib",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(loaded.stdout.splitlines()[-1]) == []
