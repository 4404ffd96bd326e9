from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.evaluation import ScoreMatrix
from training.evaluation import metrics
from training.report import calibrate_margin
from training.report import confused_pairs
from training.report import per_faq_metrics
from training.report import threshold_sweep
from training.report import write_report

FAQS = np.array([10, 20, 30])
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def matrix(semantic: list[list[float]], faq_ids: np.ndarray = FAQS) -> ScoreMatrix:
    """Semantic weight 1.0 makes the fused score the semantic one; lexical is noise."""
    semantic_array = np.array(semantic, dtype=np.float64)
    return ScoreMatrix(faq_ids, semantic_array, np.zeros_like(semantic_array))


# Threshold 0.5. Top-1 and outcome per row in the comments.
CASE = matrix(
    [
        [0.9, 0.1, 0.0],  # 10 expected, 10 answered (0.9): right
        [0.8, 0.3, 0.1],  # 10 expected, 10 answered (0.8): right
        [0.6, 0.2, 0.1],  # 20 expected, 10 answered (0.6): wrong
        [0.1, 0.7, 0.2],  # 20 expected, 20 answered (0.7): right
        [0.1, 0.2, 0.4],  # 30 expected, 30 on top but 0.4 < 0.5: fallback
        [0.55, 0.1, 0.2],  # out of scope, 10 answered (0.55): wrong
        [0.1, 0.3, 0.2],  # out of scope, fallback (0.3): right
        [0.2, 0.65, 0.1],  # 30 expected, 20 answered (0.65): wrong
        [0.7, 0.5, 0.0],  # 20 expected, 10 answered (0.7): wrong
    ]
)
EXPECTED: list[int | None] = [10, 10, 20, 20, 30, None, None, 30, 20]
NAMES = {10: "What is FinBuddy?", 20: "Reset | password?", 30: "Delete my account"}


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


def test_margin_covers_a_close_wrong_answer_but_not_the_clear_right_ones():
    scores = matrix(
        [
            [0.9, 0.3, 0.1],  # right, gap 0.6
            [0.2, 0.8, 0.1],  # right, gap 0.6
            [0.1, 0.2, 0.9],  # right, gap 0.7
            [0.6, 0.5, 0.1],  # right, gap 0.1
            [0.5, 0.45, 0.1],  # 20 expected, 10 on top: wrong, gap 0.05
        ]
    )
    expected: list[int | None] = [10, 20, 30, 10, 20]
    # margin 0: 4/5 = 0.8; 0.075: (4 + 0.8) / 5 = 0.96; 0.2: (3 + 0.8 + 0.8) / 5 = 0.92
    margin = calibrate_margin(scores, expected, semantic_weight=1.0, threshold=0.0)
    assert margin == pytest.approx(0.075)
    assert 0.05 < margin < 0.1


def test_margin_is_zero_when_every_answer_is_clearly_right():
    scores = matrix([[0.9, 0.1, 0.0], [0.1, 0.8, 0.0], [0.0, 0.1, 0.95]])
    assert calibrate_margin(scores, [10, 20, 30], 1.0, 0.0) == 0.0


def test_margin_ties_go_to_the_smallest_and_ignore_unanswered_rows():
    faqs = np.array([10, 20, 30, 40])
    scores = matrix(
        [
            [0.7, 0.65, 0.1, 0.0],  # right, gap 0.05: asking costs 0.2
            [0.5, 0.4, 0.3, 0.2],  # 40 expected, not in top 3, gap 0.1: asking gains 0.2
            [0.9, 0.3, 0.1, 0.0],  # right, gap 0.6
            [0.3, 0.29, 0.0, 0.0],  # 20 expected, below the threshold: not judged
            [0.6, 0.59, 0.0, 0.0],  # out of scope: not judged
        ],
        faqs,
    )
    # margin 0: (1 + 0 + 1) / 3; margin 0.2: (0.8 + 0.2 + 1) / 3, equal: keep 0
    assert calibrate_margin(scores, [10, 40, 10, 20, None], 1.0, 0.35) == 0.0


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError):
        per_faq_metrics(CASE, EXPECTED[:-1], 1.0, 0.5)


def _strict_json(path: Path) -> dict:
    def reject(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def test_write_report_writes_every_file_with_the_numbers(tmp_path: Path):
    summary = write_report(CASE, EXPECTED, NAMES, 1.0, 0.5, tmp_path / "out", title="Nightly")
    out = tmp_path / "out"
    for name in ("scores_histogram.png", "threshold_sweep.png", "per_faq_f1.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 5000, name

    report = _strict_json(out / "report.json")
    assert report == json.loads(json.dumps(summary))
    headline = metrics(CASE, EXPECTED, 1.0, 0.5)
    assert report["metrics"] == pytest.approx(headline)
    assert report["threshold"] == 0.5 and report["semantic_weight"] == 1.0
    assert [r["faq_id"] for r in report["per_faq"]] == [30, 20, 10]
    assert report["per_faq"][1]["f1"] == pytest.approx(0.4)
    assert report["per_faq"][1]["question"] == "Reset | password?"
    assert report["confused"][0] == {
        "expected": 20,
        "predicted": 10,
        "count": 2,
        "expected_question": "Reset | password?",
        "predicted_question": "What is FinBuddy?",
    }
    assert report["confused"][2]["expected"] is None
    assert report["confused"][2]["expected_question"] is None
    assert report["margin"] == pytest.approx(calibrate_margin(CASE, EXPECTED, 1.0, 0.5))
    served = [r for r in report["sweep"] if r["threshold"] == 0.5]
    assert len(served) == 1 and served[0]["coverage"] == pytest.approx(6 / 7)
    assert 9 <= len(report["sweep"]) <= 11

    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Nightly\n")
    assert f"| overall_accuracy | {headline['overall_accuracy']:.3f} |" in markdown
    assert "| accuracy_at_1 | 0.571 |" in markdown  # rows 0, 1, 3, 4 of 7 have it on top
    assert "Reset \\| password?" in markdown  # a pipe in a question must not split the cell
    assert "| 30 | Delete my account | 2 | 0 | 0.000 | 0.000 | 0.000 |" in markdown
    assert "| #20 Reset \\| password? | #10 What is FinBuddy? | 2 |" in markdown
    assert "| out of scope | #10 What is FinBuddy? | 1 |" in markdown
    assert f"Ambiguity margin: {report['margin']:.3f}" in markdown
    assert "| **0.500** | 0.857 | 0.500 | 0.500 | 0.444 |" in markdown
    for name in ("scores_histogram.png", "threshold_sweep.png", "per_faq_f1.png"):
        assert f"]({name})" in markdown


def test_write_report_is_deterministic(tmp_path: Path):
    write_report(CASE, EXPECTED, NAMES, 1.0, 0.5, tmp_path / "a")
    write_report(CASE, EXPECTED, NAMES, 1.0, 0.5, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [
        "per_faq_f1.png",
        "report.json",
        "report.md",
        "scores_histogram.png",
        "threshold_sweep.png",
    ]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


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
