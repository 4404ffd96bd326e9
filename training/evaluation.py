"""Metrics of a ranked FAQ answer list, and calibration of the fusion weight and threshold.

Works on score matrices (one row per message, one column per FAQ), so a weight sweep costs
one encoding pass; nothing here knows about Flask, SQL or the index.
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
