"""Score a pairs CSV against a matcher: where `evaluate`, `calibrate` and `retrain` measure.

Calibration data are the evaluation file's messages plus the matcher's own out-of-scope
examples, each fold of them scored against an index without that fold (an indexed example
would find itself). Figures describe the evaluation file: in-sample at the calibrated (or
served) parameters, and cross-validated, every message judged with parameters calibrated on
the other folds of both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from bot.catalog import resolve_pairs
from bot.csv_io import read_pairs_csv
from bot.matcher import Matcher
from training.evaluation import CV_FOLDS
from training.evaluation import CV_METRICS
from training.evaluation import WEIGHT_GRID
from training.evaluation import Calibration
from training.evaluation import CrossValidation
from training.evaluation import ScoreMatrix
from training.evaluation import calibrate
from training.evaluation import calibrate_margin
from training.evaluation import cross_validate
from training.evaluation import fold_ids
from training.evaluation import judge_out_of_fold
from training.evaluation import metrics

MATCHER_KINDS = ("hybrid", "semantic", "lexical")
KIND_WEIGHTS = {"hybrid": WEIGHT_GRID, "semantic": (1.0,), "lexical": (0.0,)}
CALIBRATION_NOTE = (
    "weight, threshold and reject margin minimise the mean cost (a wrong answer costs "
    "wrong_answer_cost fallbacks) on this file plus the out-of-scope examples, each fold of "
    "them scored against an index without it; out-of-scope rows keep this file's share; the "
    "_cv figures judge every message with parameters calibrated on the other {folds} folds"
)


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


@dataclass(frozen=True)
class CalibrationData:
    """The evaluation file's rows first, then the held-out out-of-scope examples."""

    scores: ScoreMatrix
    expected: list[int | None]
    folds: np.ndarray
    sample_weight: np.ndarray
    n_file: int  # rows of the evaluation file; the rest are out-of-scope examples

    @property
    def file_rows(self) -> np.ndarray:
        return np.arange(self.n_file)

    @property
    def measured(self) -> np.ndarray:
        return np.arange(len(self.expected)) < self.n_file

    @property
    def file_scores(self) -> ScoreMatrix:
        return self.scores.subset(self.file_rows)

    @property
    def file_expected(self) -> list[int | None]:
        return self.expected[: self.n_file]

    def calibrated(
        self,
        wrong_cost: float,
        weights: tuple[float, ...] = WEIGHT_GRID,
        use_reject_class: bool = True,
    ) -> Calibration:
        """Weight, threshold and reject margin with the lowest mean cost on all the rows."""
        return calibrate(
            self.scores,
            self.expected,
            weights,
            wrong_cost=wrong_cost,
            sample_weight=self.sample_weight,
            use_reject_class=use_reject_class,
        )


def calibration_data(
    matcher: Matcher, evaluation: EvaluationSet, file_scores: ScoreMatrix | None = None
) -> CalibrationData:
    """The evaluation file plus the matcher's out-of-scope examples, ready to calibrate on.

    Each out-of-scope row weighs n / (n + examples), n the file's out-of-scope rows, so the
    examples sharpen the estimate without changing the file's mix of traffic.
    """
    scores = evaluation.scores(matcher) if file_scores is None else file_scores
    n_file = len(evaluation.expected)
    expected = list(evaluation.expected)
    folds = fold_ids(n_file)
    weight = np.ones(n_file)
    examples = len(matcher.out_of_scope)
    if examples >= 2:
        example_folds = fold_ids(examples, min(CV_FOLDS, examples))
        scores = ScoreMatrix.stack([scores, matcher.held_out_scores(example_folds)])
        expected += [None] * examples
        folds = np.concatenate([folds, example_folds])
        out_of_scope = np.array([e is None for e in evaluation.expected], dtype=bool)
        in_file = int(out_of_scope.sum())
        share = in_file / (in_file + examples) if in_file else 1.0
        weight = np.concatenate([np.where(out_of_scope, share, 1.0), np.full(examples, share)])
    return CalibrationData(scores, expected, folds, weight, n_file)


def measure(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
    reject_margin: float | None,
    wrong_cost: float,
) -> dict[str, Any]:
    figures: dict[str, Any] = metrics(
        scores, expected, semantic_weight, threshold, reject_margin, wrong_cost
    )
    figures["weights"] = {
        "semantic": round(semantic_weight, 4),
        "lexical": round(1 - semantic_weight, 4),
    }
    return figures


def cross_validation(
    data: CalibrationData,
    wrong_cost: float,
    weights: tuple[float, ...] = WEIGHT_GRID,
    use_reject_class: bool = True,
) -> CrossValidation | None:
    """Every fold calibrated without it and judged with that; None when the file has too few
    rows for the folds."""
    if data.n_file < 2 * CV_FOLDS:
        return None
    return cross_validate(
        data.scores,
        data.expected,
        data.folds,
        measured=data.measured,
        sample_weight=data.sample_weight,
        weights=weights,
        wrong_cost=wrong_cost,
        use_reject_class=use_reject_class,
    )


