"""Command-line interface: thin click wrappers over the functions that do the work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask
from flask import current_app
from flask.cli import with_appcontext

from bot import catalog
from bot.answering import InvalidMessage
from bot.answering import answer
from bot.csv_io import read_faq_csv
from bot.csv_io import read_pairs_csv
from bot.csv_io import write_faq_csv
from bot.db import get_session
from bot.evaluation_set import MATCHER_KINDS
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import evaluate_served
from bot.retrain import RetrainError
from bot.retrain import retrain
from bot.serving import serving
from bot.versions import rebuild_index
from bot.versions import recalibrate
from training.recipes import LOSSES
from training.recipes import RECIPES
from training.recipes import prepare_recipe
from training.tabular import CsvValidationError
from training.trainer import TrainingConfig


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _reindex() -> None:
    version = rebuild_index(current_app._get_current_object(), get_session())
    if version is not None:
        click.echo(f"Index rebuilt for model version {version.name}.")


@click.command("seed")
@with_appcontext
@click.option("--faq", "faq_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--pairs", "pairs_file", type=click.Path(exists=True, dir_okay=False))
def seed_command(faq_file: str | None, pairs_file: str | None) -> None:
    """Load the shipped FinBuddy FAQ and training pairs (or the given files)."""
    faq_file = faq_file or current_app.config["BOT_SEED_FAQ_FILE"]
    pairs_file = pairs_file or current_app.config["BOT_SEED_PAIRS_FILE"]
    session = get_session()
    try:
        summary = catalog.seed(session, faq_file, pairs_file)
    except CsvValidationError as exc:
        session.rollback()
        _fail(str(exc))
    click.echo(
        f"Seeded: {summary.created} FAQs created, {summary.updated} updated, "
        f"{summary.pairs_added} training pairs added."
    )
    _reindex()


def _import(path: str, importer, label: str) -> None:  # noqa: ANN001
    """Run one all-or-nothing import, report it, and re-index on success."""
    session = get_session()
    try:
        summary = importer(session, path)
        session.commit()
    except CsvValidationError as exc:
        session.rollback()
        _fail(str(exc))
    click.echo(f"Imported {path}: {label.format(s=summary)}.")
    _reindex()


@click.command("import-faq")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_faq_command(path: str) -> None:
    """Create or update FAQs from a CSV (question,answer,category,alternates)."""
    _import(
        path,
        lambda session, p: catalog.import_faqs(session, read_faq_csv(p), p),
        "{s.created} created, {s.updated} updated",
    )


@click.command("import-pairs")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_pairs_command(path: str) -> None:
    """Add training pairs from a CSV (paraphrase,question)."""
    _import(
        path,
        lambda session, p: catalog.import_pairs(session, read_pairs_csv(p), "import"),
        "{s.pairs_added} pairs added, {s.pairs_skipped} skipped",
    )


@click.command("export-faq")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--include-inactive", is_flag=True, help="Also export deactivated FAQs.")
def export_faq_command(path: str, include_inactive: bool) -> None:
    """Write the FAQs to a CSV in the import format ('-' for standard output)."""
    rows = catalog.export_rows(get_session(), include_inactive)
    write_faq_csv(rows, sys.stdout if path == "-" else path)
    if path != "-":
        click.echo(f"Exported {len(rows)} FAQs to {path}.")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@click.command("retrain")
@with_appcontext
@click.option(
    "--recipe",
    type=click.Choice(RECIPES),
    default="mnrl",
    show_default=True,
    help="mnrl: the database's pairs; cosine: a scored-pairs --data file; triplet: an "
    "anchor,positive,negative --data file.",
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Training CSV for --recipe cosine (sentence1,sentence2,score) or triplet.",
)
@click.option(
    "--loss",
    type=click.Choice(sorted({name for names in LOSSES.values() for name in names})),
    help="cosine recipe: cosine (CosineSimilarityLoss, default) or cosent (CoSENTLoss).",
)
@click.option(
    "--hard-negatives",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="mnrl recipe: add N mined negatives (other FAQs' questions) per pair.",
)
@click.option("--epochs", type=float, default=TrainingConfig.epochs, show_default=True)
@click.option("--batch-size", type=int, default=TrainingConfig.batch_size, show_default=True)
@click.option("--lr", type=float, default=TrainingConfig.learning_rate, show_default=True)
@click.option("--warmup-ratio", type=float, default=TrainingConfig.warmup_ratio, show_default=True)
@click.option(
    "--scale",
    type=float,
    default=TrainingConfig.scale,
    show_default=True,
    help="Similarity scale of MNRL (and CoSENT).",
)
@click.option("--seed", type=int, default=TrainingConfig.seed, show_default=True)
@click.option("--max-steps", type=int, default=-1, help="Stop after N steps (for quick runs).")
@click.option(
    "--patience",
    type=click.IntRange(min=0),
    default=TrainingConfig.patience,
    show_default=True,
    help="Stop after N epochs without improvement and keep the best epoch (0: no early "
    "stopping; mnrl then leaves the evaluation file out of training).",
)
@click.option("--base-model", help="Override BOT_BASE_MODEL for this run.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--force", is_flag=True, help="Activate the new version even if it scores worse.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def retrain_command(
    recipe: str,
    data_file: str | None,
    loss: str | None,
    hard_negatives: int,
    epochs: float,
    batch_size: int,
    lr: float,
    warmup_ratio: float,
    scale: float,
    seed: int,
    max_steps: int,
    patience: int,
    base_model: str | None,
    no_progress: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Fine-tune with a recipe, evaluate, save and activate a new model version."""
    try:
        chosen = prepare_recipe(recipe, data_file, loss, hard_negatives)
    except (CsvValidationError, ValueError) as exc:
        _fail(str(exc))
    config = TrainingConfig(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        warmup_ratio=warmup_ratio,
        seed=seed,
        scale=scale,
        max_steps=max_steps,
        patience=patience,
        progress_bar=not no_progress,
    )
    try:
        report = retrain(
            current_app._get_current_object(),
            get_session(),
            config,
            base_model,
            force=force,
            recipe=chosen,
        )
    except RetrainError as exc:
        _fail(str(exc))
    evaluator = report.training.evaluator
    if as_json:
        click.echo(
            json.dumps(
                {
                    "version": report.version_name,
                    "seconds": round(report.seconds, 2),
                    "loss_before": report.training.loss_before,
                    "loss_after": report.training.loss_after,
                    "recipe": report.training.recipe,
                    "evaluator": evaluator,
                    "early_stopping": report.training.early_stopping,
                    "before": report.before,
                    "after": report.after,
                    "activated": report.activated,
                    "promotion": report.promotion,
                }
            )
        )
        return
    promotion = report.promotion
    state = "is active" if report.activated else "was saved but NOT activated"
    click.echo(f"Model version {report.version_name} {state} ({report.seconds:.1f}s).")
    active_text = f"{promotion['active']:.3f}" if promotion["active"] is not None else "-"
    click.echo(
        f"Promotion guard: {promotion['reason']} (overall accuracy, calibrated: candidate "
        f"{promotion['candidate']:.3f} vs active {active_text}, tolerance "
        f"{promotion['tolerance']})."
    )
    if not report.activated:
        click.echo(f"Use `flask model activate {report.version_name}` or retrain --force.")
    click.echo(
        f"Training loss {report.training.loss_before:.4f} -> {report.training.loss_after:.4f} "
        f"over {report.training.steps} steps on {report.training.device}."
    )
    if evaluator is not None:
        click.echo(
            f"{evaluator['name']} on {evaluator['data']}: {evaluator['metric']} "
            f"{_score(evaluator['before'])} -> {_score(evaluator['after'])}"
            + (f" (best epoch {evaluator['best_epoch']})" if evaluator["best_epoch"] else "")
        )
    for key in ("accuracy_at_1", "accuracy_at_3", "mrr", "oos_recall", "overall_accuracy"):
        old = report.before.get(key)
        old_text = f"{old:.3f}" if isinstance(old, float) else "-"
        click.echo(f"  {key:<17} {old_text} -> {report.after[key]:.3f}")
    click.echo(f"  threshold {report.after['threshold']:.3f}, weights {report.after['weights']}")


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
def evaluate_command(path: str, as_json: bool, matcher: str, report_dir: Path | None) -> None:
    """Measure the active model on a pairs CSV (paraphrase,question; empty = out of scope)."""
    session = get_session()
    try:
        evaluation = EvaluationSet.load(session, path)
    except CsvValidationError as exc:
        _fail(str(exc))
    model = serving(current_app._get_current_object()).current(session)
    if model.matcher is None:
        _fail("there are no active FAQs to evaluate against")
    faq_names = {faq.id: faq.question for faq in catalog.active_faqs(session)}
    figures = evaluate_served(model, evaluation, matcher, report_dir, faq_names)
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(f"Model version {model.version_name} on {path} ({figures['n']} messages):")
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
        version, figures = recalibrate(current_app._get_current_object(), get_session())
    except (CsvValidationError, LookupError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(
        f"Model version {version.name}: threshold {version.threshold:.3f}, "
        f"weights {figures['weights']}, overall accuracy {figures['overall_accuracy']:.3f} "
        f"(cross-validated {figures['overall_accuracy_cv']:.3f})."
    )


def _ask(text: str) -> dict[str, object]:
    reply = answer(text, channel="cli")
    return {
        "faq_id": reply.faq_id,
        "question": reply.question,
        "answer": reply.text,
        "score": reply.score,
        "fallback": reply.fallback,
    }


@click.command("ask")
@with_appcontext
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ask_command(text: str, as_json: bool) -> None:
    """Answer one message as the bot would."""
    try:
        result = _ask(text)
    except InvalidMessage as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    score = f"{result['score']:.3f}" if result["score"] is not None else "-"
    label = "fallback" if result["fallback"] else f"FAQ {result['faq_id']}: {result['question']}"
    click.echo(f"[{label}, score {score}]\n{result['answer']}")


@click.command("chat")
@with_appcontext
def chat_command() -> None:
    """Talk to the bot in the terminal (empty line, 'exit' or Ctrl-D to stop)."""
    click.echo("Ask a question (empty line or 'exit' to stop).")
    while True:
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if text.strip().lower() in ("", "exit", "quit"):
            return
        try:
            result = _ask(text)
        except InvalidMessage as exc:
            click.echo(f"bot> ({exc})")
            continue
        score = f"{result['score']:.3f}" if result["score"] is not None else "-"
        click.echo(f"bot> {result['answer']}\n     [score {score}, faq {result['faq_id']}]")


COMMANDS = (
    seed_command,
    import_faq_command,
    import_pairs_command,
    export_faq_command,
    retrain_command,
    evaluate_command,
    calibrate_command,
    ask_command,
    chat_command,
)


def init_app(app: Flask) -> None:
    from bot.model_cli import model_cli

    for command in COMMANDS:
        app.cli.add_command(command)
    app.cli.add_command(model_cli)
