"""Evaluation report: where the matcher goes wrong, not just how often (GitHub issue 6).

Works on the same score matrices as `training.evaluation`, so it needs no Flask, SQL or index;
the figures are drawn with matplotlib's Agg canvas (no pyplot, no GUI, no global state), so a
CLI or a worker thread can call it safely.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from training.evaluation import HEADLINE_METRICS
from training.evaluation import ScoreMatrix
from training.evaluation import best_threshold
from training.evaluation import expected_columns
from training.evaluation import metrics
from training.evaluation import overall_accuracy

# Utility of one answered in-scope message, by how the bot reacts (see calibrate_margin).
UTILITY_CONFIDENT_RIGHT = 1.0
UTILITY_CONFIDENT_WRONG = 0.0
UTILITY_ASK_FOUND = 0.8  # "did you mean" lists the right FAQ: one extra click
UTILITY_ASK_MISSED = 0.2  # "did you mean" without it: the user rephrases
MAX_MARGIN = 0.2
SWEEP_TABLE_POINTS = 10
SWEEP_PLOT_POINTS = 101
MAX_F1_BARS = 40

PNG_FILES = ("scores_histogram.png", "threshold_sweep.png", "per_faq_f1.png")


class _Ranking:
    """Ranked answers of every message at one fusion weight, shared by the report's parts."""

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
    ranking = _Ranking(scores, expected, semantic_weight)
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
    ranking = _Ranking(scores, expected, semantic_weight)
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
    top = _Ranking(scores, expected, semantic_weight).top_scores
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
    ranking = _Ranking(scores, expected, semantic_weight)
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


def _margin_utility(ranking: _Ranking, rows: np.ndarray, margin: float) -> float:
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
    ranking = _Ranking(scores, expected, semantic_weight)
    return _calibrate_margin(ranking, threshold, max_margin)[0]


def _calibrate_margin(
    ranking: _Ranking, threshold: float, max_margin: float
) -> tuple[float, float, float, np.ndarray]:
    """(margin, utility at it, utility at 0, the rows it is judged on)."""
    rows = np.flatnonzero(ranking.answered(threshold) & ranking.in_scope)
    if not rows.size:
        return 0.0, 0.0, 0.0, rows
    candidates = _margin_candidates(ranking.gaps[rows], max_margin)
    utilities = np.array([_margin_utility(ranking, rows, m) for m in candidates])
    best = int(np.flatnonzero(utilities == utilities.max())[0])  # candidates are ascending
    return float(candidates[best]), float(utilities[best]), float(utilities[0]), rows


