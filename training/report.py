"""Evaluation report files: report.md, report.json and four PNG charts (GitHub issues 6, 12).

Renders the summary that `training.analysis` computes. The figures are drawn with matplotlib's
Agg canvas (no pyplot, no GUI, no global state), so a CLI or a worker thread can call it safely.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from training.analysis import report_summary
from training.analysis import threshold_sweep
from training.evaluation import CV_METRICS
from training.evaluation import DEFAULT_WRONG_ANSWER_COST
from training.evaluation import HEADLINE_METRICS
from training.evaluation import REJECT_RULE
from training.evaluation import THRESHOLD_RULE
from training.evaluation import Ranking
from training.evaluation import ScoreMatrix

SWEEP_PLOT_POINTS = 101
MAX_F1_BARS = 40

PNG_FILES = ("scores_histogram.png", "threshold_sweep.png", "per_faq_f1.png", "reject_lead.png")


def write_report(
    scores: ScoreMatrix,
    expected: list[int | None],
    faq_names: dict[int, str],
    semantic_weight: float,
    threshold: float,
    out_dir: Path,
    title: str = "",
    *,
    reject_margin: float | None = None,
    texts: list[str] | None = None,
    wrong_cost: float = DEFAULT_WRONG_ANSWER_COST,
    cross_validated: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write report.md, report.json and four PNG charts into out_dir; return the summary.

    `cross_validated` (the `_cv` figures of `bot.evaluation_set`) is shown beside the
    in-sample headline when given.

    Deterministic (same inputs, same bytes), so reports of two model versions can be diffed.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        **report_summary(
            scores,
            expected,
            faq_names,
            semantic_weight,
            threshold,
            title,
            reject_margin=reject_margin,
            texts=texts,
            wrong_cost=wrong_cost,
        ),
        "cross_validated": cross_validated,
        "files": ["report.md", "report.json", *PNG_FILES],
    }
    ranking = Ranking(scores, expected, semantic_weight)

    _plot_histogram(ranking, threshold, out_dir / "scores_histogram.png")
    _plot_sweep(
        scores,
        expected,
        semantic_weight,
        ranking,
        threshold,
        reject_margin,
        out_dir / "threshold_sweep.png",
    )
    _plot_f1(summary["per_faq"], out_dir / "per_faq_f1.png")
    _plot_reject_lead(ranking, reject_margin, out_dir / "reject_lead.png")
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


def _plot_histogram(ranking: Ranking, threshold: float, path: Path) -> None:
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
    ranking: Ranking,
    threshold: float,
    reject_margin: float | None,
    path: Path,
) -> None:
    top = ranking.top_scores
    low, high = float(min(top.min(), threshold)), float(max(top.max(), threshold))
    pad = max((high - low) * 0.05, 1e-3)
    grid = np.linspace(low - pad, high + pad, SWEEP_PLOT_POINTS)
    sweep = threshold_sweep(scores, expected, semantic_weight, grid, reject_margin)

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
    axes.set_title(
        "Threshold sweep"
        + ("" if reject_margin is None else f" (reject margin held at {reject_margin:.3f})")
    )
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def _plot_reject_lead(ranking: Ranking, reject_margin: float | None, path: Path) -> None:
    """How far the nearest out-of-scope example leads the best FAQ, by outcome."""
    figure = Figure(figsize=(8, 4.5))
    axes = figure.add_subplot()
    lead = ranking.reject_lead
    if ranking.has_reject_class:
        groups = (
            ("right FAQ on top", ranking.right_top, "tab:green"),
            ("wrong FAQ on top", ranking.in_scope & ~ranking.right_top, "tab:red"),
            ("out of scope", ~ranking.in_scope, "tab:gray"),
        )
        marks = lead if reject_margin is None else np.append(lead, reject_margin)
        bins = np.linspace(float(marks.min()) - 1e-6, float(marks.max()) + 1e-6, 31)
        for label, mask, color in groups:
            if mask.any():
                axes.hist(
                    lead[mask],
                    bins=bins,
                    alpha=0.55,
                    color=color,
                    label=f"{label} ({int(mask.sum())})",
                )
        if reject_margin is not None:
            axes.axvline(
                reject_margin,
                color="black",
                linestyle="--",
                label=f"reject margin {reject_margin:.3f}",
            )
        axes.legend()
    else:
        axes.text(0.5, 0.5, "no out-of-scope example is indexed", ha="center", va="center")
    axes.set_xlabel("nearest out-of-scope example's score minus the best FAQ's")
    axes.set_ylabel("messages")
    axes.set_title("Reject class lead (at or above the margin: fallback)")
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


def _label(faq_id: Any, question: Any) -> str:
    return "out of scope" if faq_id is None else f"#{faq_id} {question}"


def _rule_sections(summary: dict[str, Any]) -> list[str]:
    """Who said no to what: the outcome table, FAQ/reject-class confusions, every fallback."""
    outcomes = summary["outcomes"]
    columns = ["answered_right", "answered_wrong", THRESHOLD_RULE, REJECT_RULE]
    lines = ["", "## Outcomes by rule", ""]
    lines += _table(
        [
            "",
            "answered, right",
            "answered, wrong",
            "fallback: threshold",
            "fallback: reject class",
        ],
        [[name.replace("_", " "), *(outcomes[name][c] for c in columns)] for name in outcomes],
    )
    lines += ["", "## FAQs and the reject class", ""]
    if summary["reject_class_confusions"]:
        lines += _table(
            ["FAQ", "its messages refused by the reject class", "out-of-scope messages answered"],
            [
                [
                    f"#{r['faq_id']} {r['question']}",
                    r["refused_in_scope"],
                    r["answered_out_of_scope"],
                ]
                for r in summary["reject_class_confusions"]
            ],
        )
    else:
        lines.append("No FAQ meets the reject class at these settings.")
    fallbacks = [m for m in summary["messages"] if m["rule"] is not None]
    lines += ["", "## Fallbacks and the rule that gave them", ""]
    lines += _messages_table(fallbacks, "No message got the fallback.")
    wrong = [m for m in summary["messages"] if m["outcome"] == "wrong"]
    lines += ["", "## Wrong answers", ""]
    lines += _messages_table(wrong, "No wrong answer at these settings.")
    return lines


def _messages_table(messages: list[dict[str, Any]], empty: str) -> list[str]:
    if not messages:
        return [empty]
    return _table(
        ["message", "expected", "rule", "best FAQ", "score", "reject lead"],
        [
            [
                m["text"],
                _label(m["expected"], m["expected_question"]),
                m["rule"],
                _label(m["top_faq"], m["top_question"]),
                m["top_score"],
                m["reject_lead"],
            ]
            for m in messages
        ],
    )


def _markdown(summary: dict[str, Any]) -> str:
    figures = summary["metrics"]
    detail = summary["margin_detail"]
    best = summary["best_on_this_set"]
    reject = summary["reject_margin"]
    lines = [f"# {summary['title'] or 'Evaluation report'}", ""]
    lines += [
        f"{figures['n']} messages: {figures['n_in_scope']} in scope, "
        f"{figures['n_out_of_scope']} out of scope. Semantic weight "
        f"{summary['semantic_weight']:.2f}, threshold {summary['threshold']:.3f}, reject "
        f"margin {_cell(reject)}"
        + ("" if summary["reject_class"] else " (no out-of-scope example is indexed)")
        + f". A wrong answer costs {summary['wrong_answer_cost']:g} fallbacks.",
        "",
        "## Headline",
        "",
    ]
    cv = summary.get("cross_validated") or {}
    keys = [*HEADLINE_METRICS, *(k for k in CV_METRICS if k not in HEADLINE_METRICS)]
    lines += _table(
        ["metric", "cross-validated", "in-sample (settings above)"],
        [[key, cv.get(f"{key}_cv"), figures[key]] for key in keys],
    )
    lines += [
        "",
        "Cross-validated: every message judged with weight, threshold and reject margin "
        "calibrated on the other folds (of this file and the out-of-scope examples). "
        "In-sample: the settings above on this file, which flatters them when they were "
        "calibrated on it.",
        "",
        "## Calibration",
        "",
        f"- Threshold used: {summary['threshold']:.3f}, reject margin {_cell(reject)}; the "
        f"cheapest on this set would be {best['threshold']:.3f} and "
        f"{_cell(best['reject_margin'])} (cost {best['cost']:.3f}, overall accuracy "
        f"{best['overall_accuracy']:.3f}, measured on the rows they were picked on, so "
        "flattering).",
        "- A message gets the fallback when its best FAQ scores below the threshold, or when "
        "its nearest out-of-scope example's score minus the best FAQ's (the reject lead) is at "
        "least the reject margin.",
        f"- Ambiguity margin: {summary['margin']:.3f}. When top1 - top2 is below it, ask "
        '"did you mean" with the top 3 instead of answering. Mean utility '
        f"{detail['utility']:.3f} against {detail['utility_without_margin']:.3f} without a "
        f"margin; {detail['ambiguous_share']:.1%} of the {detail['judged_messages']} answered "
        "in-scope messages would be asked. Utility: right 1.0, wrong 0.0, asked with the right "
        "FAQ in the top 3 0.8, asked without it 0.2.",
    ]
    lines += _rule_sections(summary)
    lines += ["", "## Per FAQ (worst F1 first)", ""]
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
                    _label(c["expected"], c["expected_question"]),
                    _label(c["predicted"], c["predicted_question"]),
                    c["count"],
                ]
                for c in summary["confused"]
            ],
        )
    else:
        lines.append("No wrong answers at this threshold.")
    lines += ["", "## Threshold sweep", ""]
    lines += _table(
        ["threshold", "coverage", "answered accuracy", "oos recall", "overall accuracy", "cost"],
        [
            [
                ("**" + f"{r['threshold']:.3f}" + "**")
                if r["threshold"] == summary["threshold"]
                else r["threshold"],
                r["coverage"],
                r["answered_accuracy"],
                r["oos_recall"],
                r["overall_accuracy"],
                r["cost"],
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
        "![Reject class lead](reject_lead.png)",
        "",
    ]
    return "\n".join(lines)
