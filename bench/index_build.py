"""Index build time (encode + FAISS + char TF-IDF) for synthetic catalogues, by encoder.

    python bench/index_build.py [--sizes 1000 10000] [--phrasings-per-faq 3]
                                [--encoders torch onnx onnx-int8-blocks onnx-int8] [--threads N]

torch is the encoder indexes were built with before the ONNX export; onnx-int8 is what a
version serves with when its parity check allows it. ONNX encoders run with --threads (default:
every core, as an index rebuild in `flask` or the retrain worker does).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import time

from common import load_average
from common import peak_rss_mb

from bot.config import DEFAULT_BASE_MODEL
from bot.config import SHIPPED_DATA
from bot.encoders import SentenceEncoder
from bot.exporting import base_export
from bot.matcher import Matcher
from bot.matcher import Phrasing
from training.onnx_export.runtime import OnnxEncoder


def vocabulary() -> list[str]:
    words: set[str] = set()
    with open(SHIPPED_DATA / "finbuddy_pairs.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            words.update(row["paraphrase"].lower().split())
    return sorted(words)


def synthetic_phrasings(n_faqs: int, per_faq: int, seed: int = 0) -> list[Phrasing]:
    rng = random.Random(seed)
    words = vocabulary()
    return [
        Phrasing(faq, " ".join(rng.choices(words, k=rng.randint(4, 12))))
        for faq in range(n_faqs)
        for _ in range(per_faq)
    ]


def encoder(kind: str, model: str, threads: int):  # noqa: ANN201
    if kind == "torch":
        return SentenceEncoder(model)
    directory, failure = base_export(model)
    if directory is None:
        raise SystemExit(f"{model} has no ONNX export: {failure}")
    return OnnxEncoder(directory, kind, threads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--phrasings-per-faq", type=int, default=3)
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument(
        "--encoders", nargs="+", default=["torch", "onnx", "onnx-int8-blocks", "onnx-int8"]
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    for kind in args.encoders:
        chosen = encoder(kind, args.base_model, args.threads)
        chosen.encode(["warm up"])
        for size in args.sizes:
            phrasings = synthetic_phrasings(size, args.phrasings_per_faq)
            started = time.perf_counter()
            matcher = Matcher.build(chosen, phrasings, semantic_weight=0.5)
            built = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(50):
                matcher.rank("gmn cara input pengeluaran harian")
            query_ms = (time.perf_counter() - started) / 50 * 1000
            print(
                f"{kind} x{chosen.describe()['threads']}: {size} FAQs ({len(phrasings)} "
                f"phrasings): build {built:.1f} s, query {query_ms:.1f} ms, "
                f"peak RSS {peak_rss_mb()} MB; {load_average()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
