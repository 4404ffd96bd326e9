from __future__ import annotations

import json

import pytest

from training.base_model import load_sentence_transformer
from training.base_model import resolve_model_path
from training.errors import BaseModelError


def test_a_plain_bert_gets_mean_pooling_like_indobert(tiny_bert):
    assert not (tiny_bert / "modules.json").exists()
    assert json.loads((tiny_bert / "config.json").read_text())["architectures"] == ["BertModel"]
    model = load_sentence_transformer(str(tiny_bert))
    transformer, pooling = model[0], model[1]
    assert type(transformer).__name__ == "Transformer"
    assert pooling.pooling_mode == "mean"
    assert "[UNK]" not in model.tokenizer.tokenize("cara login hp baru")
    vectors = model.encode(["dashboard aku kosong knp", "cara login hp baru"])
    assert vectors.shape == (2, 32)


def test_a_saved_fine_tune_reloads_as_sentence_transformers(tiny_bert, tmp_path):
    load_sentence_transformer(str(tiny_bert)).save(str(tmp_path / "st"))
    reloaded = load_sentence_transformer(str(tmp_path / "st"))
    assert (tmp_path / "st" / "modules.json").exists()
    assert reloaded.encode(["halo"]).shape == (1, 32)


def test_the_embedded_default_resolves_to_a_shipped_directory():
    path = resolve_model_path("embedded:all-minilm-l6-v2")
    assert path.endswith("model")
    assert load_sentence_transformer("embedded:all-minilm-l6-v2").encode(["hi"]).shape == (1, 384)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("embedded:no-such-model", "unknown embedded model"),
        ("/nonexistent/model/dir", "does not exist"),
        ("indobenchmark/indobert-base-p1", "Models load offline only"),
    ],
)
def test_unloadable_models_fail_fast_with_a_clear_reason(name, message):
    with pytest.raises(BaseModelError, match=message):
        load_sentence_transformer(name)


def test_a_directory_that_is_no_model_is_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(BaseModelError, match="neither a sentence-transformers model"):
        load_sentence_transformer(str(tmp_path))
