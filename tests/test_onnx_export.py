"""The ONNX export (training.onnx_export) against sentence-transformers, on tiny local models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.encoders import SentenceEncoder
from bot.exporting import shipped_phrasings
from bot.exporting import shipped_texts
from training.errors import ExportError
from training.onnx_export.config import MODEL_FILES
from training.onnx_export.config import TOKENIZER_FILE
from training.onnx_export.config import ServingConfig
from training.onnx_export.export import SAMPLE_TEXTS
from training.onnx_export.export import export_model
from training.onnx_export.quantize import MS_DOMAIN
from training.onnx_export.quantize import blockwise
from training.onnx_export.runtime import BATCH_TOKENS
from training.onnx_export.runtime import MAX_BATCH
from training.onnx_export.runtime import OnnxEncoder
from training.onnx_export.runtime import length_batches
from training.onnx_export.smoothing import quantised_columns
from training.onnx_export.smoothing import simulated_dynamic_input
from training.onnx_export.tokenizer import check_token_ids

# Not among the texts the export was checked on: new words, orders and lengths.
UNSEEN = [
    "saldo aku minus terus padahal udah transfer, kenapa ya min?",
    "Bagaimana cara mengekspor laporan bulanan ke excel",
    "x",
    "kategori belanja mingguan ga muncul di grafik sejak update kemarin " * 20,
]


def sentence_model(tiny_bert: Path, directory: Path, pooling: str, prompt: str) -> Path:
    """A sentence-transformers model around the tiny BERT: pooling mode, prompt, normalisation."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.normalize import Normalize
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sentence_transformer.modules import Transformer

    transformer = Transformer(str(tiny_bert))
    model = SentenceTransformer(
        modules=[
            transformer,
            Pooling(transformer.get_embedding_dimension(), pooling),
            Normalize(),
        ],
        prompts={"query": prompt},
        default_prompt_name="query",
        device="cpu",
    )
    model.save(str(directory))
    return directory


