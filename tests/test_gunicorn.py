"""Real gunicorn with deploy/gunicorn.conf.py: workers boot warm and swap models under load."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from harness import app_config
from sqlalchemy import select
from sqlalchemy import update

from bot import create_app
from bot.bootstrap import refresh_index
from bot.db import new_session
from bot.models import Faq
from bot.models import ModelVersion

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SWAP_DEADLINE = 5.0  # every worker serves a change within this many seconds
PROBE = "apa itu mode mewah"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn -c deploy/gunicorn.conf.py on an initialised instance, on 127.0.0.1."""

    def __init__(
        self,
        instance: str,
        model: str,
        database_url: str,
        tmp_path: Path,
        workers: int = 2,
        store: str = "",
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "BOT_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "BOT_MODEL_STORE": store,
            "BOT_INSTANCE_PATH": instance,
            "BOT_BASE_MODEL": model,
            "DATABASE_URL": database_url,
            "BOT_RELOAD_SECONDS": "1",
            "BOT_API_RATE_LIMIT_IP": "1000000 per minute",  # checked, never reached
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{self.port}"),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, {}

    def ask(self, message: str) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.base + "/api/chat",
            data=json.dumps({"message": message}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, {}

    def wait_until_up(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.stop()
            try:
                if self.get("/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.3)

    def served(self, samples: int = 40) -> dict[int, tuple]:
        """(version, index revision) each worker serves, by pid, from /healthz."""
        seen: dict[int, tuple] = {}
        for _ in range(samples):
            status, health = self.get("/healthz")
            if status == 200:
                serving = health["serving"]
                seen[serving["pid"]] = (serving["model_version"], serving["index_revision"])
        return seen

    def stop(self) -> str:
        self.process.terminate()
        return self.process.communicate(timeout=60)[0]


@pytest.fixture
def served_app(app):  # noqa: ANN001, ANN201
    """An initialised instance (v1) plus a second version v2 to swap to."""
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["retrain", "--max-steps", "2", "--force", "--no-progress", "--json"]
    )
    assert result.exit_code == 0, result.output
    app.extensions["db_engine"].dispose()
    return app


def active(app) -> tuple[str, int]:  # noqa: ANN001
    with new_session(app) as session:
        version = session.scalars(select(ModelVersion).where(ModelVersion.active)).one()
        return version.name, version.index_revision


def test_workers_boot_warm_and_swap_under_load_without_a_failed_request(served_app, tmp_path):
    config = served_app.config
    server = Gunicorn(
        served_app.instance_path, config["BOT_BASE_MODEL"], config["DATABASE_URL"], tmp_path
    )
    swap_under_load(served_app, [server], workers=2)


def test_two_hosts_with_one_model_store_swap_together(tmp_path, tiny_bert, database_url):
    """Two "hosts": instance folders of their own, one database, one BOT_MODEL_STORE."""
    store = str(tmp_path / "store")
    url = database_url or f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    app = create_app({**app_config(tmp_path / "host-a", tiny_bert, url), "BOT_MODEL_STORE": store})
    result = app.test_cli_runner().invoke(
        args=["retrain", "--max-steps", "2", "--force", "--no-progress", "--json"]
    )
    assert result.exit_code == 0, result.output
    app.extensions["db_engine"].dispose()
    servers = [
        Gunicorn(str(tmp_path / host), str(tiny_bert), url, tmp_path, workers=1, store=store)
        for host in ("host-a", "host-b")
    ]
    swap_under_load(app, servers, workers=2)
    assert (tmp_path / "host-b" / "models" / "v1" / "metrics.json").is_file()  # fetched


def swap_under_load(app, servers: list[Gunicorn], workers: int) -> None:  # noqa: ANN001
    """Clients on every server while a FAQ is edited, v1 activated, v2 rolled back to: every
    worker serves each change within SWAP_DEADLINE, and no request fails."""

    def served() -> dict[int, tuple]:
        """What each worker serves now: sampled until every worker has answered (which worker
        takes a request is up to the kernel; a busy machine can send 40 in a row to one)."""
        seen: dict[int, tuple] = {}
        deadline = time.monotonic() + 30
        while len(seen) < workers and time.monotonic() < deadline:
            for server in servers:
                seen.update(server.served(10))
        return seen

    try:
        for server in servers:
            server.wait_until_up()
        boot = served()
        assert len(boot) == workers and set(boot.values()) == {active(app)}, boot
        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def load(server: Gunicorn) -> None:
            while not stop.is_set():
                statuses[server.ask(PROBE)[0]] += 1

        clients = [threading.Thread(target=load, args=(s,)) for s in servers for _ in range(2)]
        for client in clients:
            client.start()
        runner = app.test_cli_runner()
        changes = {
            "a FAQ edited": lambda: _edit_a_faq(app),
            "another version activated": lambda: runner.invoke(args=["model", "activate", "v1"]),
            "rolled back": lambda: runner.invoke(args=["model", "activate", "v2"]),
        }
        took = {}
        for change, make in changes.items():
            make()
            wanted = active(app)
            started = time.monotonic()
            while set(served().values()) != {wanted}:
                assert time.monotonic() - started < SWAP_DEADLINE, (change, served())
            took[change] = time.monotonic() - started
        stop.set()
        for client in clients:
            client.join()
        assert set(statuses) == {200}, statuses
        assert sum(statuses.values()) > 20
        assert len(served()) == workers
        print("swap seconds:", took, "requests:", dict(statuses))
    finally:
        outputs = [server.stop() for server in servers]
        print("\n".join(outputs))  # shown when the test fails
    for output in outputs:
        assert "Traceback" not in output, output


def _edit_a_faq(app) -> None:  # noqa: ANN001
    """An admin's edit, then the re-index every edit triggers."""
    with new_session(app) as session:
        faq = session.scalars(select(Faq).where(Faq.question == "Apa itu mode mewah?")).one()
        session.execute(update(Faq).where(Faq.id == faq.id).values(answer="Diedit."))
        session.commit()
    with app.app_context(), new_session(app) as session:
        refresh_index(app, session)


def test_a_worker_on_an_uninitialised_database_does_not_boot(tmp_path, tiny_bert, database_url):
    url = database_url or f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    server = Gunicorn(str(tmp_path / "fresh"), str(tiny_bert), url, tmp_path)
    output = server.process.communicate(timeout=120)[0]
    assert server.process.returncode != 0
    assert "run `flask --app bot init`" in output
