"""Export a model for serving and check it against torch, into a directory replaced atomically.

The check runs the serving code (`runtime.OnnxEncoder`) on the texts it is given (the
evaluation messages and indexed phrasings): the tokenizer must give the model's own ids, and
the cosine of each ONNX embedding with torch's is recorded; float32 passes at >= 0.999. Whether
the int8 copy may serve is decided by the caller on the evaluation figures, which need the
matcher (``bot.exporting``).

Two int8 copies are written. ``onnx-int8-blocks`` has every product in 8-bit blocks;
``onnx-int8`` is calibrated on the `calibration` texts (the catalogue's phrasings, never the
evaluation file): products that stay close to float get their input quantised per message
(``smoothing``), the rest keep their blocks. It is 1.2-1.4x faster, and dropped when it
drifts from torch (min cosine below ``MIN_CALIBRATED_COSINE``); the config says why.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from training.files import match_modes
from training.files import replace_directory
from training.onnx_export.config import MODEL_FILES
from training.onnx_export.config import TOKENIZER_FILE
from training.onnx_export.config import ServingConfig
from training.onnx_export.graph import OPSET
from training.onnx_export.graph import export_transformer
from training.onnx_export.graph import keep_weights_apart
from training.onnx_export.graph import serving_config
from training.onnx_export.quantize import EMBEDDING_BLOCK
from training.onnx_export.quantize import MATMUL_BLOCK
from training.onnx_export.quantize import matmul_weights
from training.onnx_export.quantize import quantize_int8
from training.onnx_export.runtime import OnnxEncoder
from training.onnx_export.runtime import length_batches
from training.onnx_export.runtime import single_text_inputs
from training.onnx_export.smoothing import MAX_RELATIVE_ERROR
from training.onnx_export.smoothing import DynamicPlan
from training.onnx_export.smoothing import plan_dynamic
from training.onnx_export.tokenizer import check_token_ids
from training.onnx_export.tokenizer import write_tokenizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MIN_FLOAT_COSINE = 0.999
MIN_CALIBRATED_COSINE = 0.99  # below it, the calibrated int8 copy is dropped
MAX_CHECKED_TEXTS = 2000  # enough to catch a broken export; bounded for big catalogues
# Checked on top of the caller's texts: other scripts, emoji, and a text longer than any
# model's maximum length, so the tokenizer's normalisation and truncation are compared too.
SAMPLE_TEXTS = (
    "How do I reset my password?",
    "Comment réinitialiser mon mot de passe ? Ça ne marche pas…",
    "비밀번호를 어떻게 재설정하나요?",
    "如何重置我的密码？",
    "كيف أعيد تعيين كلمة المرور؟",
    "Как сбросить пароль? 🙏🙏",
    "MIN!!! saldo gw kok minus 500rb??? 😡 tolong cek dong",
    "  spasi   ganda\tdan TAB  ",
    " ".join(["pengeluaran harian bulan ini"] * 200),
)


def export_model(
    model_name: str,
    out_dir: Path,
    texts: list[str],
    source: str | None = None,
    calibration: list[str] | None = None,
) -> ServingConfig:
    """Export `model_name` (a directory or embedded: name) for serving into `out_dir`.

    `source` names the model in ``serving.json`` (default: `model_name`); `calibration` are
    the texts the int8 copy is calibrated on (none: 8-bit blocks only). Raises ExportError (or
    BaseModelError) when the model cannot be served without torch; an int8 copy that cannot
    be made is only recorded in the config's `failed`.
    """
    from training.base_model import load_sentence_transformer

    checked = list(dict.fromkeys([*texts[:MAX_CHECKED_TEXTS], *SAMPLE_TEXTS]))
    started = time.perf_counter()
    model = load_sentence_transformer(model_name, device="cpu")
    config = serving_config(model, source or model_name)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        write_tokenizer(model, staging / TOKENIZER_FILE)
        config.write(staging)
        export_transformer(model, staging / MODEL_FILES["onnx"])
        keep_weights_apart(staging / MODEL_FILES["onnx"])
        failed, plan = _write_int8(staging, calibration or [])
        config = replace(config, failed=failed)
        parity, failed = measure_parity(model, staging, config, checked)
        calibrated = parity.get("onnx-int8", {}).get("min_cosine", 1.0)
        if calibrated < MIN_CALIBRATED_COSINE:
            failed["onnx-int8"] = (
                f"not served: it drifts from torch (min cosine {calibrated:.4f} < "
                f"{MIN_CALIBRATED_COSINE})"
            )
            for path in staging.glob(f"{MODEL_FILES['onnx-int8']}*"):
                path.unlink()
        facts = {**_export_facts(started), "int8": _int8_methods(plan)}
        config = replace(config, parity=parity, failed=failed, export=facts)
        config.write(staging)
        match_modes(staging, (staging / TOKENIZER_FILE).stat().st_mode & 0o777)
        replace_directory(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return config


def _write_int8(directory: Path, calibration: list[str]) -> tuple[dict[str, str], DynamicPlan]:
    """Both int8 copies of the float model in `directory`; why either could not be made."""
    float_path = directory / MODEL_FILES["onnx"]
    failed, plan = {}, DynamicPlan()
    try:
        quantize_int8(float_path, directory / MODEL_FILES["onnx-int8-blocks"])
    except Exception as exc:  # onnx and onnxruntime raise many types
        failed["onnx-int8-blocks"] = f"int8 quantisation failed: {exc}"
    try:
        plan = _calibrate(directory, calibration)
        if plan.nodes:
            quantize_int8(float_path, directory / MODEL_FILES["onnx-int8"], plan)
        else:
            failed["onnx-int8"] = "not made: no calibration texts, or no product close enough"
    except Exception as exc:  # onnx and onnxruntime raise many types
        failed["onnx-int8"] = f"int8 quantisation failed: {exc}"
    return failed, plan


def _calibrate(directory: Path, texts: list[str]) -> DynamicPlan:
    """Which products of the float model in `directory` may quantise their input per message."""
    if not texts:
        return DynamicPlan()
    feeds = single_text_inputs(directory, list(dict.fromkeys(texts)))
    path = directory / MODEL_FILES["onnx"]
    return plan_dynamic(path, matmul_weights(path), feeds)


def _int8_methods(plan: DynamicPlan) -> dict[str, str]:
    blocks = (
        f"8-bit weights in asymmetric blocks of {MATMUL_BLOCK} (MatMulNBits, int8 multiply) "
        f"and word embeddings in blocks of {EMBEDDING_BLOCK} (GatherBlockQuantized)"
    )
    calibrated = (
        f"{plan.describe()} (smoothed input, int8 weights per column: DynamicQuantizeMatMul); "
        f"those whose simulated error exceeds {MAX_RELATIVE_ERROR} and the word embeddings "
        "as in onnx-int8-blocks"
    )
    return {"onnx-int8": calibrated, "onnx-int8-blocks": blocks}


def torch_reference(model: SentenceTransformer, texts: list[str], dimension: int) -> np.ndarray:
    """torch's unit vectors of `texts`, batched by length as the ONNX encoder batches them.

    sentence-transformers pads each batch of 32 to its longest text: the one longer than the
    model's maximum (SAMPLE_TEXTS) made 32 rows of 512 tokens, 7 of a retrain's 10 s here.
    """
    prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
    lengths = model.preprocess(texts, prompt=prompt)["attention_mask"].sum(dim=1).numpy()
    vectors = np.empty((len(texts), dimension), dtype=np.float32)
    for rows in length_batches(lengths):
        vectors[rows] = model.encode(
            [texts[row] for row in rows],
            batch_size=len(rows),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return vectors


def measure_parity(
    model: SentenceTransformer, directory: Path, config: ServingConfig, texts: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Token ids and cosine with torch of every encoder in `directory`, on `texts`; and the
    int8 copy's failure, if this ONNX Runtime cannot run it."""
    reference = torch_reference(model, texts, config.dimension)
    parity: dict[str, Any] = {"texts": len(texts)}
    failed = dict(config.failed)
    for kind in config.available(directory):
        try:
            encoder = OnnxEncoder(directory, kind, threads=os.cpu_count() or 1)
            vectors = encoder.encode(texts)
        except Exception as exc:  # onnxruntime raises its own types
            if kind == "onnx":
                raise
            failed[kind] = f"ONNX Runtime cannot run the int8 copy: {exc}"
            continue
        if kind == "onnx":
            check_token_ids(model, encoder.token_ids(texts), texts)
            parity["token_ids"] = f"identical to the model's on {len(texts)} texts"
        cosines = (vectors * reference).sum(axis=1)
        parity[kind] = {
            "min_cosine": round(float(cosines.min()), 6),
            "mean_cosine": round(float(cosines.mean()), 6),
        }
    floating = parity["onnx"]
    floating["passed"] = floating["min_cosine"] >= MIN_FLOAT_COSINE
    floating["required"] = MIN_FLOAT_COSINE
    return parity, failed


def _export_facts(started: float) -> dict[str, Any]:
    return {
        "exporter": f"torch.onnx.export (TorchScript), opset {OPSET}",
        "seconds": round(time.perf_counter() - started, 1),
        "versions": {
            package: importlib.metadata.version(package)
            for package in ("torch", "onnx", "onnxruntime", "tokenizers")
        },
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m training.onnx_export MODEL OUT_DIR TEXTS_FILE``; the file is JSON:
    ``{"texts": [...], "calibration": [...]}`` (see `export_model`)."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m training.onnx_export")
    parser.add_argument("model")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("texts_file", type=Path)
    parser.add_argument("--source", help="how serving.json names the model")
    args = parser.parse_args(argv)
    texts = json.loads(args.texts_file.read_text(encoding="utf-8"))
    try:
        export_model(
            args.model, args.out_dir, texts["texts"], args.source, texts.get("calibration")
        )
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