@pytest.fixture(scope="module")
def exported(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export") / "serving"
    export_model(str(tiny_bert), directory, shipped_texts()[:200], calibration=shipped_phrasings())
    return directory


def op_types(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


def cosines(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return (first * second).sum(axis=1)


def test_the_export_writes_every_file_and_records_its_parity_with_torch(exported):
    config = ServingConfig.read(exported)
    assert config is not None
    for name in (*MODEL_FILES.values(), TOKENIZER_FILE):
        assert (exported / name).is_file()
    for name in MODEL_FILES.values():  # weights apart, for ONNX Runtime to map, not copy
        graph, weights = exported / name, exported / f"{name}.data"
        assert weights.stat().st_size > graph.stat().st_size
    assert config.available(exported) == ["onnx", "onnx-int8-blocks", "onnx-int8"]
    assert config.parity["texts"] == 200 + len(SAMPLE_TEXTS)
    assert config.parity["token_ids"].startswith("identical")
    assert config.parity["onnx"]["passed"] and config.parity["onnx"]["min_cosine"] >= 0.999
    assert config.parity["onnx-int8"]["min_cosine"] >= 0.99
    assert not list(exported.parent.glob(".serving-*")), "the staging directory was left behind"


def test_the_export_is_as_readable_as_any_file_written_here(exported, tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    mode = plain.stat().st_mode & 0o777
    assert {path.stat().st_mode & 0o777 for path in exported.iterdir()} == {mode}
    assert exported.stat().st_mode & 0o777 == mode | (mode & 0o444) >> 2


def test_onnx_embeddings_equal_torch_on_texts_the_export_never_saw(exported, tiny_bert):
    torch_vectors = SentenceEncoder(str(tiny_bert)).encode(UNSEEN)
    float32 = OnnxEncoder(exported, "onnx").encode(UNSEEN)
    int8 = OnnxEncoder(exported, "onnx-int8").encode(UNSEEN)
    assert float32.shape == torch_vectors.shape and float32.dtype == np.float32
    assert cosines(float32, torch_vectors).min() >= 0.9999
    assert cosines(int8, torch_vectors).min() >= 0.99
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)


def test_a_batch_gives_each_text_what_it_gets_alone(exported):
    encoder = OnnxEncoder(exported, "onnx")
    together = encoder.encode(UNSEEN)
    alone = np.vstack([encoder.encode([text]) for text in UNSEEN])
    assert np.allclose(together, alone, atol=1e-5)
    assert encoder.encode([]).shape == (0, together.shape[1])


@pytest.mark.parametrize(("pooling", "prompt"), [("cls", "query: "), ("max", ""), ("mean", "q: ")])
def test_pooling_and_prompt_are_those_of_sentence_transformers(
    tiny_bert, tmp_path, pooling, prompt
):
    model = sentence_model(tiny_bert, tmp_path / "model", pooling, prompt)
    export_model(str(model), tmp_path / "serving", UNSEEN)
    config = ServingConfig.read(tmp_path / "serving")
    assert (config.pooling, config.prompt) == (pooling, prompt)
    onnx = OnnxEncoder(tmp_path / "serving", "onnx").encode(UNSEEN)
    assert cosines(onnx, SentenceEncoder(str(model)).encode(UNSEEN)).min() >= 0.9999


def test_a_model_with_modules_onnx_serving_does_not_reproduce_is_refused(tiny_bert, tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sentence_transformer.modules import Transformer

    transformer = Transformer(str(tiny_bert))
    SentenceTransformer(
        modules=[transformer, Pooling(32, "mean"), Dense(32, 8)], device="cpu"
    ).save(str(tmp_path / "model"))
    with pytest.raises(ExportError, match="Dense"):
        export_model(str(tmp_path / "model"), tmp_path / "serving", UNSEEN)
    assert not (tmp_path / "serving").exists()


def test_token_ids_that_differ_from_the_model_s_are_refused(tiny_bert):
    from training.base_model import load_sentence_transformer

    model = load_sentence_transformer(str(tiny_bert))
    right = [model.tokenizer(text)["input_ids"] for text in UNSEEN[:2]]
    check_token_ids(model, right, UNSEEN[:2])
    with pytest.raises(ExportError, match="splits"):
        check_token_ids(model, [right[0], right[1][:-2] + right[1][-1:]], UNSEEN[:2])


def test_blocks_decode_to_the_weights_within_half_a_step():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(6, 40)).astype(np.float32)
    matrix[2] = 0.0  # an all-zero row decodes to zeros
    matrix[3] = np.abs(matrix[3])  # a positive-only row still covers its range
    codes, scales, zero_points = blockwise(matrix, 16)
    assert codes.shape == (6, 3, 16) and scales.shape == zero_points.shape == (6, 3)
    decoded = (codes.astype(np.float32) - zero_points[:, :, None]) * scales[:, :, None]
    decoded = decoded.reshape(6, -1)[:, :40]
    assert np.all(np.abs(decoded - matrix) <= scales.repeat(16, axis=1)[:, :40] / 2 + 1e-7)
    assert np.all(decoded[2] == 0.0)


def test_calibrated_int8_quantises_some_products_per_message_and_stays_close(exported):
    config = ServingConfig.read(exported)
    assert "quantised per message" in config.export["int8"]["onnx-int8"]
    assert "DynamicQuantizeMatMul" in op_types(exported / MODEL_FILES["onnx-int8"])
    assert "DynamicQuantizeMatMul" not in op_types(exported / MODEL_FILES["onnx-int8-blocks"])
    floating = OnnxEncoder(exported, "onnx").encode(UNSEEN)
    for kind in ("onnx-int8", "onnx-int8-blocks"):
        assert cosines(floating, OnnxEncoder(exported, kind).encode(UNSEEN)).min() >= 0.99


def test_messages_are_encoded_as_served_alone_where_a_batch_would_change_them(exported):
    calibrated = OnnxEncoder(exported, "onnx-int8")
    alone = np.vstack([calibrated.encode([text]) for text in UNSEEN])
    assert np.array_equal(calibrated.encode_messages(UNSEEN), alone)
    # one input scale per run: a message batched with others is not what a user gets
    assert not np.array_equal(calibrated.encode(UNSEEN), alone)
    blocks = OnnxEncoder(exported, "onnx-int8-blocks")  # float inputs: batching is harmless
    assert np.allclose(blocks.encode_messages(UNSEEN), blocks.encode(UNSEEN), atol=1e-5)


def test_a_calibrated_int8_that_drifts_from_torch_is_dropped(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setattr("training.onnx_export.export.MIN_CALIBRATED_COSINE", 1.01)  # none pass
    directory = tmp_path / "serving"
    config = export_model(str(tiny_bert), directory, UNSEEN, calibration=shipped_phrasings())
    assert config.failed["onnx-int8"].startswith("not served: it drifts from torch")
    assert config.available(directory) == ["onnx", "onnx-int8-blocks"]
    assert not list(directory.glob("model.int8.onnx*")), "the dropped copy was left on disk"


def test_without_calibration_texts_int8_is_blocks_only(tiny_bert, tmp_path):
    config = export_model(str(tiny_bert), tmp_path / "serving", UNSEEN)
    assert config.failed["onnx-int8"].startswith("not made")
    assert config.available(tmp_path / "serving") == ["onnx", "onnx-int8-blocks"]
    types = op_types(tmp_path / "serving" / MODEL_FILES["onnx-int8-blocks"])
    assert "MatMulNBits" in types and "DynamicQuantizeMatMul" not in types


def test_the_simulated_int8_product_is_what_onnx_runtime_computes():
    """Calibration chooses products by a numpy simulation: it must be ONNX Runtime's kernel."""
    import onnxruntime
    from onnx import TensorProto
    from onnx import helper
    from onnx import numpy_helper

    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 32)).astype(np.float32)
    x[:, 5] *= 40  # an outlier channel, as transformers have
    weight = rng.normal(size=(32, 24)).astype(np.float32)
    codes, scales = quantised_columns(weight)
    product = helper.make_node("DynamicQuantizeMatMul", ["x", "w", "s"], ["y"], domain=MS_DOMAIN)
    graph = helper.make_graph(
        [product],
        "product",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 24])],
        [numpy_helper.from_array(codes, "w"), numpy_helper.from_array(scales, "s")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS_DOMAIN, 1)]
    )
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    computed = session.run(None, {"x": x})[0]
    simulated = simulated_dynamic_input(x) @ (codes.astype(np.float32) * scales)
    np.testing.assert_allclose(computed, simulated, rtol=1e-4, atol=1e-4 * np.abs(computed).max())
    assert not np.allclose(computed, x @ weight, rtol=1e-4)  # it is not the float product


def test_a_text_far_longer_than_the_rest_is_batched_alone():
    lengths = np.array([*range(3, 40)] * 6 + [512] + [12] * 300)
    batches = length_batches(lengths)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for rows in batches:
        assert len(rows) <= MAX_BATCH
        assert len(rows) * int(lengths[rows].max()) <= BATCH_TOKENS
    longest = next(rows for rows in batches if 222 in rows)
    assert longest.tolist() == [222]  # not padding 15 short texts to 512 tokens
    assert length_batches(np.array([], dtype=np.int64)) == []
