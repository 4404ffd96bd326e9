"""The first-run experience: the embedded default model, no configuration, real answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import app_config
from harness import close_app

from bot import create_app
from bot.config import DEFAULT_BASE_MODEL


@pytest.fixture(scope="module")
def default_app(tmp_path_factory, databases):  # noqa: ANN001, ANN201
    instance = tmp_path_factory.mktemp("default-model")
    database_url = databases.create() if databases is not None else None
    app = create_app(app_config(instance, DEFAULT_BASE_MODEL, database_url))
    yield app
    close_app(app)


@pytest.mark.parametrize(
    ("message", "question"),
    [
        ("min, dashboard aku kosong knp ya", "Kenapa dashboard saya kosong?"),
        ("gmn cara login kalo ganti hp", "Bagaimana cara login jika saya berganti perangkat?"),
    ],
)
def test_colloquial_questions_find_their_faq(default_app, message, question):
    body = default_app.test_client().post("/api/chat", json={"message": message}).get_json()
    assert body["question"] == question
    assert body["fallback"] is False


def test_gibberish_gets_the_fallback(default_app):
    body = default_app.test_client().post("/api/chat", json={"message": "qzx vbnm plk"}).get_json()
    assert body["fallback"] is True


README = Path(__file__).resolve().parent.parent / "README.md"
README_ROW = "| multilingual-e5-small (default), before / after `flask retrain` |"


def readme_zero_shot_figures() -> dict[str, float]:
    """Cross-validated acc@1 and oos_recall the README's benchmark table claims before retraining.

    The row reads `| name | acc@1 before / after | oos_recall before / after | ... |`, figures
    cross-validated (the headline ones).
    """
    row = next(line for line in README.read_text().splitlines() if line.startswith(README_ROW))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    before = [float(cell.split("/")[0]) for cell in cells[1:3]]
    return {"accuracy_at_1_cv": before[0], "oos_recall_cv": before[1]}


def test_the_shipped_model_keeps_the_quality_the_readme_claims(default_app):
    """A floor for the default model on the shipped evaluation file: within one message."""
    result = default_app.test_cli_runner().invoke(
        args=["evaluate", "faq_data/finbuddy_eval.csv", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    claimed = readme_zero_shot_figures()
    one_message = {
        "accuracy_at_1_cv": 1 / figures["n_in_scope"],
        "oos_recall_cv": 1 / figures["n_out_of_scope"],
    }
    for key, value in claimed.items():
        assert abs(figures[key] - value) <= one_message[key] + 1e-9, (key, figures[key], value)
