"""Index build time (encode + FAISS + char TF-IDF) for synthetic FAQ sets of 1k and 10k.

python bench/index_build.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import csv
import random
import time

from common import peak_rss_mb

from bot.config import DEFAULT_BASE_MODEL
from bot.config import SHIPPED_DATA
from bot.indexing import encoder_for
from bot.matcher import Matcher
from bot.matcher import Phrasing


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--phrasings-per-faq", type=int, default=1)
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    args = parser.parse_args()
    encoder = encoder_for(args.base_model)
    encoder.encode(["warm up"])
    for size in args.sizes:
        phrasings = synthetic_phrasings(size, args.phrasings_per_faq)
        started = time.perf_counter()
        matcher = Matcher.build(encoder, phrasings, semantic_weight=0.5)
        built = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(50):
            matcher.rank("gmn cara input pengeluaran harian")
        query_ms = (time.perf_counter() - started) / 50 * 1000
        print(
            f"{size} FAQs ({len(phrasings)} phrasings): build {built:.2f}s, "
            f"query {query_ms:.2f} ms, peak RSS {peak_rss_mb()} MB"
        )


if __name__ == "__main__":
    main()
