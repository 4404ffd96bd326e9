from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import new_session
from bot.models import Faq
from bot.models import ModelVersion
from bot.models import OutOfScopeExample
from bot.models import QueryLog
from training.evaluation import CV_METRICS
from training.evaluation import HEADLINE_METRICS


def test_ask_json_prints_the_design_fields(app, runner):
    result = runner.invoke(args=["ask", "Apa itu mode normal?", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert {"faq_id", "question", "answer", "score", "fallback"} <= set(body)
    assert body["question"] == "Apa itu mode normal?"
    assert body["fallback"] is False and body["fallback_rule"] is None
    with new_session(app) as session:
        assert session.scalars(select(QueryLog.channel)).all() == ["cli"]


def test_ask_rejects_an_empty_message(runner):
    result = runner.invoke(args=["ask", "   "])
    assert result.exit_code == 1
    assert "message is empty" in result.output


def test_chat_answers_each_line_until_exit(runner):
    result = runner.invoke(args=["chat"], input="Apa itu mode mewah?\n\n")
    assert result.exit_code == 0, result.output
    assert "bot>" in result.output and "score" in result.output


def test_seed_is_idempotent(app, runner):
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert (
        "0 FAQs created, 30 updated, 0 training pairs and 0 out-of-scope examples added"
        in result.output
    )
    with new_session(app) as session:
        assert session.query(Faq).count() == 30
        assert session.query(OutOfScopeExample).count() == 330


def test_import_rebuilds_the_index_so_a_new_faq_answers_without_retraining(app, runner, tmp_path):
    runner.invoke(args=["ask", "halo"])  # serve v1 before the change
    path = tmp_path / "new.csv"
    path.write_text(
        "question,answer,category,alternates\n"
        "Bisakah FinBuddy terhubung ke e-wallet?,Bisa lewat menu Integrasi.,fitur,\n"
    )
    result = runner.invoke(args=["import-faq", str(path)])
    assert "Index rebuilt for model version v1" in result.output
    body = json.loads(
        runner.invoke(args=["ask", "Bisakah FinBuddy terhubung ke e-wallet?", "--json"]).stdout
    )
    assert body["answer"] == "Bisa lewat menu Integrasi."


def test_evaluate_json_reports_the_design_metrics(runner):
    result = runner.invoke(args=["evaluate", "faq_data/finbuddy_eval.csv", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for key in ("n", *HEADLINE_METRICS, "weights", "reject_margin", "wrong_answer_cost"):
        assert key in figures
    assert figures["n"] == figures["n_in_scope"] + figures["n_out_of_scope"]
    assert figures["n_out_of_scope"] >= 60 and figures["n_in_scope"] >= 60
    assert 0 <= figures["accuracy_at_1"] <= figures["accuracy_at_3"] <= 1
    for key in CV_METRICS:  # the cross-validated figures sit beside the served ones
        assert 0 <= figures[f"{key}_cv"] <= 3, key
    rejected = figures["rejected_by"]
    fallbacks = sum(counts["out_of_scope"] for counts in rejected.values())
    assert fallbacks == pytest.approx(figures["oos_recall"] * figures["n_out_of_scope"])
    assert figures["wrong_answer_cost"] == 3.0


def test_evaluate_rejects_a_file_with_unknown_questions(runner, tmp_path):
    path = tmp_path / "eval.csv"
    path.write_text("paraphrase,question\nhalo,Pertanyaan yang tidak ada?\n")
    result = runner.invoke(args=["evaluate", str(path), "--json"])
    assert result.exit_code == 1
    assert "line 2, column 'question'" in result.output


def test_matcher_switch_isolates_each_signal(runner, tmp_path):
    path = tmp_path / "typos.csv"
    path.write_text(
        "paraphrase,question\n"
        "apa itu mode mewh,Apa itu mode mewah?\n"
        "kenapa dashbord saya kosng,Kenapa dashboard saya kosong?\n"
        "cara akses rekomendsi tabungn,Cara akses rekomendasi tabungan?\n"
        "bagaimana cra login jika sya berganti perangkat,"
        "Bagaimana cara login jika saya berganti perangkat?\n"
        "cuaca jakarta hari ini,\n"
    )
    figures = {}
    for kind in ("semantic", "lexical", "hybrid"):
        result = runner.invoke(args=["evaluate", str(path), "--json", "--matcher", kind])
        assert result.exit_code == 0, result.output
        figures[kind] = json.loads(result.stdout)
        assert figures[kind]["matcher"] == kind
    assert figures["semantic"]["weights"] == {"semantic": 1.0, "lexical": 0.0}
    assert figures["lexical"]["weights"] == {"semantic": 0.0, "lexical": 1.0}
    assert figures["lexical"]["accuracy_at_1"] == 1.0
    assert figures["semantic"]["mrr"] != figures["lexical"]["mrr"]
    assert figures["hybrid"]["threshold_source"] == "served model version"


def test_calibrate_refits_weight_and_threshold_without_retraining(app, runner):
    runner.invoke(args=["ask", "halo"])
    with new_session(app) as session:
        before = session.scalars(select(ModelVersion)).one()
    result = runner.invoke(args=["calibrate", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    with new_session(app) as session:
        after = session.scalars(select(ModelVersion)).one()
    assert after.name == before.name
    assert after.index_revision == before.index_revision + 1
    assert after.threshold == pytest.approx(figures["threshold"])
    assert after.semantic_weight == pytest.approx(figures["weights"]["semantic"])
    assert after.reject_margin == figures["reject_margin"]
    assert figures["n_out_of_scope_examples"] == 330
    assert 0.0 <= figures["overall_accuracy_cv"] <= 1.0  # held-out folds: a separate figure
    stored = json.loads((Path(after.path) / "metrics.json").read_text())["eval"]
    assert stored["overall_accuracy_cv"] == figures["overall_accuracy_cv"]
    served = runner.invoke(args=["evaluate", "faq_data/finbuddy_eval.csv", "--json"])
    assert json.loads(served.stdout)["threshold"] == pytest.approx(figures["threshold"])


def test_calibrate_before_any_model_version_explains_itself(make_app):
    app = make_app(BOT_SEED_ON_EMPTY=False)
    result = app.test_cli_runner().invoke(args=["calibrate"])
    assert result.exit_code == 1
    assert "no model version yet" in result.output


def test_evaluate_report_writes_plots_and_a_summary(runner, tmp_path):
    report = tmp_path / "report"
    result = runner.invoke(
        args=["evaluate", "faq_data/finbuddy_eval.csv", "--json", "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for name in ("report.md", "report.json", "scores_histogram.png", "reject_lead.png"):
        assert (report / name).is_file()
    assert (report / "scores_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((report / "report.json").read_text())
    assert summary["metrics"]["accuracy_at_1"] == pytest.approx(figures["accuracy_at_1"])
    assert len(summary["per_faq"]) == 30
    assert summary["cross_validated"]["cost_cv"] == pytest.approx(figures["cost_cv"])
    rules = [m["rule"] for m in summary["messages"]]
    assert len(rules) == figures["n"]
    for rule, counts in figures["rejected_by"].items():
        assert rules.count(rule) == counts["in_scope"] + counts["out_of_scope"]
    markdown = (report / "report.md").read_text()
    assert "Kenapa dashboard saya kosong?" in markdown
    assert "## Fallbacks and the rule that gave them" in markdown
    assert "## FAQs and the reject class" in markdown
