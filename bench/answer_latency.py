"""answer() on messages it has not seen, against the bare encoder call for the same messages.

    python bench/answer_latency.py [--base-model NAME] [--instance DIR] [--encoder KIND]
                                   [--threads N] [--rounds 3] [--growth 10000]

The embedding cache is off, so every call encodes. Each message is timed twice in turn: the
served encoder alone (what answer() cannot avoid) and the whole answer() (encode, FAISS, the
character n-grams, fusion, the threshold and the query log written to SQLite). `--growth N`
also measures answer() with N synthetic FAQs of 3 phrasings each on top of the shipped 30, and
assess() there with and without the int8 first pass (bot/coarse_scores.py).
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

from common import load_average
from common import percentiles
from common import scratch_dir
from common import temp_app
from common import unseen_messages

from bot.config import DEFAULT_BASE_MODEL
from bot.config import ENCODER_CHOICES
from bot.config import SHIPPED_DATA


def timed(call, *args) -> float:  # noqa: ANN001
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1000


def measure(app, rounds: int) -> tuple[dict, dict, str]:  # noqa: ANN001
    """p50/p99 of the bare encoder and of answer(), interleaved message by message."""
    from bot.answering import answer
    from bot.db import get_session
    from bot.serving import serving

    messages = unseen_messages()
    with app.app_context():
        answer("warm up", channel="bench")  # loads (or bootstraps) the model
        encoder = serving(app).current(get_session()).matcher.encoder.encoder  # no cache
        for text in messages[:10]:
            answer(text, channel="bench")
        bare, whole = [], []
        for _ in range(rounds):
            for text in messages:
                bare.append(timed(encoder.encode, [text]))
                whole.append(timed(answer, text, "bench"))
        described = encoder.describe()
    return percentiles(bare), percentiles(whole), f"{described['kind']} x{described['threads']}"


def measure_first_pass(app, rounds: int) -> tuple[dict, dict]:  # noqa: ANN001
    """assess() as served (int8 first pass on a large catalog) against the float32 product
    alone, same index and encoder, interleaved message by message."""
    from bot.db import get_session
    from bot.indexing import matcher_for
    from bot.serving import serving
    from bot.versions import active_version

    messages = unseen_messages()
    with app.app_context():
        session = get_session()
        served = serving(app).current(session).matcher
        exact = matcher_for(session, active_version(session))  # loaded, not prepared to serve
        served_ms, exact_ms = [], []
        for _ in range(rounds):
            for text in messages:
                served_ms.append(timed(served.assess, text))
                exact_ms.append(timed(exact.assess, text))
    return percentiles(served_ms), percentiles(exact_ms)


def synthetic_faq_file(n_faqs: int, seed: int = 0) -> Path:
    """The shipped FAQs plus `n_faqs` made-up ones (a question and two alternates each)."""
    rng = random.Random(seed)
    with open(SHIPPED_DATA / "finbuddy_pairs.csv", newline="", encoding="utf-8") as handle:
        words = sorted({w for row in csv.DictReader(handle) for w in row["paraphrase"].split()})
    path = Path(scratch_dir("faq-growth-")) / "faq.csv"
    seen: set[str] = set()
    with open(SHIPPED_DATA / "finbuddy_faq.csv", newline="", encoding="utf-8") as source:
        rows = list(csv.reader(source))
    while len(rows) < n_faqs + 31:
        texts = [" ".join(rng.choices(words, k=rng.randint(4, 12))) for _ in range(3)]
        if seen.isdisjoint(texts) and len(set(texts)) == 3:
            seen.update(texts)
            rows.append([texts[0], f"Jawaban {len(rows)}", "sintetis", " | ".join(texts[1:])])
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def report(label: str, bare: dict, whole: dict) -> None:
    print(f"{label} bare encoder: {bare}")
    print(f"{label} answer():     {whole}")
    print(f"{label} answer() p50 / encoder p50 = {whole['p50_ms'] / bare['p50_ms']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--instance", help="measure this instance folder instead of a new one")
    parser.add_argument("--encoder", choices=ENCODER_CHOICES)
    parser.add_argument("--threads", type=int, default=1, help="BOT_ENCODER_THREADS")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--growth", type=int, default=0, help="also with N synthetic FAQs")
    args = parser.parse_args()
    config = {
        "BOT_BASE_MODEL": args.base_model,
        "BOT_EMBED_CACHE_SIZE": 0,
        "BOT_ENCODER": args.encoder,
        "BOT_ENCODER_THREADS": args.threads,
        # the per-address limit is checked as in production, but set high enough not to refuse
        "BOT_API_RATE_LIMIT_IP": "1000000 per minute",
    }
    if args.instance:
        config["BOT_INSTANCE_PATH"] = args.instance
    bare, whole, encoder = measure(temp_app(**config), args.rounds)
    print(f"{encoder}, cache off, {load_average()}")
    report("30 FAQs:", bare, whole)
    if args.growth:
        config.pop("BOT_INSTANCE_PATH", None)
        config["BOT_SEED_FAQ_FILE"] = str(synthetic_faq_file(args.growth))
        grown_app = temp_app(**config)
        grown_bare, grown, grown_encoder = measure(grown_app, args.rounds)
        print(f"{grown_encoder} (the encoder this version serves; --encoder sets both)")
        report(f"{args.growth + 30} FAQs:", grown_bare, grown)
        print(f"growth: answer() p50 {grown['p50_ms'] / whole['p50_ms']:.2f}x the 30-FAQ p50")
        served, exact = measure_first_pass(grown_app, args.rounds)
        print(f"{args.growth + 30} FAQs: assess() int8 first pass: {served}")
        print(f"{args.growth + 30} FAQs: assess() float32 only:    {exact}")
        print(
            f"first pass: float32 p50 / int8-first p50 = {exact['p50_ms'] / served['p50_ms']:.2f}"
        )
        print(load_average())


if __name__ == "__main__":
    main()
