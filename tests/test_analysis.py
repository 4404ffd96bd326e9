"""Per-FAQ metrics, confusions, the threshold sweep and the report summary, by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from report_case import CASE
from report_case import EXPECTED
from report_case import FAQS
from report_case import NAMES
from report_case import matrix

from training.analysis import confused_pairs
from training.analysis import per_faq_metrics
from training.analysis import report_summary
from training.analysis import threshold_sweep
from training.evaluation import MAX_MARGIN
from training.evaluation import ScoreMatrix
from training.evaluation import calibrate_margin
from training.evaluation import metrics


def test_per_faq_precision_recall_f1_worst_first():
    rows = per_faq_metrics(CASE, EXPECTED, semantic_weight=1.0, threshold=0.5)
    assert [r["faq_id"] for r in rows] == [30, 20, 10]
    by_id = {r["faq_id"]: r for r in rows}
    # 10: answered on rows 0, 1, 2, 5, 8; right on 0, 1 of its 2 messages
    assert (by_id[10]["support"], by_id[10]["predicted"], by_id[10]["correct"]) == (2, 5, 2)
    assert by_id[10]["precision"] == pytest.approx(0.4)
    assert by_id[10]["recall"] == pytest.approx(1.0)
    assert by_id[10]["f1"] == pytest.approx(2 * 0.4 / 1.4)
    # 20: answered on rows 3, 7; right on 3 of its 3 messages (2, 3, 8)
    assert (by_id[20]["support"], by_id[20]["predicted"], by_id[20]["correct"]) == (3, 2, 1)
    assert by_id[20]["precision"] == pytest.approx(0.5)
    assert by_id[20]["recall"] == pytest.approx(1 / 3)
    assert by_id[20]["f1"] == pytest.approx(0.4)
    # 30: never answered (row 4 falls back), so precision is undefined -> 0
    assert (by_id[30]["support"], by_id[30]["predicted"]) == (2, 0)
    assert by_id[30]["precision"] == by_id[30]["recall"] == by_id[30]["f1"] == 0.0


def test_per_faq_puts_faqs_without_messages_or_answers_last():
    scores = matrix([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]])
    rows = per_faq_metrics(scores, [20, 10], semantic_weight=1.0, threshold=0.5)
    assert [r["faq_id"] for r in rows] == [10, 20, 30]  # 10, 20: F1 0, with support; 30: none


def test_confused_pairs_counts_most_frequent_first():
    pairs = confused_pairs(CASE, EXPECTED, semantic_weight=1.0, threshold=0.5)
    assert pairs == [
        {"expected": 20, "predicted": 10, "count": 2},
        {"expected": 30, "predicted": 20, "count": 1},
        {"expected": None, "predicted": 10, "count": 1},
    ]
    assert confused_pairs(CASE, EXPECTED, 1.0, 0.5, top=1) == pairs[:1]
    # at 0.62 rows 2 (0.6) and 5 (0.55) fall back: neither is a confusion any more
    assert confused_pairs(CASE, EXPECTED, 1.0, 0.62) == [
        {"expected": 20, "predicted": 10, "count": 1},
        {"expected": 30, "predicted": 20, "count": 1},
    ]


def test_threshold_sweep_at_hand_computed_thresholds():
    sweep = threshold_sweep(CASE, EXPECTED, 1.0, [0.35, 0.5, 0.75, 0.95])
    assert [r["threshold"] for r in sweep] == [0.35, 0.5, 0.75, 0.95]
    low, served, high, above_all = sweep
    # 7 in-scope messages, 2 out of scope
    assert low["coverage"] == pytest.approx(1.0)
    assert low["answered_accuracy"] == pytest.approx(4 / 7)
    assert low["oos_recall"] == pytest.approx(0.5)
    assert low["overall_accuracy"] == pytest.approx(5 / 9)
    assert served["coverage"] == pytest.approx(6 / 7)
    assert served["answered_accuracy"] == pytest.approx(3 / 6)
    assert served["oos_recall"] == pytest.approx(0.5)
    assert served["overall_accuracy"] == pytest.approx(4 / 9)
    assert served["overall_accuracy"] == pytest.approx(
        metrics(CASE, EXPECTED, 1.0, 0.5)["overall_accuracy"]
    )
    assert high["coverage"] == pytest.approx(2 / 7)
    assert high["answered_accuracy"] == pytest.approx(1.0)
    assert high["oos_recall"] == pytest.approx(1.0)
    assert high["overall_accuracy"] == pytest.approx(4 / 9)
    assert above_all["coverage"] == 0.0
    assert above_all["answered_accuracy"] is None
    assert above_all["overall_accuracy"] == pytest.approx(2 / 9)


def test_threshold_sweep_default_grid_spans_the_top_scores():
    sweep = threshold_sweep(CASE, EXPECTED, 1.0)
    assert len(sweep) == 10
    assert sweep[0]["threshold"] == pytest.approx(0.3)  # lowest top-1: everything answered
    assert sweep[0]["coverage"] == 1.0
    assert sweep[-1]["threshold"] == pytest.approx(0.9)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError):
        per_faq_metrics(CASE, EXPECTED[:-1], 1.0, 0.5)


def test_report_figures_agree_with_metrics_on_float32_scores():
    rng = np.random.default_rng(3)
    semantic = rng.random((60, 3)).astype(np.float32)
    lexical = rng.random((60, 3)).astype(np.float32)
    scores = ScoreMatrix(FAQS, semantic, lexical)
    expected: list[int | None] = [[10, 20, 30, None][i % 4] for i in range(60)]
    fused_top = scores.fused(0.3).max(axis=1)
    for threshold in (0.4, 0.55, float(fused_top[7]), float(np.median(fused_top))):
        figures = metrics(scores, expected, 0.3, threshold)
        (row,) = threshold_sweep(scores, expected, 0.3, [threshold])
        assert row["overall_accuracy"] == pytest.approx(figures["overall_accuracy"])
        assert row["oos_recall"] == pytest.approx(figures["oos_recall"])
        per_faq = per_faq_metrics(scores, expected, 0.3, threshold)
        n_in_scope = figures["n_in_scope"]
        right_in_scope = sum(r["correct"] for r in per_faq)
        assert right_in_scope == pytest.approx(
            row["coverage"] * n_in_scope * (row["answered_accuracy"] or 0)
        )
        right_oos = figures["oos_recall"] * figures["n_out_of_scope"]
        assert (right_in_scope + right_oos) / 60 == pytest.approx(figures["overall_accuracy"])


def test_report_summary_states_the_served_and_the_best_calibration():
    summary = report_summary(CASE, EXPECTED, NAMES, 1.0, 0.5, title="Nightly")
    assert summary["title"] == "Nightly"
    assert summary["threshold"] == 0.5 and summary["semantic_weight"] == 1.0
    assert summary["metrics"] == metrics(CASE, EXPECTED, 1.0, 0.5)
    # a wrong answer costs 3: the cheapest threshold answers rows 0 and 1 only (0.7 < t <= 0.8)
    # and refuses 5 in-scope rows (cost 5 of 9 rows); answering from 0.7 adds right row 3
    # but wrong row 8 (+3 - 1), and lower thresholds add more wrong answers
    best = summary["best_on_this_set"]
    assert best["cost"] == pytest.approx(5 / 9)
    assert best["threshold"] == pytest.approx(0.75)
    assert best["overall_accuracy"] == pytest.approx(4 / 9)  # rows 0, 1 and fallbacks 5, 6
    assert best["reject_margin"] is None and summary["reject_class"] is False
    assert summary["margin"] == calibrate_margin(CASE, EXPECTED, 1.0, 0.5)
    assert summary["outcomes"]["in_scope"] == {
        "answered_right": 3,
        "answered_wrong": 3,
        "threshold": 1,
        "reject_class": 0,
    }
    assert [m["rule"] for m in summary["messages"]].count("threshold") == 2
    detail = summary["margin_detail"]
    assert detail["judged_messages"] == 6  # in-scope rows answered at 0.5: 0, 1, 2, 3, 7, 8
    assert detail["max_margin"] == MAX_MARGIN
    assert detail["utility_without_margin"] == pytest.approx(3 / 6)  # 0, 1, 3 of them right
    assert [r["question"] for r in summary["per_faq"]] == [NAMES[30], NAMES[20], NAMES[10]]
    assert summary["confused"][0]["expected_question"] == NAMES[20]
    assert summary["confused"][2]["expected_question"] is None  # out of scope
    assert 0.5 in [r["threshold"] for r in summary["sweep"]]  # the served threshold is a row
    assert "files" not in summary  # what gets written is the renderer's business
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
