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


def watcher_queries(app, seconds: float) -> int:  # noqa: ANN001
    """Statements the app's engine ran from other threads than this one within `seconds`."""
    statements: list[str] = []
    caller = threading.get_ident()

    def record(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if threading.get_ident() != caller:
            statements.append(statement)

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        time.sleep(seconds)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def test_a_closed_app_s_watcher_stops_and_queries_no_more(make_app):
    """Tests drop an app's database when it ends: its watcher must not poll it afterwards."""
    app = make_app(BOT_RELOAD_SECONDS=0.05)
    before = set(threading.enumerate())
    serving(app).warm_up()
    watchers = [t for t in set(threading.enumerate()) - before if t.name == "model-watcher"]
    assert len(watchers) == 1
    assert watcher_queries(app, 0.5) > 0

    serving(app).close()
    assert not watchers[0].is_alive()
    assert watcher_queries(app, 0.5) == 0
    serving(app).warm_up()  # a closed app starts no new watcher either
    assert [t for t in set(threading.enumerate()) - before if t.name == "model-watcher"] == []
