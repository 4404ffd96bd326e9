"""`flask evaluate` and `flask calibrate`: measure the served model, re-fit its settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from bot import catalog
from bot.calibration import recalibrate
from bot.cli.output import score_text
from bot.config import ENCODER_CHOICES
from bot.db import get_session
from bot.evaluation_set import MATCHER_KINDS
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import evaluate_matcher
from bot.indexing import matcher_for
from bot.serving import serving
from bot.versions import active_version
from training.evaluation import CV_METRICS
from training.tabular import CsvValidationError


def figure_lines(figures: dict[str, Any]) -> list[str]:
    """Cross-validated figures first (the honest ones), the in-sample ones beside them."""
    lines = [f"  {'':<17} {'cross-validated':>15} {'in-sample':>10}"]
    for key in CV_METRICS:
        lines.append(
            f"  {key:<17} {score_text(figures.get(f'{key}_cv')):>15} "
            f"{score_text(figures.get(key)):>10}"
        )
    rejected = figures.get("rejected_by") or {}
    for rule, counts in rejected.items():
        lines.append(
            f"  fallback by {rule}: {counts['in_scope']} in scope, "
            f"{counts['out_of_scope']} out of scope (in-sample)"
        )
    return lines


@click.command("evaluate")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--matcher",
    type=click.Choice(MATCHER_KINDS),
    default="hybrid",
    show_default=True,
    help="Score with the embedding only, the character n-grams only, or both fused.",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write plots and a Markdown report (per-FAQ F1, confusions, sweep) here.",
)
@click.option(
    "--encoder",
    type=click.Choice(ENCODER_CHOICES),
    help="Encode with this encoder instead of the served one (same weight and threshold).",
)
def evaluate_command(
    path: str, as_json: bool, matcher: str, report_dir: Path | None, encoder: str | None
) -> None:
    """Measure the active model on a pairs CSV (paraphrase,question; empty = out of scope)."""
    session = get_session()
    try:
        evaluation = EvaluationSet.load(session, path)
    except CsvValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    serving(current_app).sync()
    model = serving(current_app).current(session)
    if model.matcher is None:
        raise click.ClickException("there are no active FAQs to evaluate against")
    measured = model.matcher
    if encoder is not None:
        measured = matcher_for(session, active_version(session), encoder)
    faq_names = {faq.id: faq.question for faq in catalog.active_faqs(session)}
    figures = evaluate_matcher(
        measured,
        model.threshold,
        model.reject_margin,
        evaluation,
        matcher,
        current_app.config["BOT_WRONG_ANSWER_COST"],
        report_dir,
        faq_names,
        title=f"{model.version_name} on {path} ({matcher})",
    )
    figures["model_version"] = model.version_name
    figures["encoder"] = measured.encoder.describe()["kind"]
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(
        f"Model version {model.version_name} ({figures['encoder']}) on {path} "
        f"({figures['n']} messages, "
        f"{figures['n_out_of_scope']} out of scope; a wrong answer costs "
        f"{figures['wrong_answer_cost']:g} fallbacks):"
    )
    for line in figure_lines(figures):
        click.echo(line)
    click.echo(
        f"  threshold {figures['threshold']:.3f}, reject margin "
        f"{score_text(figures['reject_margin'])}, weights {figures['weights']} "
        f"({figures['threshold_source']}; in-sample figures use them)"
    )
    if report_dir is not None:
        click.echo(f"Report written to {report_dir / 'report.md'}")


@click.command("calibrate")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print the new figures as JSON.")
def calibrate_command(as_json: bool) -> None:
    """Re-calibrate weight, threshold and margins of the active version (no retraining)."""
    try:
        version, figures = recalibrate(current_app, get_session())
    except (CsvValidationError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(
        f"Model version {version.name}: threshold {version.threshold:.3f}, reject margin "
        f"{score_text(version.reject_margin)}, weights {figures['weights']}, ambiguity "
        f"margin {version.margin:.3f}."
    )
    for line in figure_lines(figures):
        click.echo(line)


COMMANDS = (evaluate_command, calibrate_command)
