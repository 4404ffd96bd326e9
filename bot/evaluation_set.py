"""Score a pairs CSV against a matcher: the one place both `evaluate` and `retrain` measure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy.orm import Session

from bot.catalog import resolve_pairs
from bot.csv_io import read_pairs_csv
from bot.matcher import Matcher
from training.evaluation import Calibration
from training.evaluation import ScoreMatrix
from training.evaluation import best_threshold
from training.evaluation import calibrate
from training.evaluation import calibrate_margin
from training.evaluation import cross_validated_accuracy
from training.evaluation import expected_columns
from training.evaluation import metrics

if TYPE_CHECKING:
    from bot.serving import ServingModel


@dataclass(frozen=True)
class EvaluationSet:
    path: str
    texts: list[str]
    expected: list[int | None]  # FAQ id, None for out of scope

    @classmethod
    def load(cls, session: Session, path: str | Path) -> EvaluationSet:
        """Resolve every row's question to its FAQ; an unknown question rejects the file."""
        rows = resolve_pairs(session, read_pairs_csv(path), str(path))
        return cls(str(path), [r.paraphrase for r, _ in rows], [faq_id for _, faq_id in rows])

    def scores(self, matcher: Matcher) -> ScoreMatrix:
        return matcher.score_matrix(self.texts)


def measure(
    scores: ScoreMatrix, expected: list[int | None], semantic_weight: float, threshold: float
) -> dict[str, Any]:
    figures: dict[str, Any] = metrics(scores, expected, semantic_weight, threshold)
    figures["weights"] = {
        "semantic": round(semantic_weight, 4),
        "lexical": round(1 - semantic_weight, 4),
    }
    return figures


def calibrate_and_measure(
    scores: ScoreMatrix, expected: list[int | None]
) -> tuple[Calibration, dict[str, Any]]:
    """Calibrate weight and threshold on the set, and say honestly how much that flatters it."""
    calibration = calibrate(scores, expected)
    figures = measure(scores, expected, calibration.semantic_weight, calibration.threshold)
    cv = cross_validated_accuracy(scores, expected)
    figures["overall_accuracy_cv"] = None if math.isnan(cv) else cv
    figures["margin"] = calibrate_margin(
        scores, expected, calibration.semantic_weight, calibration.threshold
    )
    figures["calibration"] = (
        "weight, threshold and ambiguity margin calibrated on this set; overall_accuracy_cv "
        "calibrates on 4/5 and measures on the other 1/5"
    )
    return calibration, figures


MATCHER_KINDS = ("hybrid", "semantic", "lexical")


def evaluate_served(
    model: ServingModel,
    evaluation: EvaluationSet,
    kind: str,
    report_dir: Path | None = None,
    faq_names: dict[int, str] | None = None,
) -> dict[str, Any]:
    """Figures of the served model; `semantic`/`lexical` isolate one signal for comparison.

    The served threshold belongs to the fused score, so a single-signal run gets the threshold
    that is best for it on this file, and says so. With `report_dir`, the full report (per-FAQ
    scores, confusions, histograms, threshold sweep, margin) is written there too.
    """
    assert model.matcher is not None
    scores = evaluation.scores(model.matcher)
    weight = {"semantic": 1.0, "lexical": 0.0}.get(kind, model.matcher.semantic_weight)
    threshold, source = model.threshold, "served model version"
    if kind != "hybrid":
        fused = scores.fused(weight)
        expected_cols = expected_columns(scores.faq_ids, evaluation.expected)
        threshold = best_threshold(fused, expected_cols)[0]
        source = "calibrated on this file for this matcher"
    figures = measure(scores, evaluation.expected, weight, threshold)
    figures.update(matcher=kind, threshold_source=source, model_version=model.version_name)
    if report_dir is not None:
        from training.report import write_report

        title = f"{model.version_name} on {evaluation.path} ({kind})"
        summary = write_report(
            scores, evaluation.expected, faq_names or {}, weight, threshold, report_dir, title
        )
        figures.update(margin=summary["margin"], report=str(report_dir))
    return figures