def write_report(
    scores: ScoreMatrix,
    expected: list[int | None],
    faq_names: dict[int, str],
    semantic_weight: float,
    threshold: float,
    out_dir: Path,
    title: str = "",
) -> dict[str, Any]:
    """Write report.md, report.json and three PNG charts into out_dir; return the summary.

    Deterministic (same inputs, same bytes), so reports of two model versions can be diffed.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ranking = _Ranking(scores, expected, semantic_weight)

    def question(faq_id: int | None) -> str | None:
        return None if faq_id is None else faq_names.get(faq_id, "")

    headline = metrics(scores, expected, semantic_weight, threshold)
    best_at, best_accuracy = best_threshold(ranking.fused, ranking.expected_cols)
    margin, margin_utility, utility_at_zero, margin_rows = _calibrate_margin(
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
    summary: dict[str, Any] = {
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
        "files": ["report.md", "report.json", *PNG_FILES],
    }

    _plot_histogram(ranking, threshold, out_dir / "scores_histogram.png")
    _plot_sweep(
        scores, expected, semantic_weight, ranking, threshold, out_dir / "threshold_sweep.png"
    )
    _plot_f1(per_faq, out_dir / "per_faq_f1.png")
    (out_dir / "report.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out_dir / "report.md").write_text(_markdown(summary), encoding="utf-8")
    return summary


# --- figures ---------------------------------------------------------------------------------


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    # no Software/date metadata: the bytes depend on the data only
    figure.savefig(path, dpi=100, metadata={"Software": None})


def _plot_histogram(ranking: _Ranking, threshold: float, path: Path) -> None:
    groups = (
        ("right FAQ on top", ranking.right_top, "tab:green"),
        ("wrong FAQ on top", ranking.in_scope & ~ranking.right_top, "tab:red"),
        ("out of scope", ~ranking.in_scope, "tab:gray"),
    )
    top = ranking.top_scores
    low, high = float(min(top.min(), threshold)), float(max(top.max(), threshold))
    bins = np.linspace(low - 1e-6, high + 1e-6, 31)
    figure = Figure(figsize=(8, 4.5))
    axes = figure.add_subplot()
    for label, mask, color in groups:
        if mask.any():
            axes.hist(
                top[mask], bins=bins, alpha=0.55, color=color, label=f"{label} ({int(mask.sum())})"
            )
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    axes.set_xlabel("fused top-1 score")
    axes.set_ylabel("messages")
    axes.set_title("Top-1 score by outcome (below the threshold: fallback)")
    axes.legend()
    figure.tight_layout()
    _save(figure, path)


def _plot_sweep(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    ranking: _Ranking,
    threshold: float,
    path: Path,
) -> None:
    top = ranking.top_scores
    low, high = float(min(top.min(), threshold)), float(max(top.max(), threshold))
    pad = max((high - low) * 0.05, 1e-3)
    grid = np.linspace(low - pad, high + pad, SWEEP_PLOT_POINTS)
    sweep = threshold_sweep(scores, expected, semantic_weight, grid)

    def series(key: str) -> np.ndarray:
        return np.array([np.nan if r[key] is None else r[key] for r in sweep], dtype=np.float64)

    figure = Figure(figsize=(8, 4.5))
    axes = figure.add_subplot()
    axes.plot(grid, series("coverage"), label="coverage (in-scope answered)")
    axes.plot(grid, series("answered_accuracy"), label="answered accuracy")
    axes.plot(grid, series("overall_accuracy"), label="overall accuracy", linewidth=2)
    axes.plot(grid, series("oos_recall"), label="out-of-scope recall", linestyle=":")
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("threshold on the fused top-1 score")
    axes.set_ylabel("share")
    axes.set_title("Threshold sweep")
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def _short(text: str | None, width: int = 45) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _plot_f1(per_faq: list[dict[str, Any]], path: Path) -> None:
    shown = per_faq[:MAX_F1_BARS]
    height = 1.5 + 0.3 * max(len(shown), 1)
    figure = Figure(figsize=(9, height))
    axes = figure.add_subplot()
    labels = [f"#{r['faq_id']} {_short(r['question'])} (n={r['support']})" for r in shown]
    positions = np.arange(len(shown))
    axes.barh(positions, [r["f1"] for r in shown], color="tab:blue")
    axes.set_yticks(positions, labels, fontsize=8)
    axes.invert_yaxis()  # worst on top
    axes.set_xlim(0, 1)
    axes.set_xlabel("F1")
    note = f" (worst {len(shown)} of {len(per_faq)})" if len(shown) < len(per_faq) else ""
    axes.set_title(f"F1 per FAQ, worst first{note}")
    figure.tight_layout()
    _save(figure, path)


# --- markdown --------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _markdown(summary: dict[str, Any]) -> str:
    figures = summary["metrics"]
    detail = summary["margin_detail"]
    best = summary["best_threshold_on_this_set"]
    lines = [f"# {summary['title'] or 'Evaluation report'}", ""]
    lines += [
        f"{figures['n']} messages: {figures['n_in_scope']} in scope, "
        f"{figures['n_out_of_scope']} out of scope. Semantic weight "
        f"{summary['semantic_weight']:.2f}, threshold {summary['threshold']:.3f}.",
        "",
        "## Headline",
        "",
    ]
    lines += _table(["metric", "value"], [[key, figures[key]] for key in HEADLINE_METRICS])
    lines += [
        "",
        "## Calibration",
        "",
        f"- Threshold used: {summary['threshold']:.3f}; the best on this set would be "
        f"{best['threshold']:.3f} (overall accuracy {best['overall_accuracy']:.3f}, "
        "measured on the rows it was picked on, so flattering).",
        f"- Ambiguity margin: {summary['margin']:.3f}. When top1 - top2 is below it, ask "
        '"did you mean" with the top 3 instead of answering. Mean utility '
        f"{detail['utility']:.3f} against {detail['utility_without_margin']:.3f} without a "
        f"margin; {detail['ambiguous_share']:.1%} of the {detail['judged_messages']} answered "
        "in-scope messages would be asked. Utility: right 1.0, wrong 0.0, asked with the right "
        "FAQ in the top 3 0.8, asked without it 0.2.",
        "",
        "## Per FAQ (worst F1 first)",
        "",
    ]
    lines += _table(
        ["FAQ", "question", "support", "predicted", "precision", "recall", "F1"],
        [
            [
                r["faq_id"],
                r["question"],
                r["support"],
                r["predicted"],
                r["precision"],
                r["recall"],
                r["f1"],
            ]
            for r in summary["per_faq"]
        ],
    )
    lines += ["", "## Most confused", ""]
    if summary["confused"]:
        lines += _table(
            ["expected", "answered with", "count"],
            [
                [
                    "out of scope"
                    if c["expected"] is None
                    else f"#{c['expected']} {c['expected_question']}",
                    f"#{c['predicted']} {c['predicted_question']}",
                    c["count"],
                ]
                for c in summary["confused"]
            ],
        )
    else:
        lines.append("No wrong answers at this threshold.")
    lines += ["", "## Threshold sweep", ""]
    lines += _table(
        ["threshold", "coverage", "answered accuracy", "oos recall", "overall accuracy"],
        [
            [
                ("**" + f"{r['threshold']:.3f}" + "**")
                if r["threshold"] == summary["threshold"]
                else r["threshold"],
                r["coverage"],
                r["answered_accuracy"],
                r["oos_recall"],
                r["overall_accuracy"],
            ]
            for r in summary["sweep"]
        ],
    )
    lines += [
        "",
        "Coverage: share of in-scope messages answered; answered accuracy: right among them.",
        "",
        "## Charts",
        "",
        "![Top-1 score by outcome](scores_histogram.png)",
        "",
        "![Threshold sweep](threshold_sweep.png)",
        "",
        "![F1 per FAQ](per_faq_f1.png)",
        "",
    ]
    return "\n".join(lines)
