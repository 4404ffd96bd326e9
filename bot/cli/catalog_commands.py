"""`flask seed`, `import-faq`, `import-pairs`, `export-faq`, `export-oos`: data in and out."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from bot import catalog
from bot.bootstrap import refresh_index
from bot.catalog import ImportSummary
from bot.csv_io import read_faq_csv
from bot.csv_io import read_pairs_csv
from bot.csv_io import write_faq_csv
from bot.csv_io import write_pairs_csv
from bot.db import get_session
from bot.out_of_scope import export_rows as out_of_scope_rows
from training.tabular import CsvValidationError


def _reindex() -> None:
    version = refresh_index(current_app, get_session())
    if version is not None:
        click.echo(f"Index rebuilt for model version {version.name}.")


def _import(path: str, importer: Callable[[Session, str], ImportSummary], label: str) -> None:
    """Run one all-or-nothing import, report it, and re-index on success."""
    session = get_session()
    try:
        summary = importer(session, path)
        session.commit()
    except CsvValidationError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Imported {path}: {label.format(s=summary)}.")
    _reindex()


@click.command("seed")
@with_appcontext
@click.option("--faq", "faq_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--pairs", "pairs_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--oos",
    "oos_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Out-of-scope messages: a pairs CSV whose questions are all empty.",
)
def seed_command(faq_file: str | None, pairs_file: str | None, oos_file: str | None) -> None:
    """Load the shipped FinBuddy FAQ, training pairs and out-of-scope examples (or the files)."""
    config = current_app.config
    session = get_session()
    try:
        summary = catalog.seed(
            session,
            faq_file or config["BOT_SEED_FAQ_FILE"],
            pairs_file or config["BOT_SEED_PAIRS_FILE"],
            oos_file or config["BOT_SEED_OOS_FILE"],
        )
    except CsvValidationError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Seeded: {summary.created} FAQs created, {summary.updated} updated, "
        f"{summary.pairs_added} training pairs and {summary.out_of_scope_added} "
        "out-of-scope examples added."
    )
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
    """Add training pairs from a CSV (paraphrase,question); an empty question adds the
    message as an out-of-scope example."""
    _import(
        path,
        lambda session, p: catalog.import_pairs(session, read_pairs_csv(p), "import"),
        "{s.pairs_added} pairs added, {s.pairs_skipped} skipped, "
        "{s.out_of_scope_added} out-of-scope examples added",
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


@click.command("export-oos")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def export_oos_command(path: str) -> None:
    """Write the approved out-of-scope examples as a pairs CSV, questions empty ('-': stdout)."""
    rows = out_of_scope_rows(get_session())
    write_pairs_csv(rows, sys.stdout if path == "-" else path)
    if path != "-":
        click.echo(f"Exported {len(rows)} out-of-scope examples to {path}.")


COMMANDS = (
    seed_command,
    import_faq_command,
    import_pairs_command,
    export_faq_command,
    export_oos_command,
)
