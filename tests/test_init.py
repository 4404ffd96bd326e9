"""`flask init` prepares an instance once, from any number of hosts; workers only check."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from harness import close_app
from sqlalchemy import func
from sqlalchemy import select

from bot import create_app
from bot.boot import NotInitialised
from bot.db import new_session
from bot.models import Faq
from bot.models import ModelVersion

ROOT = Path(__file__).resolve().parent.parent


def flask_env(instance: Path, model: Path, database_url: str | None) -> dict[str, str]:
    env = {**os.environ, "BOT_INSTANCE_PATH": str(instance), "BOT_BASE_MODEL": str(model)}
    env.pop("BOT_AUTO_INIT", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def flask(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "bot", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def worker(instance: Path, model: Path, database_url: str | None):  # noqa: ANN201
    """An app as a WSGI server's worker builds it: no auto-init, no CLI."""
    config = {"TESTING": True, "BOT_INSTANCE_PATH": str(instance), "BOT_BASE_MODEL": str(model)}
    if database_url is not None:
        config["DATABASE_URL"] = database_url
    return create_app(config)


def test_a_worker_on_an_uninitialised_database_stops_and_says_what_to_run(
    tmp_path, tiny_bert, database_url
):
    with pytest.raises(NotInitialised, match=r"run `flask --app bot init`"):
        worker(tmp_path / "instance", tiny_bert, database_url)


def test_two_inits_at_once_prepare_the_instance_once(tmp_path, tiny_bert, database_url):
    env = flask_env(tmp_path / "instance", tiny_bert, database_url)
    runs = [flask("init", env=env) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sum("Seeded 30 FAQs" in output for output in outputs) == 1, outputs
    assert all("Model version v1 is active" in output for output in outputs), outputs

    app = worker(tmp_path / "instance", tiny_bert, database_url)  # no longer refused
    with new_session(app) as session:
        assert session.scalar(select(func.count(Faq.id))) == 30
        assert session.scalars(select(ModelVersion.name)).all() == ["v1"]
    reply = app.test_client().post("/api/chat", json={"message": "apa itu mode mewah"})
    assert reply.status_code == 200 and reply.get_json()["model_version"] == "v1"
    close_app(app)

    again = flask("init", env=env)
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output
    assert "newest migration" in output and "Seeded" not in output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def workers_started_by(pid: int) -> list[int]:
    """`flask worker` processes a development server started (they carry its pid)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in arguments and str(pid).encode() in arguments:
            found.append(int(entry.name))
    return found


def test_flask_run_initialises_a_fresh_instance_itself(tmp_path, tiny_bert, database_url):
    """The quickstart's one command: `flask run` on nothing at all answers questions, and
    brings a retraining worker along, which ends with it."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "bot", "run", "--port", str(port)],
        cwd=ROOT,
        env=flask_env(tmp_path / "instance", tiny_bert, database_url),
        stdout=(tmp_path / "server.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    health = r.read().decode()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "flask run did not come up"
                time.sleep(0.5)
        assert '"model_version":"v1"' in health.replace(" ", "")
        assert len(workers_started_by(server.pid)) == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    deadline = time.monotonic() + 120
    while workers_started_by(server.pid):  # the worker notices and stops
        assert time.monotonic() < deadline, "the development worker outlived its server"
        time.sleep(0.5)


def test_init_sweeps_orphans_and_keeps_known_versions(app, runner):
    models = Path(app.instance_path) / "models"
    orphan, staging = models / "v99", models / ".staging-crashed"
    for leftover in (orphan, staging):
        leftover.mkdir(parents=True)
        (leftover / "model.safetensors").write_text("half written")
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert not orphan.exists() and not staging.exists()
    assert (models / "v1" / "metrics.json").is_file()  # the version the database knows stays


@pytest.mark.parametrize("name", ["../outside", "/etc", "v1/../../x", ".."])
def test_a_version_directory_is_always_inside_the_models_folder(tmp_path, name):
    from bot.versions import version_dir

    with pytest.raises(ValueError, match="not a model version name"):
        version_dir(tmp_path / "models", name)
