"""A retrained version comes with its serving export, and training leaves the word embeddings
as they were unless asked to train them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from bot.exporting import index_dir
from bot.exporting import serving_dir
from bot.exporting import serving_record
from bot.serving import serving
from training.onnx_export.config import ServingConfig

pytestmark = pytest.mark.slow

QUICK = ["--epochs", "1", "--max-steps", "3", "--lr", "2e-3", "--no-progress", "--json"]
EMBEDDINGS = "embeddings.word_embeddings.weight"


def retrain(app, *args: str) -> dict:  # noqa: ANN001
    result = app.test_cli_runner().invoke(args=["retrain", "--force", *QUICK, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def word_embeddings(model_dir: Path):  # noqa: ANN201
    tensors = load_file(str(model_dir / "model.safetensors"))
    return next(value for name, value in tensors.items() if name.endswith(EMBEDDINGS))


def test_a_retrained_version_is_exported_checked_and_served_with_onnx(app, client, tiny_bert):
    client.post("/api/chat", json={"message": "halo"})
    report = retrain(app)
    directory = Path(app.instance_path) / "models" / report["version"]
    config = ServingConfig.read(serving_dir(directory))
    assert config.source == "model" and config.parity["onnx"]["passed"]
    record = serving_record(directory)
    assert record["encoder"] in ("onnx-int8", "onnx") and "figures" in record
    assert (index_dir(directory, record["encoder"]) / "semantic.faiss").is_file()
    assert "## Serving" in (directory / "README.md").read_text()
    assert serving(app).sync()  # requests swap in the background: wait for it
    client.post("/api/chat", json={"message": "halo"})
    health = client.get("/healthz").get_json()["encoder"]
    assert (health["version"], health["kind"]) == (report["version"], record["encoder"])
    hyperparameters = json.loads((directory / "metrics.json").read_text())["training"]
    assert hyperparameters["hyperparameters"]["freeze_embeddings"] is True
    base = word_embeddings(tiny_bert)
    assert (word_embeddings(directory / "model") == base).all()


def test_train_embeddings_updates_them(app, tiny_bert):
    report = retrain(app, "--train-embeddings")
    directory = Path(app.instance_path) / "models" / report["version"]
    assert not (word_embeddings(directory / "model") == word_embeddings(tiny_bert)).all()
