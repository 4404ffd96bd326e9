"""`flask report feedback`: per-FAQ satisfaction from users' 👍 / 👎 (the answers to rewrite)."""

from __future__ import annotations

import json
from datetime import timedelta

import click
from flask.cli import with_appcontext

from bot.db import get_session
from bot.feedback import satisfaction
from bot.models import utcnow


@click.group("report")
def report_cli() -> None:
    """Reports on how the bot is doing with its users."""


@report_cli.command("feedback")
@with_appcontext
@click.option(
    "--days", type=click.IntRange(min=1), default=None, help="Only messages of the last N days."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def feedback_command(days: int | None, as_json: bool) -> None:
    """Per FAQ: how many users found its answer helpful or not, most disliked first."""
    since = utcnow() - timedelta(days=days) if days else None
    rows = satisfaction(get_session(), since)
    if as_json:
        faqs = [
            {
                "faq_id": row.faq_id,
                "question": row.question,
                "helpful": row.helpful,
                "unhelpful": row.unhelpful,
                "share_helpful": row.share_helpful,
            }
            for row in rows
        ]
        click.echo(json.dumps({"days": days, "faqs": faqs}, ensure_ascii=False))
        return
    if not rows:
        click.echo("No feedback yet.")
        return
    click.echo(f"{'FAQ':>5}  {'👍':>5}  {'👎':>5}  {'helpful':>7}  question")
    for row in rows:
        click.echo(
            f"{row.faq_id:>5}  {row.helpful:>5}  {row.unhelpful:>5}  "
            f"{row.share_helpful:>7.0%}  {row.question}"
        )
