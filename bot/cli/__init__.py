"""Command-line interface: thin click wrappers over the functions that do the work."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from bot.cli import api_key_commands
    from bot.cli import catalog_commands
    from bot.cli import chat_commands
    from bot.cli import init_command
    from bot.cli import model_commands
    from bot.cli import privacy_commands
    from bot.cli import quality_commands
    from bot.cli import report_commands
    from bot.cli import retrain_command
    from bot.cli import worker_command

    for command in (
        init_command.init_command,
        *catalog_commands.COMMANDS,
        *chat_commands.COMMANDS,
        *quality_commands.COMMANDS,
        retrain_command.retrain_command,
        worker_command.worker_command,
        model_commands.model_cli,
        api_key_commands.api_key_cli,
        privacy_commands.purge_queries_command,
        report_commands.report_cli,
    ):
        app.cli.add_command(command)
