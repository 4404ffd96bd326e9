"""`flask evaluate` and `flask calibrate`: measure the served model, re-fit its settings."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from bot import catalog
from bot.calibration import recalibrate
from bot.config import ENCODER_CHOICES
from bot.db import get_session
from bot.evaluation_set import MATCHER_KINDS
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import evaluate_matcher
from bot.indexing import matcher_for
from bot.serving import serving
from bot.versions import active_version
from training.tabular import CsvValidationError


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
        evaluation,
        matcher,
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
        f"({figures['n']} messages):"
    )
    for key, value in figures.items():
        if isinstance(value, float):
            click.echo(f"  {key:<19} {value:.3f}")
    click.echo(f"  weights             {figures['weights']} ({figures['threshold_source']})")
    if report_dir is not None:
        click.echo(f"Report written to {report_dir / 'report.md'}")


@click.command("calibrate")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print the new figures as JSON.")
def calibrate_command(as_json: bool) -> None:
    """Re-calibrate fusion weight and threshold of the active version (no retraining)."""
    try:
        version, figures = recalibrate(current_app, get_session())
    except (CsvValidationError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(
        f"Model version {version.name}: threshold {version.threshold:.3f}, "
        f"weights {figures['weights']}, overall accuracy {figures['overall_accuracy']:.3f} "
        f"(cross-validated {figures['overall_accuracy_cv']:.3f})."
    )


COMMANDS = (evaluate_command, calibrate_command)