def judged_with(
    data: CalibrationData, calibrations: list[Calibration], wrong_cost: float
) -> dict[str, Any]:
    """The file's figures when each fold is judged with the given fold's calibration (another
    encoder's `cross_validation` of the same file and examples)."""
    return judge_out_of_fold(
        data.scores,
        data.expected,
        data.folds,
        calibrations,
        measured=data.measured,
        wrong_cost=wrong_cost,
    ).figures


def cross_validated(
    data: CalibrationData,
    wrong_cost: float,
    weights: tuple[float, ...] = WEIGHT_GRID,
    use_reject_class: bool = True,
) -> dict[str, Any]:
    """The `_cv` figures (None where the file has too few rows for the folds)."""
    result = cross_validation(data, wrong_cost, weights, use_reject_class)
    if result is None:
        return {f"{key}_cv": None for key in CV_METRICS} | {
            "rejected_by_cv": None,
            "corpus_oos_recall_cv": None,
        }
    figures = {f"{key}_cv": result.figures[key] for key in CV_METRICS}
    figures["rejected_by_cv"] = result.figures["rejected_by"]
    figures["corpus_oos_recall_cv"] = result.extra_oos_recall
    return figures


def _corpus_recall(data: CalibrationData, calibration: Calibration, wrong_cost: float) -> Any:
    if len(data.expected) == data.n_file:
        return None
    rows = np.arange(data.n_file, len(data.expected))
    return metrics(
        data.scores.subset(rows),
        data.expected[data.n_file :],
        calibration.semantic_weight,
        calibration.threshold,
        calibration.reject_margin,
        wrong_cost,
    )["oos_recall"]


def calibrate_and_measure(
    data: CalibrationData,
    wrong_cost: float,
    weights: tuple[float, ...] = WEIGHT_GRID,
    use_reject_class: bool = True,
) -> tuple[Calibration, dict[str, Any]]:
    """Calibrate on all of `data`, measure the file in-sample and cross-validated."""
    calibration = data.calibrated(wrong_cost, weights, use_reject_class)
    figures = measure(
        data.file_scores,
        data.file_expected,
        calibration.semantic_weight,
        calibration.threshold,
        calibration.reject_margin,
        wrong_cost,
    )
    figures["corpus_oos_recall"] = _corpus_recall(data, calibration, wrong_cost)
    figures.update(cross_validated(data, wrong_cost, weights, use_reject_class))
    figures["n_out_of_scope_examples"] = len(data.expected) - data.n_file
    figures["margin"] = calibrate_margin(
        data.file_scores,
        data.file_expected,
        calibration.semantic_weight,
        calibration.threshold,
        reject_margin=calibration.reject_margin,
    )
    figures["calibration"] = CALIBRATION_NOTE.format(folds=CV_FOLDS - 1)
    return calibration, figures


def evaluate_matcher(
    matcher: Matcher,
    threshold: float,
    reject_margin: float | None,
    evaluation: EvaluationSet,
    kind: str,
    wrong_cost: float,
    report_dir: Path | None = None,
    faq_names: dict[int, str] | None = None,
    title: str = "",
) -> dict[str, Any]:
    """Figures of a matcher at its served settings, plus the cross-validated ones.

    `semantic`/`lexical` isolate one signal: the served threshold and reject margin belong to
    the fused score, so such a run calibrates its own on this file and the out-of-scope
    examples, and says so. With `report_dir`, the full report (per-FAQ scores, confusions
    with the reject class, histograms, threshold sweep, margins) is written there too.
    """
    data = calibration_data(matcher, evaluation)
    weights = KIND_WEIGHTS[kind]
    weight = weights[0] if kind != "hybrid" else matcher.semantic_weight
    source = "served model version"
    if kind != "hybrid":
        own = data.calibrated(wrong_cost, weights)
        threshold, reject_margin = own.threshold, own.reject_margin
        source = "calibrated on this file and the out-of-scope examples for this matcher"
    figures = measure(
        data.file_scores, evaluation.expected, weight, threshold, reject_margin, wrong_cost
    )
    cv = cross_validated(data, wrong_cost, weights)
    figures.update(cv)
    figures.update(matcher=kind, threshold_source=source)
    if report_dir is not None:
        from training.report import write_report  # matplotlib: only when a report is asked for

        summary = write_report(
            data.file_scores,
            evaluation.expected,
            faq_names or {},
            weight,
            threshold,
            report_dir,
            title,
            reject_margin=reject_margin,
            texts=evaluation.texts,
            wrong_cost=wrong_cost,
            cross_validated=cv,
        )
        figures.update(margin=summary["margin"], report=str(report_dir))
    return figures
