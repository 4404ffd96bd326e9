"""Retraining on a tiny model: it must really learn, and a failure must change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import new_session
from bot.models import ModelVersion

pytestmark = pytest.mark.slow

# The tiny random BERT learns mostly in its word-embedding table, which retrain freezes by
# default (pretrained models lose nothing by it): here it must learn, so it trains them.
QUICK = ["--epochs", "2", "--lr", "1e-3", "--batch-size", "16", "--no-progress"]
QUICK += ["--train-embeddings"]


def versions(app):
    with new_session(app) as session:
        return [(v.name, v.active) for v in session.scalars(select(ModelVersion))]


def test_retrain_lowers_the_loss_and_activates_a_new_version(app, runner):
    runner.invoke(args=["ask", "halo"])  # bootstraps v1 from the base model
    assert versions(app) == [("v1", True)]

    result = runner.invoke(args=["retrain", *QUICK, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["version"] == "v2"
    assert report["loss_after"] < report["loss_before"] * 0.8
    assert versions(app) == [("v1", False), ("v2", True)]

    with new_session(app) as session:
        v2 = session.scalars(select(ModelVersion).filter_by(name="v2")).one()
        directory = Path(v2.path)
        assert (directory / "model" / "modules.json").exists()
        stored = json.loads((directory / "metrics.json").read_text())
        served_index = directory / f"index-{stored['serving']['encoder']}"
        assert (served_index / "semantic.faiss").exists()
        assert stored["training"]["batch_sampler"] == "no_duplicates"
        assert stored["eval"]["threshold"] == pytest.approx(v2.threshold)
        assert 0.0 <= v2.semantic_weight <= 1.0

    asked = json.loads(runner.invoke(args=["ask", "Apa itu mode mewah?", "--json"]).stdout)
    assert asked["question"] == "Apa itu mode mewah?"
    health = app.test_client().get("/healthz").get_json()
    assert health["model_version"] == "v2"


def test_a_failed_retrain_leaves_the_serving_model_untouched(app, runner, tmp_path):
    before = json.loads(runner.invoke(args=["ask", "dashboard kosong", "--json"]).stdout)
    models_dir = Path(app.instance_path) / "models"
    files_before = sorted(p.name for p in models_dir.iterdir())

    corrupt = tmp_path / "corrupt-model"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{ this is not json")
    result = runner.invoke(args=["retrain", "--base-model", str(corrupt), *QUICK])

    assert result.exit_code == 1
    assert "serving model is unchanged" in result.output
    assert versions(app) == [("v1", True)]
    assert sorted(p.name for p in models_dir.iterdir()) == files_before
    after = json.loads(runner.invoke(args=["ask", "dashboard kosong", "--json"]).stdout)
    assert after == before


def test_retrain_refuses_to_start_without_an_evaluation_file(make_app, tmp_path):
    app = make_app(BOT_EVAL_FILE=str(tmp_path / "missing.csv"))
    result = app.test_cli_runner().invoke(args=["retrain", *QUICK])
    assert result.exit_code == 1
    assert "cannot start retraining" in result.output
