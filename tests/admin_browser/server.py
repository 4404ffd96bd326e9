"""The real app under waitress on 127.0.0.1 (a random port), and headless Debian Chromium."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask

CHROMIUM = os.environ.get("BOT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve `app` with waitress in a thread; yields the base URL, then stops it."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4, asyncore_loop_timeout=0.2)
    stopping = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except OSError:  # closing the sockets under select() is how waitress stops here
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=serve, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stopping.set()
        server.task_dispatcher.shutdown(timeout=5)
        for channel in list(server._map.values()):
            channel.close()
        thread.join(timeout=10)


def chromium_or_skip() -> str:
    """Debian's chromium (never a downloaded browser); skip where it is not installed."""
    pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for playwright")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    return CHROMIUM


def screenshot(page, name: str) -> Path:  # noqa: ANN001 (a Playwright page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"admin-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
