"""What the evaluation report says: where the matcher goes wrong, not just how often (issue 6).

Per-FAQ precision/recall/F1, the most confused FAQ pairs, a threshold sweep, and the summary
that `training.report` renders. Pure numbers on the score matrices of `training.evaluation`:
no Flask, SQL, index, files or matplotlib.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from training.evaluation import MAX_MARGIN
from training.evaluation import Ranking
from training.evaluation import ScoreMatrix
from training.evaluation import best_threshold
from training.evaluation import margin_calibration
from training.evaluation import metrics
from training.evaluation import overall_accuracy

SWEEP_TABLE_POINTS = 10


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def per_faq_metrics(
    scores: ScoreMatrix, expected: list[int | None], semantic_weight: float, threshold: float
) -> list[dict[str, Any]]:
    """Precision, recall and F1 of each FAQ, worst F1 first, to show which FAQs need work.

    A prediction is an answer (top-1 at or above the threshold), so out-of-scope messages that
    get an FAQ count against its precision. Undefined ratios are 0. FAQs with neither test
    messages nor predictions say nothing and go last; ties put the larger support first.
    """
    ranking = Ranking(scores, expected, semantic_weight)
    answered = ranking.answered(threshold)
    n_faqs = len(ranking.faq_ids)
    support = np.bincount(ranking.expected_cols[ranking.in_scope], minlength=n_faqs)
    predicted = np.bincount(ranking.top_cols[answered], minlength=n_faqs)
    correct = np.bincount(ranking.top_cols[answered & ranking.right_top], minlength=n_faqs)
    rows = []
    for col in range(n_faqs):
        precision = _ratio(int(correct[col]), int(predicted[col]))
        recall = _ratio(int(correct[col]), int(support[col]))
        f1 = _ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0
        rows.append(
            {
                "faq_id": ranking.faq_id(col),
                "support": int(support[col]),
                "predicted": int(predicted[col]),
                "correct": int(correct[col]),
                "precision": precision,
                "recall": recall,
                "f1": f1,
            }
        )
    rows.sort(
        key=lambda r: (
            r["support"] == 0 and r["predicted"] == 0,
            r["f1"],
            -r["support"],
            r["faq_id"],
        )
    )
    return rows


def confused_pairs(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
    top: int = 10,
) -> list[dict[str, Any]]:
    """The most frequent wrong answers, as (expected, predicted, count), to find FAQs to merge
    or reword.

    Only answered messages count (a fallback is no confusion). Out-of-scope messages answered
    with an FAQ appear with `expected` None. Ties: in-scope pairs first, then by FAQ ids.
    """
    ranking = Ranking(scores, expected, semantic_weight)
    wrong = ranking.answered(threshold) & ~ranking.right_top
    counts: Counter[tuple[int | None, int]] = Counter()
    for row in np.flatnonzero(wrong):
        col = int(ranking.expected_cols[row])
        expected_id = ranking.faq_id(col) if col >= 0 else None
        counts[(expected_id, ranking.faq_id(int(ranking.top_cols[row])))] += 1
    ordered = sorted(
        counts.items(),
        key=lambda item: (-item[1], item[0][0] is None, item[0][0] or 0, item[0][1]),
    )
    return [
        {"expected": expected_id, "predicted": predicted_id, "count": count}
        for (expected_id, predicted_id), count in ordered[:top]
    ]


def default_thresholds(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    points: int = SWEEP_TABLE_POINTS,
) -> np.ndarray:
    """Evenly spaced thresholds over the observed top-1 scores, rounded for readable tables."""
    top = Ranking(scores, expected, semantic_weight).top_scores
    return np.unique(np.round(np.linspace(top.min(), top.max(), points), 4))


def threshold_sweep(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    thresholds: np.ndarray | list[float] | None = None,
) -> list[dict[str, Any]]:
    """What each threshold trades: answered share and accuracy against caught out-of-scope.

    coverage: share of in-scope messages answered; answered_accuracy: right among those (None
    when none is answered); oos_recall: share of out-of-scope messages sent to the fallback
    (0 without any, as in `metrics`); overall_accuracy: as in `metrics`. Default thresholds:
    `default_thresholds`.
    """
    ranking = Ranking(scores, expected, semantic_weight)
    if thresholds is None:
        thresholds = default_thresholds(scores, expected, semantic_weight)
    grid = np.asarray(thresholds, dtype=np.float64)
    overall = overall_accuracy(ranking.fused, ranking.expected_cols, grid)
    n_in_scope = int(ranking.in_scope.sum())
    out_of_scope = ~ranking.in_scope
    rows = []
    for threshold, overall_at in zip(grid, overall, strict=True):
        answered = ranking.answered(float(threshold))
        answered_in_scope = int((answered & ranking.in_scope).sum())
        right = int((answered & ranking.right_top).sum())
        rows.append(
            {
                "threshold": float(threshold),
                "coverage": _ratio(answered_in_scope, n_in_scope),
                "answered_accuracy": right / answered_in_scope if answered_in_scope else None,
                "oos_recall": _ratio(
                    int((~answered & out_of_scope).sum()), int(out_of_scope.sum())
                ),
                "overall_accuracy": float(overall_at),
            }
        )
    return rows


def report_summary(
    scores: ScoreMatrix,
    expected: list[int | None],
    faq_names: dict[int, str],
    semantic_weight: float,
    threshold: float,
    title: str = "",
) -> dict[str, Any]:
    """Everything the report states, as JSON-ready data; `training.report` writes it out.

    Deterministic (same inputs, same summary), so reports of two model versions can be diffed.
    """
    ranking = Ranking(scores, expected, semantic_weight)

    def question(faq_id: int | None) -> str | None:
        return None if faq_id is None else faq_names.get(faq_id, "")

    headline = metrics(scores, expected, semantic_weight, threshold)
    best_at, best_accuracy = best_threshold(ranking.fused, ranking.expected_cols)
    margin, margin_utility, utility_at_zero, margin_rows = margin_calibration(
        ranking, threshold, MAX_MARGIN
    )
    per_faq = [
        {**row, "question": question(row["faq_id"])}
        for row in per_faq_metrics(scores, expected, semantic_weight, threshold)
    ]
    confused = [
        {
            **pair,
            "expected_question": question(pair["expected"]),
            "predicted_question": question(pair["predicted"]),
        }
        for pair in confused_pairs(scores, expected, semantic_weight, threshold)
    ]
    table_grid = np.unique(
        np.append(default_thresholds(scores, expected, semantic_weight), threshold)
    )
    sweep = threshold_sweep(scores, expected, semantic_weight, table_grid)
    ambiguous_share = (
        float((ranking.gaps[margin_rows] < margin).mean()) if margin_rows.size else 0.0
    )
    return {
        "title": title,
        "semantic_weight": float(semantic_weight),
        "threshold": float(threshold),
        "metrics": headline,
        "best_threshold_on_this_set": {
            "threshold": best_at,
            "overall_accuracy": best_accuracy,
        },
        "margin": margin,
        "margin_detail": {
            "utility": margin_utility,
            "utility_without_margin": utility_at_zero,
            "ambiguous_share": ambiguous_share,
            "judged_messages": int(margin_rows.size),
            "max_margin": MAX_MARGIN,
        },
        "per_faq": per_faq,
        "confused": confused,
        "sweep": sweep,
    }
