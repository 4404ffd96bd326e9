"""torch vs ONNX float32 vs ONNX int8 on the evaluation file: figures, encode time, size.

    python bench/encoder_parity.py [--base-model NAME] [--instance DIR] [--threads 1]

Measures the active version of a fresh instance (the base model), or of `--instance` (e.g.
the folder `bench/retrain_eval.py` prints, to measure a fine-tuned version). Every encoder
gets its own index and the version's own weight and threshold; encode p50/p99 is one unseen
message at a time, the bare encoder (no cache), with `--threads` ONNX Runtime threads.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import load_average
from common import percentiles
from common import temp_app
from common import unseen_messages

from bot.config import DEFAULT_BASE_MODEL
from bot.db import get_session
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import evaluate_matcher
from bot.exporting import serving_dir
from bot.indexing import matcher_for
from bot.versions import active_version
from training.base_model import resolve_model_path
from training.onnx_export.config import MODEL_FILES
from training.onnx_export.config import ServingConfig

KINDS = ("torch", "onnx", "onnx-int8-blocks", "onnx-int8")


def size_mb(kind: str, model_path: str, version_dir: Path) -> float:
    if kind == "torch":
        files = list(Path(resolve_model_path(model_path)).rglob("*.safetensors"))
    else:
        model = serving_dir(version_dir) / MODEL_FILES[kind]
        files = [model, model.with_name(f"{model.name}.data")]  # the graph, then its weights
    return sum(file.stat().st_size for file in files if file.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--instance", help="measure this instance folder's active version")
    parser.add_argument("--threads", type=int, default=1, help="BOT_ENCODER_THREADS")
    args = parser.parse_args()
    config = {"BOT_BASE_MODEL": args.base_model, "BOT_ENCODER_THREADS": args.threads}
    if args.instance:
        config["BOT_INSTANCE_PATH"] = args.instance
    app = temp_app(**config)
    messages = unseen_messages()
    with app.app_context():
        session = get_session()
        matcher_for(session, active_version(session))  # bootstraps a fresh instance
        version = active_version(session)
        evaluation = EvaluationSet.load(session, app.config["BOT_EVAL_FILE"])
        print(
            f"{version.name} ({version.model_path}), weight {version.semantic_weight}, "
            f"threshold {version.threshold:.3f}, {args.threads} thread(s); {load_average()}"
        )
        print("| encoder | acc@1 | oos_recall | overall | encode p50 | encode p99 | size |")
        print("|---|---|---|---|---|---|---|")
        exported = ServingConfig.read(serving_dir(Path(version.path)))
        for kind in KINDS:
            if kind != "torch" and kind in exported.failed:
                print(f"| {kind} | {exported.failed[kind]} |||||", flush=True)
                continue
            if kind == "torch":
                import torch

                torch.set_num_threads(args.threads)  # the same cores as ONNX Runtime gets
            matcher = matcher_for(session, version, kind)
            figures = evaluate_matcher(
                matcher,
                version.threshold,
                version.reject_margin,
                evaluation,
                "hybrid",
                app.config["BOT_WRONG_ANSWER_COST"],
            )
            bare = matcher.encoder.encoder  # behind the cache
            bare.encode(messages[:5])
            samples = []
            for text in messages * 2:
                started = time.perf_counter()
                bare.encode([text])
                samples.append((time.perf_counter() - started) * 1000)
            timing = percentiles(samples)
            print(
                f"| {kind} | {figures['accuracy_at_1']:.3f} | {figures['oos_recall']:.3f} | "
                f"{figures['overall_accuracy']:.3f} | {timing['p50_ms']:.1f} ms | "
                f"{timing['p99_ms']:.1f} ms | "
                f"{size_mb(kind, version.model_path, Path(version.path)):.0f} MB |",
                flush=True,
            )
        print(load_average())


if __name__ == "__main__":
    main()
