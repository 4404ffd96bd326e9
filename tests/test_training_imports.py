"""`training` is importable without Flask or `bot`, and its modules import one way only.

The web app calls into `training`, never the other way round (GitHub issue 11); web workers
import `training.evaluation`, so it stays free of matplotlib.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from graphlib import CycleError
from graphlib import TopologicalSorter
from pathlib import Path

import pytest

import training

PACKAGE_DIR = Path(training.__file__).parent
FORBIDDEN = ("flask", "bot")

# Imports every module in turn; reports, per forbidden package, the first module after whose
# import it appeared (later modules may reuse it from sys.modules, so the first is the culprit).
PROBE = """
import importlib, json, sys
def loaded(name):
    return any(m == name or m.startswith(name + ".") for m in sys.modules)
culprits = {}
for module in sys.argv[1:]:
    importlib.import_module(module)
    for name in FORBIDDEN:
        if name not in culprits and loaded(name):
            culprits[name] = module
print(json.dumps(culprits))
"""


def training_modules() -> list[str]:
    found = pkgutil.walk_packages(training.__path__, prefix="training.")
    return sorted(module.name for module in found)


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )


def test_the_module_list_includes_the_embedded_e5_submodules():
    modules = training_modules()
    assert "training.evaluation" in modules
    assert "training.embedded_e5.cache" in modules  # walk_packages went into the package


def test_no_training_module_pulls_in_flask_or_bot():
    code = f"FORBIDDEN = {FORBIDDEN!r}\n{PROBE}"
    result = run_python(code, *training_modules())
    assert result.returncode == 0, result.stderr
    culprits = json.loads(result.stdout.strip().splitlines()[-1])
    assert culprits == {}, f"imported by (first to pull it in): {culprits}"


@pytest.mark.parametrize("module", ["training.evaluation", "training.analysis"])
def test_calibration_and_analysis_do_not_import_matplotlib(module):
    result = run_python(f"import sys, {module}; print('matplotlib' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False", f"{module} imports matplotlib"


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in `path` names, wherever it is: top level, inside a
    function or under TYPE_CHECKING."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}
    return {
        name: {imported for imported in imported_modules(path) if imported in modules} - {name}
        for name, path in modules.items()
    }


def test_no_import_statement_in_training_names_flask_or_bot():
    offenders = {
        module_name(path): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in FORBIDDEN
        )
        for path in PACKAGE_DIR.rglob("*.py")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_training_modules_import_each_other_without_a_cycle():
    graph = import_graph()
    assert graph["training.recipes"] >= {"training.trainer", "training.recipe_data"}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle (each imports the next): {' -> '.join(error.args[1][::-1])}")
