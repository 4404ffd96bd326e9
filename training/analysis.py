"""What the evaluation report says: where the matcher goes wrong, not just how often (issue 6).

Per-FAQ precision/recall/F1, the most confused FAQ pairs, confusions between FAQs and the
reject class, which rule sent each message to the fallback, a threshold sweep, and the summary
that `training.report` renders. Pure numbers on the score matrices of `training.evaluation`:
no Flask, SQL, index, files or matplotlib.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from training.evaluation import DEFAULT_WRONG_ANSWER_COST
from training.evaluation import MAX_MARGIN
from training.evaluation import REJECT_RULE
from training.evaluation import THRESHOLD_RULE
from training.evaluation import Outcomes
from training.evaluation import Ranking
from training.evaluation import ScoreMatrix
from training.evaluation import calibrate
from training.evaluation import margin_calibration
from training.evaluation import metrics
from training.evaluation import summarise

SWEEP_TABLE_POINTS = 10


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def per_faq_metrics(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
    reject_margin: float | None = None,
) -> list[dict[str, Any]]:
    """Precision, recall and F1 of each FAQ, worst F1 first, to show which FAQs need work.

    A prediction is an answer (top-1 neither below the threshold nor beaten by the reject
    class), so out-of-scope messages that get an FAQ count against its precision. Undefined
    ratios are 0. FAQs with neither test messages nor predictions say nothing and go last;
    ties put the larger support first.
    """
    ranking = Ranking(scores, expected, semantic_weight)
    answered = ranking.answered(threshold, reject_margin)
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
    reject_margin: float | None = None,
) -> list[dict[str, Any]]:
    """The most frequent wrong answers, as (expected, predicted, count), to find FAQs to merge
    or reword.

    Only answered messages count (a fallback is no confusion). Out-of-scope messages answered
    with an FAQ appear with `expected` None. Ties: in-scope pairs first, then by FAQ ids.
    """
    ranking = Ranking(scores, expected, semantic_weight)
    wrong = ranking.answered(threshold, reject_margin) & ~ranking.right_top
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


def reject_class_confusions(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
    reject_margin: float | None,
) -> list[dict[str, Any]]:
    """Per FAQ, both ways: its messages the reject class refused, and out-of-scope messages
    answered with it. The FAQs where the two classes meet, most confused first.
    """
    ranking = Ranking(scores, expected, semantic_weight)
    _, beaten = ranking.rules(threshold, reject_margin)
    answered = ranking.answered(threshold, reject_margin)
    n_faqs = len(ranking.faq_ids)
    refused = np.bincount(ranking.expected_cols[beaten & ranking.in_scope], minlength=n_faqs)
    leaked = np.bincount(ranking.top_cols[answered & ~ranking.in_scope], minlength=n_faqs)
    rows = [
        {
            "faq_id": ranking.faq_id(col),
            "refused_in_scope": int(refused[col]),
            "answered_out_of_scope": int(leaked[col]),
        }
        for col in range(n_faqs)
        if refused[col] or leaked[col]
    ]
    return sorted(
        rows, key=lambda r: (-(r["refused_in_scope"] + r["answered_out_of_scope"]), r["faq_id"])
    )


def outcome_table(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
    reject_margin: float | None,
) -> dict[str, dict[str, int]]:
    """In scope and out of scope, each: answered right, answered wrong, fallback by each rule."""
    ranking = Ranking(scores, expected, semantic_weight)
    below, beaten = ranking.rules(threshold, reject_margin)
    answered = ~(below | beaten)
    table = {}
    for name, rows in (("in_scope", ranking.in_scope), ("out_of_scope", ~ranking.in_scope)):
        table[name] = {
            "answered_right": int((rows & answered & ranking.right_top).sum()),
            "answered_wrong": int((rows & answered & ~ranking.right_top).sum()),
            THRESHOLD_RULE: int((rows & below).sum()),
            REJECT_RULE: int((rows & beaten).sum()),
        }
    return table


def message_outcomes(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
    reject_margin: float | None,
    texts: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Every message: what the bot did and which rule (if any) sent it to the fallback."""
    ranking = Ranking(scores, expected, semantic_weight)
    below, beaten = ranking.rules(threshold, reject_margin)
    rows = []
    for row in range(len(ranking.top_scores)):
        col = int(ranking.expected_cols[row])
        rule = THRESHOLD_RULE if below[row] else REJECT_RULE if beaten[row] else None
        if rule is not None:
            outcome = "fallback" if col < 0 else "refused"
        else:
            outcome = "right" if ranking.right_top[row] else "wrong"
        lead = float(ranking.reject_lead[row])
        rows.append(
            {
                "text": texts[row] if texts is not None else None,
                "expected": ranking.faq_id(col) if col >= 0 else None,
                "top_faq": ranking.faq_id(int(ranking.top_cols[row])),
                "top_score": float(ranking.top_scores[row]),
                "reject_score": float(ranking.reject_scores[row])
                if ranking.has_reject_class
                else None,
                "reject_lead": lead if np.isfinite(lead) else None,
                "outcome": outcome,
                "rule": rule,
            }
        )
    return rows


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
    reject_margin: float | None = None,
    wrong_cost: float = DEFAULT_WRONG_ANSWER_COST,
) -> list[dict[str, Any]]:
    """What each threshold trades (the reject margin held fixed).

    coverage: share of in-scope messages answered; answered_accuracy: right among those (None
    when none is answered); oos_recall: share of out-of-scope messages sent to the fallback
    (0 without any, as in `metrics`); overall_accuracy and cost: as in `metrics`. Default
    thresholds: `default_thresholds`.
    """
    ranking = Ranking(scores, expected, semantic_weight)
    if thresholds is None:
        thresholds = default_thresholds(scores, expected, semantic_weight)
    n_in_scope = int(ranking.in_scope.sum())
    rows = []
    for threshold in np.asarray(thresholds, dtype=np.float64):
        outcomes = Outcomes.of(ranking, float(threshold), reject_margin)
        figures = summarise(outcomes, wrong_cost)
        answered = ~outcomes.fallback
        answered_in_scope = int((answered & ranking.in_scope).sum())
        right = int((answered & ranking.right_top).sum())
        rows.append(
            {
                "threshold": float(threshold),
                "coverage": _ratio(answered_in_scope, n_in_scope),
                "answered_accuracy": right / answered_in_scope if answered_in_scope else None,
                "oos_recall": figures["oos_recall"],
                "overall_accuracy": figures["overall_accuracy"],
                "cost": figures["cost"],
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
    *,
    reject_margin: float | None = None,
    texts: list[str] | None = None,
    wrong_cost: float = DEFAULT_WRONG_ANSWER_COST,
) -> dict[str, Any]:
    """Everything the report states, as JSON-ready data; `training.report` writes it out.

    Deterministic (same inputs, same summary), so reports of two model versions can be diffed.
    """
    ranking = Ranking(scores, expected, semantic_weight)

    def question(faq_id: int | None) -> str | None:
        return None if faq_id is None else faq_names.get(faq_id, "")

    headline = metrics(scores, expected, semantic_weight, threshold, reject_margin, wrong_cost)
    best = calibrate(scores, expected, (semantic_weight,), wrong_cost=wrong_cost)
    best_figures = metrics(
        scores, expected, semantic_weight, best.threshold, best.reject_margin, wrong_cost
    )
    margin, margin_utility, utility_at_zero, margin_rows = margin_calibration(
        ranking, threshold, MAX_MARGIN, reject_margin
    )
    per_faq = [
        {**row, "question": question(row["faq_id"])}
        for row in per_faq_metrics(scores, expected, semantic_weight, threshold, reject_margin)
    ]
    confused = [
        {
            **pair,
            "expected_question": question(pair["expected"]),
            "predicted_question": question(pair["predicted"]),
        }
        for pair in confused_pairs(
            scores, expected, semantic_weight, threshold, reject_margin=reject_margin
        )
    ]
    with_reject = [
        {**row, "question": question(row["faq_id"])}
        for row in reject_class_confusions(
            scores, expected, semantic_weight, threshold, reject_margin
        )
    ]
    messages = [
        {
            **row,
            "expected_question": question(row["expected"]),
            "top_question": question(row["top_faq"]),
        }
        for row in message_outcomes(
            scores, expected, semantic_weight, threshold, reject_margin, texts
        )
    ]
    table_grid = np.unique(
        np.append(default_thresholds(scores, expected, semantic_weight), threshold)
    )
    sweep = threshold_sweep(
        scores, expected, semantic_weight, table_grid, reject_margin, wrong_cost
    )
    ambiguous_share = (
        float((ranking.gaps[margin_rows] < margin).mean()) if margin_rows.size else 0.0
    )
    return {
        "title": title,
        "semantic_weight": float(semantic_weight),
        "threshold": float(threshold),
        "reject_margin": reject_margin,
        "reject_class": ranking.has_reject_class,
        "wrong_answer_cost": float(wrong_cost),
        "metrics": headline,
        "best_on_this_set": {
            "threshold": best.threshold,
            "reject_margin": best.reject_margin,
            "cost": best_figures["cost"],
            "overall_accuracy": best_figures["overall_accuracy"],
        },
        "margin": margin,
        "margin_detail": {
            "utility": margin_utility,
            "utility_without_margin": utility_at_zero,
            "ambiguous_share": ambiguous_share,
            "judged_messages": int(margin_rows.size),
            "max_margin": MAX_MARGIN,
        },
        "outcomes": outcome_table(scores, expected, semantic_weight, threshold, reject_margin),
        "per_faq": per_faq,
        "confused": confused,
        "reject_class_confusions": with_reject,
        "messages": messages,
        "sweep": sweep,
    }
