"""Metrics of a ranked FAQ answer list, and calibration of the serving parameters.

The serving parameters are the fusion weight, the threshold and the ambiguity margin. Works on
score matrices (one row per message, one column per FAQ), so a weight sweep costs one encoding
pass; nothing here knows about Flask, SQL, the index or matplotlib (web workers import it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEIGHT_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))
HEADLINE_METRICS = (
    "accuracy_at_1",
    "accuracy_at_3",
    "mrr",
    "oos_precision",
    "oos_recall",
    "overall_accuracy",
    "threshold",
)
# Utility of one answered in-scope message, by how the bot reacts (see calibrate_margin).
UTILITY_CONFIDENT_RIGHT = 1.0
UTILITY_CONFIDENT_WRONG = 0.0
UTILITY_ASK_FOUND = 0.8  # "did you mean" lists the right FAQ: one extra click
UTILITY_ASK_MISSED = 0.2  # "did you mean" without it: the user rephrases
MAX_MARGIN = 0.2


@dataclass(frozen=True)
class ScoreMatrix:
    """Per-FAQ scores of a batch of messages: semantic and lexical, same shape."""

    faq_ids: np.ndarray  # (n_faqs,)
    semantic: np.ndarray  # (n_messages, n_faqs)
    lexical: np.ndarray  # (n_messages, n_faqs)

    def fused(self, semantic_weight: float) -> np.ndarray:
        return semantic_weight * self.semantic + (1.0 - semantic_weight) * self.lexical

    def subset(self, rows: np.ndarray) -> ScoreMatrix:
        return ScoreMatrix(self.faq_ids, self.semantic[rows], self.lexical[rows])


@dataclass(frozen=True)
class Calibration:
    semantic_weight: float
    threshold: float
    overall_accuracy: float


def expected_columns(faq_ids: np.ndarray, expected: list[int | None]) -> np.ndarray:
    """Column of each message's expected FAQ; -1 for out-of-scope (or an FAQ not indexed)."""
    column_of = {int(faq_id): col for col, faq_id in enumerate(faq_ids)}
    return np.array([column_of.get(e, -1) if e is not None else -1 for e in expected])


