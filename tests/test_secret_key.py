"""No development secret: a random key kept in the instance folder, or SECRET_KEY when set."""

from __future__ import annotations

import multiprocessing
import stat

import pytest

from bot.keys import KEY_FILE
from bot.keys import WeakSecretKey
from bot.keys import derive_key
from bot.keys import instance_secret_key


def test_without_secret_key_a_random_key_is_made_and_kept(make_app, tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = make_app()
    key_file = tmp_path / "instance" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.config["SECRET_KEY"]) >= 48
    assert first.config["SECRET_KEY"] == key_file.read_text().strip()
    assert make_app().config["SECRET_KEY"] == first.config["SECRET_KEY"]  # a restart keeps it
    other = tmp_path / "other"  # another installation: its own folder and database
    elsewhere = make_app(BOT_INSTANCE_PATH=str(other), DATABASE_URL=f"sqlite:///{other}.sqlite3")
    assert elsewhere.config["SECRET_KEY"] != first.config["SECRET_KEY"]


def test_a_configured_secret_key_is_used_and_nothing_is_written(make_app, tmp_path):
    app = make_app(SECRET_KEY="x" * 40)
    assert app.config["SECRET_KEY"] == "x" * 40
    assert not (tmp_path / "instance" / KEY_FILE).exists()


def test_a_short_secret_key_is_refused(make_app):
    with pytest.raises(WeakSecretKey, match="at least 16 characters"):
        make_app(SECRET_KEY="dev-only")


def _key_in(folder: str, barrier, queue) -> None:  # noqa: ANN001
    barrier.wait()  # all at once, as workers forked together would
    queue.put(instance_secret_key(folder))


def test_workers_starting_together_agree_on_one_key(tmp_path):
    context = multiprocessing.get_context("spawn")
    for attempt in range(3):
        folder = tmp_path / f"race-{attempt}"
        folder.mkdir()
        queue, barrier = context.Queue(), context.Barrier(4)
        workers = [
            context.Process(target=_key_in, args=(str(folder), barrier, queue)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        keys = {queue.get(timeout=60) for _ in workers}
        for worker in workers:
            worker.join()
        assert len(keys) == 1
        assert sorted(path.name for path in folder.iterdir()) == [KEY_FILE]  # no leftovers


def test_derived_keys_differ_by_purpose_and_by_secret():
    secret = "s" * 32
    assert derive_key(secret, "telegram-callback") != derive_key(secret, "other")
    assert derive_key(secret, "telegram-callback") != derive_key("t" * 32, "telegram-callback")
    assert derive_key(secret, "telegram-callback") == derive_key(secret, "telegram-callback")


def test_a_key_made_by_another_worker_meanwhile_wins(tmp_path, monkeypatch):
    """The race itself, made certain: the file appears between the check and the write."""
    (tmp_path / KEY_FILE).write_text("made-by-the-other-worker-first")
    monkeypatch.setattr("bot.keys.Path.exists", lambda _path: False)
    assert instance_secret_key(tmp_path) == "made-by-the-other-worker-first"
    assert sorted(path.name for path in tmp_path.iterdir()) == [KEY_FILE]
