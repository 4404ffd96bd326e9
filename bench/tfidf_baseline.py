"""The character n-gram TF-IDF baseline on the evaluation file, no neural model at all.

Index = canonical questions only, and = every phrasing (canonical, alternates, training pairs).
The threshold is calibrated on the same file for the lowest mean cost, as `retrain` does (no
reject class here; cross-validated figures too).

    python bench/tfidf_baseline.py
"""

from __future__ import annotations

import json

import numpy as np
from common import temp_app

from bot.catalog import active_faqs
from bot.catalog import indexed_phrasings
from bot.db import get_session
from bot.evaluation_set import EvaluationSet
from bot.lexical import LexicalIndex
from bot.matcher import Phrasing
from training.evaluation import CV_METRICS
from training.evaluation import ScoreMatrix
from training.evaluation import calibrate
from training.evaluation import cross_validate
from training.evaluation import fold_ids
from training.evaluation import metrics


def lexical_scores(phrasings: list[Phrasing], texts: list[str]) -> ScoreMatrix:
    index = LexicalIndex.build([p.text for p in phrasings])
    faq_ids = np.array(sorted({p.faq_id for p in phrasings}))
    column = np.searchsorted(faq_ids, [p.faq_id for p in phrasings])
    per_phrasing = index.scores(texts)
    lexical = np.zeros((len(texts), len(faq_ids)), dtype=np.float32)
    np.maximum.at(lexical, (np.arange(len(texts))[:, None], column[None, :]), per_phrasing)
    return ScoreMatrix(faq_ids, lexical, lexical)


def main() -> None:
    app = temp_app()
    with app.app_context():
        session = get_session()
        evaluation = EvaluationSet.load(session, app.config["BOT_EVAL_FILE"])
        canonical = [Phrasing(f.id, f.question) for f in active_faqs(session)]
        for label, phrasings in (
            ("canonical only", canonical),
            ("all phrasings", indexed_phrasings(session)),
        ):
            scores = lexical_scores(phrasings, evaluation.texts)
            calibration = calibrate(scores, evaluation.expected, weights=(1.0,))
            figures = metrics(scores, evaluation.expected, 1.0, calibration.threshold)
            cv = cross_validate(
                scores, evaluation.expected, fold_ids(len(evaluation.expected)), weights=(1.0,)
            ).figures
            figures |= {f"{key}_cv": cv[key] for key in CV_METRICS}
            print(
                f"TF-IDF char 2-4-gram, {label}:",
                json.dumps({k: round(v, 3) for k, v in figures.items() if isinstance(v, float)}),
            )


if __name__ == "__main__":
    main()
