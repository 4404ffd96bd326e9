"""`flask ask` and `flask chat`: talk to the bot from a terminal."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from bot.answering import InvalidMessage
from bot.answering import answer
from bot.cli.output import score_text
from bot.serving import serving


def _ask(text: str) -> dict[str, object]:
    serving(current_app).sync()  # the terminal answers with the version active right now
    reply = answer(text, channel="cli")
    return {
        "faq_id": reply.faq_id,
        "question": reply.question,
        "answer": reply.text,
        "score": reply.score,
        "fallback": reply.fallback,
        "fallback_rule": reply.fallback_rule,
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
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    label = (
        f"fallback ({result['fallback_rule']})"
        if result["fallback"]
        else f"FAQ {result['faq_id']}: {result['question']}"
    )
    click.echo(f"[{label}, score {score_text(result['score'])}]\n{result['answer']}")


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
        click.echo(
            f"bot> {result['answer']}\n     [score {score_text(result['score'])}, "
            f"faq {result['faq_id']}]"
        )


COMMANDS = (ask_command, chat_command)
