"""`flask purge-queries`: erase what users typed, by age or by content."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from bot.bootstrap import refresh_index
from bot.db import get_session
from bot.retention import purge


@click.command("purge-queries")
@with_appcontext
@click.option("--older-than", "days", type=click.IntRange(min=0), help="Age in days.")
@click.option("--matching", help="Only messages containing this text (case ignored).")
@click.option("--pairs", is_flag=True, help="With --matching: also delete training pairs.")
def purge_queries_command(days: int | None, matching: str | None, pairs: bool) -> None:
    """Delete logged messages (and their unreviewed copies) by age and/or content.

    Without options it applies BOT_QUERY_LOG_DAYS, as the server does daily.
    """
    if pairs and not matching:
        raise click.UsageError("--pairs needs --matching TEXT")
    if days is None and not matching:
        days = int(current_app.config["BOT_QUERY_LOG_DAYS"])
        if days <= 0:
            raise click.UsageError("BOT_QUERY_LOG_DAYS is 0 (keep forever): give --older-than")
    older_than = timedelta(days=days) if days is not None else None
    report = purge(get_session(), older_than=older_than, matching=matching, pairs=pairs)
    click.echo(
        f"Deleted {report.queries} logged message(s), {report.outbox} sent Telegram "
        f"repl(ies) and {report.picks} unreviewed Telegram pick(s)."
    )
    if report.tickets:
        click.echo(f"Deleted {report.tickets} handoff ticket(s).")
    if report.pairs:
        click.echo(f"Deleted {report.pairs} training pair(s).")
        version = refresh_index(current_app, get_session())
        if version is not None:
            click.echo(f"Index rebuilt for model version {version.name}.")
    if report.pairs_left or report.alternates_left:
        click.echo(
            f"Still containing the text: {report.pairs_left} training pair(s) (add --pairs) "
            f"and {report.alternates_left} alternate question(s) (edit those FAQs). Model "
            "versions built before keep it in their index: retrain, then `flask model delete`."
        )
