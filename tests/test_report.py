"""The report files: what report.md, report.json and the charts contain, byte for byte stable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_case import CASE
from report_case import EXPECTED
from report_case import NAMES

from training.analysis import report_summary
from training.evaluation import calibrate_margin
from training.evaluation import metrics
from training.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
    assert report["metrics"] == json.loads(json.dumps(headline))
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
    assert f"| overall_accuracy | – | {headline['overall_accuracy']:.3f} |" in markdown
    assert "| accuracy_at_1 | – | 0.571 |" in markdown  # rows 0, 1, 3, 4 of 7 have it on top
    assert "Reset \\| password?" in markdown  # a pipe in a question must not split the cell
    assert "| 30 | Delete my account | 2 | 0 | 0.000 | 0.000 | 0.000 |" in markdown
    assert "| #20 Reset \\| password? | #10 What is FinBuddy? | 2 |" in markdown
    assert "| out of scope | #10 What is FinBuddy? | 1 |" in markdown
    assert f"Ambiguity margin: {report['margin']:.3f}" in markdown
    # cost at 0.5: wrong answers on rows 2, 5, 7, 8 (3 each), row 4 refused (1): 13 / 9
    assert "| **0.500** | 0.857 | 0.500 | 0.500 | 0.444 | 1.444 |" in markdown
    for name in ("scores_histogram.png", "threshold_sweep.png", "per_faq_f1.png"):
        assert f"]({name})" in markdown


def test_write_report_is_deterministic(tmp_path: Path):
    write_report(CASE, EXPECTED, NAMES, 1.0, 0.5, tmp_path / "a")
    write_report(CASE, EXPECTED, NAMES, 1.0, 0.5, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [
        "per_faq_f1.png",
        "reject_lead.png",
        "report.json",
        "report.md",
        "scores_histogram.png",
        "threshold_sweep.png",
    ]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_write_report_returns_the_analysis_summary_and_the_files(tmp_path: Path):
    summary = write_report(CASE, EXPECTED, NAMES, 1.0, 0.5, tmp_path, title="Nightly")
    files = summary.pop("files")
    assert summary.pop("cross_validated") is None
    assert summary == report_summary(CASE, EXPECTED, NAMES, 1.0, 0.5, title="Nightly")
    assert sorted(files) == sorted(path.name for path in tmp_path.iterdir())
