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
    training = json.loads((directory / "metrics.json").read_text())["training"]
    assert training["hyperparameters"]["trained_layers"] == 0  # the table trains: all layers do


def layer_tensors(model_dir: Path) -> dict[str, object]:
    tensors = load_file(str(model_dir / "model.safetensors"))
    return {name.split("encoder.layer.", 1)[-1]: value for name, value in tensors.items()}


def test_trained_layers_leave_the_lower_layers_and_the_embeddings_as_they_were(app, tiny_bert):
    report = retrain(app, "--trained-layers", "1")
    directory = Path(app.instance_path) / "models" / report["version"]
    before, after = layer_tensors(tiny_bert), layer_tensors(directory / "model")
    changed = {name for name in after if not (after[name] == before[name]).all()}
    assert changed, "nothing trained"
    assert all(name.startswith("1.") for name in changed), sorted(changed)  # the top of two
    assert any(name.startswith("0.") for name in after)  # the lower layer was there to change
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["training"]["layers"] == {"trained": 1, "of": 2}
    assert "Layers trained: the top 1 of 2" in (directory / "README.md").read_text()


def test_trained_layers_cannot_go_with_training_the_embeddings(app):
    result = app.test_cli_runner().invoke(
        args=["retrain", "--force", *QUICK, "--trained-layers", "1", "--train-embeddings"]
    )
    assert result.exit_code != 0
    assert "--train-embeddings trains the bottom of the model" in result.output
    assert not (Path(app.instance_path) / "models" / "v2").exists()


class NoTorchEncoder:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("retrain encoded with torch although the float32 export matched it")


def test_retrain_calibrates_with_the_float32_export_when_it_matches_torch(app, monkeypatch):
    monkeypatch.setattr("bot.retrain.SentenceEncoder", NoTorchEncoder)
    report = retrain(app)
    directory = Path(app.instance_path) / "models" / report["version"]
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["serving"]["encoder"] in ("onnx-int8", "onnx-int8-blocks", "onnx")
    assert metrics["eval"]["threshold"] == report["after"]["threshold"]


def test_a_retrain_whose_export_fails_calibrates_and_serves_with_torch(app, client, monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the exporter met an operator it does not know")

    monkeypatch.setattr("training.onnx_export.export.export_transformer", broken)
    report = retrain(app)
    directory = Path(app.instance_path) / "models" / report["version"]
    record = serving_record(directory)
    assert record == {
        "encoder": "torch",
        "reason": "no ONNX export: RuntimeError: the exporter met an operator it does not know",
    }
    assert report["after"]["threshold"] is not None  # calibrated all the same, with torch
    assert serving(app).sync()
    client.post("/api/chat", json={"message": "halo"})
    health = client.get("/healthz").get_json()["encoder"]
    assert (health["version"], health["kind"]) == (report["version"], "torch")


def test_trained_layers_refuse_an_encoder_without_bert_like_layers():
    import torch

    from training.trainer import TrainingConfig
    from training.trainer import freeze_layers

    class PlainEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = torch.nn.Embedding(10, 4)

        def get_input_embeddings(self) -> torch.nn.Embedding:
            return self.table

    encoder = PlainEncoder()
    assert freeze_layers(encoder, TrainingConfig(trained_layers=0)) == (0, 0)
    with pytest.raises(ValueError, match="needs a BERT-like encoder.*PlainEncoder has none"):
        freeze_layers(PlainEncoder(), TrainingConfig(trained_layers=2))
