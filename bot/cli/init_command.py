"""`flask init`: the one-shot setup every deployment runs before starting web workers."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from bot.boot import init_instance


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Migrate the database, seed an empty catalog and prepare the active model version.

    Safe to run from several hosts at once, and again at every deploy.
    """
    report = init_instance(current_app)
    if report.migrated_from != report.revision:
        click.echo(
            f"Database migrated from {report.migrated_from or 'empty'} to {report.revision}."
        )
    else:
        click.echo(f"Database is at the newest migration ({report.revision}).")
    if report.seeded_faqs:
        click.echo(f"Seeded {report.seeded_faqs} FAQs from the shipped data.")
    if report.version is None:
        click.echo("No FAQ yet: the first model version is built once FAQs are added.")
    else:
        click.echo(f"Model version {report.version} is active and ready to serve.")
