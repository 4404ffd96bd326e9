"""How often requests look for a newly active model version (one query, not one per request)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import event

from bot import serving as serving_module
from bot.serving import serving


def active_version_queries(app, client, messages: int) -> int:  # noqa: ANN001
    """Requests answered back to back, and how many of them asked SQL for the active version
    (the background watcher's own checks, in its thread, do not count)."""
    statements: list[str] = []
    requests = threading.get_ident()

    def record(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if threading.get_ident() == requests:
            statements.append(statement)

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        for number in range(messages):
            response = client.post("/api/chat", json={"message": f"cara ganti pin {number}"})
            assert response.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sum("FROM model_version" in s and "index_revision" in s for s in statements)


def test_requests_look_for_a_new_version_at_most_every_quarter_second(app, client, monkeypatch):
    client.post("/api/chat", json={"message": "warm up"})  # the first request loads the model
    monkeypatch.setattr(serving_module, "REQUEST_CHECK_SECONDS", 3600.0)
    serving(app)._checked_at = time.monotonic()
    assert active_version_queries(app, client, 5) == 0
    monkeypatch.setattr(serving_module, "REQUEST_CHECK_SECONDS", 0.0)
    assert active_version_queries(app, client, 5) == 5
