"""Semantic vs lexical vs hybrid matching on the evaluation file, and their answer latency.

    python bench/matcher_comparison.py [--model NAME_OR_PATH] [--repeats 200]

Every threshold (and the hybrid weight) is calibrated on the evaluation file for the lowest mean
cost (threshold only: no reject class here); `cv` is the overall accuracy when calibrating on 4/5
and measuring on the other 1/5.
"""

from __future__ import annotations

import argparse
import json

from common import percentiles
from common import temp_app
from common import time_calls

from bot.catalog import active_faqs
from bot.catalog import indexed_phrasings
from bot.config import DEFAULT_BASE_MODEL
from bot.db import get_session
from bot.evaluation_set import EvaluationSet
from bot.indexing import encoder_for
from bot.matcher import Matcher
from bot.matcher import Phrasing
from training.evaluation import WEIGHT_GRID
from training.evaluation import calibrate
from training.evaluation import cross_validate
from training.evaluation import fold_ids
from training.evaluation import metrics


def row(label: str, matcher: Matcher, evaluation: EvaluationSet, weights: tuple) -> None:
    scores = evaluation.scores(matcher)
    calibration = calibrate(scores, evaluation.expected, weights)
    figures = metrics(
        scores, evaluation.expected, calibration.semantic_weight, calibration.threshold
    )
    folds = fold_ids(len(evaluation.expected))
    cv = cross_validate(scores, evaluation.expected, folds, weights=weights).figures[
        "overall_accuracy"
    ]
    print(
        f"| {label} | {figures['accuracy_at_1']:.3f} | {figures['oos_recall']:.3f} | "
        f"{figures['overall_accuracy']:.3f} | {cv:.3f} | {calibration.semantic_weight:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    app = temp_app(BOT_BASE_MODEL=args.model)
    encoder = encoder_for(args.model)
    with app.app_context():
        session = get_session()
        evaluation = EvaluationSet.load(session, app.config["BOT_EVAL_FILE"])
        canonical = [Phrasing(f.id, f.question) for f in active_faqs(session)]
        everything = indexed_phrasings(session)
    print(f"model {args.model}; {len(canonical)} FAQs, {len(everything)} phrasings indexed")
    print("| matcher | accuracy@1 | oos_recall | overall (calibrated) | overall (cv) | w |")
    print("|---|---|---|---|---|---|")
    canonical_matcher = Matcher.build(encoder, canonical)
    full = Matcher.build(encoder, everything)
    row("semantic, canonical questions only", canonical_matcher, evaluation, (1.0,))
    row("semantic, all phrasings", full, evaluation, (1.0,))
    row("lexical (char TF-IDF), all phrasings", full, evaluation, (0.0,))
    row("hybrid, all phrasings", full, evaluation, WEIGHT_GRID)

    query = "min, dashboard aku kosong knp ya"
    for label, weight in (("semantic only", 1.0), ("hybrid", 0.5)):
        full.semantic_weight = weight
        stats = percentiles(time_calls(lambda: full.rank(query), args.repeats))
        print(f"rank() latency, {label}: {json.dumps(stats)}")


if __name__ == "__main__":
    main()
