"""Does an Indonesian slang/abbreviation normaliser (gmn -> bagaimana, ...) help the matcher?

Issue 6 asked for one "only if the evaluation says it helps". This measures it on the FinBuddy
evaluation file with the dictionary in bench/slang_id.csv, applied to the embedding input only,
or to both signals, for any base or fine-tuned model:

    python bench/normaliser.py [MODEL ...]   (default: the embedded default model)
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import numpy as np
from common import temp_app

from bot.catalog import indexed_phrasings
from bot.config import DEFAULT_BASE_MODEL
from bot.db import get_session
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import calibrate_and_measure
from bot.evaluation_set import calibration_data
from bot.indexing import encoder_for
from bot.matcher import Matcher
from bot.matcher import Phrasing
from training.evaluation import DEFAULT_WRONG_ANSWER_COST

DICTIONARY = Path(__file__).resolve().parent / "slang_id.csv"


def load_normaliser():  # noqa: ANN201
    with open(DICTIONARY, newline="", encoding="utf-8") as handle:
        table = {row["term"].lower(): row["replacement"] for row in csv.DictReader(handle)}
    words = "|".join(map(re.escape, sorted(table, key=len, reverse=True)))
    pattern = re.compile(rf"\b({words})\b", re.IGNORECASE)

    def normalise(text: str) -> str:
        return " ".join(pattern.sub(lambda m: table[m.group(0).lower()], text).split())

    return normalise


class NormalisingEncoder:
    def __init__(self, encoder, normalise) -> None:  # noqa: ANN001
        self.encoder, self.normalise = encoder, normalise

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode([self.normalise(t) for t in texts])

    def encode_messages(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode_messages([self.normalise(t) for t in texts])


def main() -> None:
    normalise = load_normaliser()
    for model in sys.argv[1:] or [DEFAULT_BASE_MODEL]:
        app = temp_app(BOT_BASE_MODEL=model)
        with app.app_context():
            session = get_session()
            evaluation = EvaluationSet.load(session, app.config["BOT_EVAL_FILE"])
            phrasings = indexed_phrasings(session)
        encoder = encoder_for(model)
        normalised_phrasings = [Phrasing(p.faq_id, normalise(p.text)) for p in phrasings]
        variants = (
            ("no normaliser", encoder, phrasings, evaluation.texts),
            (
                "normalised embedding input",
                NormalisingEncoder(encoder, normalise),
                phrasings,
                evaluation.texts,
            ),
            (
                "normalised everywhere",
                encoder,
                normalised_phrasings,
                [normalise(t) for t in evaluation.texts],
            ),
        )
        for label, variant_encoder, variant_phrasings, texts in variants:
            matcher = Matcher.build(variant_encoder, variant_phrasings)
            data = calibration_data(matcher, evaluation, matcher.score_matrix(texts))
            _calibration, figures = calibrate_and_measure(data, DEFAULT_WRONG_ANSWER_COST)
            keys = ("accuracy_at_1", "oos_recall", "overall_accuracy", "overall_accuracy_cv")
            shown = ", ".join(f"{k} {figures[k]:.3f}" for k in keys)
            print(f"{model} | {label}: {shown}")


if __name__ == "__main__":
    main()