def overall_accuracy(
    fused: np.ndarray, expected_cols: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Overall accuracy at each threshold: right FAQ above it, or out-of-scope below it."""
    top_cols = fused.argmax(axis=1)
    top_scores = fused[np.arange(len(fused)), top_cols]
    in_scope = expected_cols >= 0
    right_faq = in_scope & (top_cols == expected_cols)
    answered = top_scores[None, :] >= thresholds[:, None]
    correct = np.where(answered, right_faq[None, :], ~in_scope[None, :])
    return correct.mean(axis=1)


def best_threshold(fused: np.ndarray, expected_cols: np.ndarray) -> tuple[float, float]:
    """Threshold maximising overall accuracy; ties go to the middle of the best range."""
    top_scores = np.unique(fused.max(axis=1))
    candidates = np.concatenate(
        [[top_scores[0] - 1e-3], (top_scores[:-1] + top_scores[1:]) / 2, [top_scores[-1] + 1e-3]]
    )
    accuracy = overall_accuracy(fused, expected_cols, candidates)
    best = np.flatnonzero(accuracy == accuracy.max())
    chosen = best[len(best) // 2]
    return float(candidates[chosen]), float(accuracy[chosen])


def calibrate(
    scores: ScoreMatrix,
    expected: list[int | None],
    weights: tuple[float, ...] = WEIGHT_GRID,
) -> Calibration:
    """Pick the fusion weight and threshold that maximise overall accuracy.

    Ties prefer the higher accuracy@1, then the weight closest to an even mix.
    """
    expected_cols = expected_columns(scores.faq_ids, expected)
    best: tuple[tuple[float, float, float], Calibration] | None = None
    for weight in weights:
        fused = scores.fused(weight)
        threshold, accuracy = best_threshold(fused, expected_cols)
        in_scope = expected_cols >= 0
        top1 = (
            float((fused.argmax(axis=1) == expected_cols)[in_scope].mean())
            if in_scope.any()
            else 0
        )
        key = (accuracy, top1, -abs(weight - 0.5))
        if best is None or key > best[0]:
            best = (key, Calibration(float(weight), threshold, accuracy))
    assert best is not None
    return best[1]


def metrics(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
) -> dict[str, float | int]:
    """The DESIGN.md evaluation figures for one weight and threshold."""
    fused = scores.fused(semantic_weight)
    expected_cols = expected_columns(scores.faq_ids, expected)
    in_scope = expected_cols >= 0
    order = np.argsort(-fused, axis=1, kind="stable")
    top_cols = order[:, 0]
    top_scores = fused[np.arange(len(fused)), top_cols]
    fallback = top_scores < threshold

    ranks = np.argmax(order == expected_cols[:, None], axis=1) + 1
    found = (order == expected_cols[:, None]).any(axis=1)
    reciprocal = np.where(found, 1.0 / ranks, 0.0)

    out_of_scope = ~in_scope
    right = np.where(in_scope, ~fallback & (top_cols == expected_cols), fallback)

    def mean(values: np.ndarray) -> float:
        return float(values.mean()) if values.size else 0.0

    n_fallback = int(fallback.sum())
    return {
        "n": int(len(expected)),
        "n_in_scope": int(in_scope.sum()),
        "n_out_of_scope": int(out_of_scope.sum()),
        "accuracy_at_1": mean((top_cols == expected_cols)[in_scope]),
        "accuracy_at_3": mean(((ranks <= 3) & found)[in_scope]),
        "mrr": mean(reciprocal[in_scope]),
        "oos_precision": float((fallback & out_of_scope).sum() / n_fallback)
        if n_fallback
        else 0.0,
        "oos_recall": mean(fallback[out_of_scope]),
        "overall_accuracy": mean(right),
        "threshold": float(threshold),
    }


def cross_validated_accuracy(
    scores: ScoreMatrix,
    expected: list[int | None],
    folds: int = 5,
    seed: int = 0,
    weights: tuple[float, ...] = WEIGHT_GRID,
) -> float:
    """Overall accuracy when weight and threshold are calibrated on other folds than measured.

    Calibrating and reporting on the same rows flatters the threshold; this says by how much.
    """
    n = len(expected)
    if n < folds * 2:
        return float("nan")
    order = np.random.default_rng(seed).permutation(n)
    correct = 0.0
    for fold in range(folds):
        held_out = order[fold::folds]
        train = np.setdiff1d(order, held_out)
        calibration = calibrate(scores.subset(train), [expected[i] for i in train], weights)
        held = metrics(
            scores.subset(held_out),
            [expected[i] for i in held_out],
            calibration.semantic_weight,
            calibration.threshold,
        )
        correct += held["overall_accuracy"] * len(held_out)
    return correct / n


class Ranking:
    """Ranked answers of every message at one fusion weight, shared by the margin and report."""

    def __init__(self, scores: ScoreMatrix, expected: list[int | None], semantic_weight: float):
        if len(expected) != len(scores.semantic):
            raise ValueError(f"{len(expected)} expected FAQs for {len(scores.semantic)} messages")
        if not len(expected):
            raise ValueError("no messages to report on")
        self.faq_ids = np.asarray(scores.faq_ids)
        # native dtype, so threshold comparisons round exactly as in `metrics`
        self.fused = np.asarray(scores.fused(semantic_weight))
        self.expected_cols = expected_columns(self.faq_ids, expected)
        self.in_scope = self.expected_cols >= 0
        # stable sort, as in `metrics`, so ties rank the same way everywhere
        self.order = np.argsort(-self.fused, axis=1, kind="stable")
        rows = np.arange(len(self.fused))
        self.top_cols = self.order[:, 0]
        self.top_scores = self.fused[rows, self.top_cols]
        self.right_top = self.in_scope & (self.top_cols == self.expected_cols)
        if self.fused.shape[1] > 1:
            second = self.fused[rows, self.order[:, 1]]
            self.gaps = self.top_scores.astype(np.float64) - second.astype(np.float64)
        else:
            self.gaps = np.full(len(self.fused), np.inf)  # a lone FAQ is never ambiguous
        self.in_top3 = (self.order[:, :3] == self.expected_cols[:, None]).any(axis=1)

    def answered(self, threshold: float) -> np.ndarray:
        """Same rule as `metrics`: the fallback is a top score below the threshold."""
        return self.top_scores >= threshold

    def faq_id(self, col: int) -> int:
        return int(self.faq_ids[col])


def _margin_utility(ranking: Ranking, rows: np.ndarray, margin: float) -> float:
    ambiguous = ranking.gaps[rows] < margin
    right = ranking.right_top[rows]
    found = ranking.in_top3[rows]
    utility = np.where(
        ambiguous,
        np.where(found, UTILITY_ASK_FOUND, UTILITY_ASK_MISSED),
        np.where(right, UTILITY_CONFIDENT_RIGHT, UTILITY_CONFIDENT_WRONG),
    )
    return float(utility.mean())


def _margin_candidates(gaps: np.ndarray, max_margin: float) -> np.ndarray:
    unique = np.unique(gaps[np.isfinite(gaps)])
    midpoints = (unique[:-1] + unique[1:]) / 2
    return np.unique(np.concatenate([[0.0], np.clip(midpoints, 0.0, max_margin)]))


def calibrate_margin(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
    max_margin: float = MAX_MARGIN,
) -> float:
    """Ambiguity margin: answer only when top1 - top2 >= margin, else ask "did you mean" (top 3).

    A close second place is where wrong answers hide; asking costs the user one click, a wrong
    answer costs the whole question. Rule: over the in-scope messages that get an answer at
    `threshold`, score each one confident and right 1.0, confident and wrong 0.0, ambiguous with
    the right FAQ in the top 3 0.8, ambiguous without it 0.2; candidates are 0 and the midpoints
    between consecutive observed gaps, clipped to `max_margin`; return the candidate with the
    highest mean utility, the smallest one on ties (0 when nothing is answered).
    """
    ranking = Ranking(scores, expected, semantic_weight)
    return margin_calibration(ranking, threshold, max_margin)[0]


def margin_calibration(
    ranking: Ranking, threshold: float, max_margin: float
) -> tuple[float, float, float, np.ndarray]:
    """`calibrate_margin` with the figures the report shows.

    Returns (margin, utility at it, utility at 0, the rows it is judged on).
    """
    rows = np.flatnonzero(ranking.answered(threshold) & ranking.in_scope)
    if not rows.size:
        return 0.0, 0.0, 0.0, rows
    candidates = _margin_candidates(ranking.gaps[rows], max_margin)
    utilities = np.array([_margin_utility(ranking, rows, m) for m in candidates])
    best = int(np.flatnonzero(utilities == utilities.max())[0])  # candidates are ascending
    return float(candidates[best]), float(utilities[best]), float(utilities[0]), rows
