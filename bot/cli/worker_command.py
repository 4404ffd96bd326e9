"""`flask worker`: the process that runs retraining jobs, away from the web workers."""

from __future__ import annotations

import click
from flask.cli import ScriptInfo
from flask.cli import pass_script_info

from bot.jobs import work


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit (cron, tests).")
@click.option("--poll", "poll_seconds", type=float, default=2.0, show_default=True)
@click.option(
    "--parent-pid",
    type=int,
    hidden=True,
    help="Stop when this process (the development server that started this one) ends.",
)
@pass_script_info
def worker_command(
    script: ScriptInfo, once: bool, poll_seconds: float, parent_pid: int | None
) -> None:
    """Run queued retraining jobs, one at a time across every process and host."""
    app = script.load_app()
    click.echo(
        "Waiting for retraining jobs (Ctrl-C to stop)..." if not once else "Running queued jobs..."
    )
    try:
        done = work(app, once=once, poll_seconds=poll_seconds, parent_pid=parent_pid)
    except KeyboardInterrupt:
        click.echo("Stopped.")
        return
    click.echo(f"{done} job(s) run.")
