"""Production topology figures: gunicorn with deploy/gunicorn.conf.py on a real instance.

    python bench/production.py [--workers 2] [--swaps 6] [--database-url URL]

Prints `flask init` time, worker boot time (start to every worker serving), RSS per worker,
and, under 4 clients, the time from each activation to every worker serving it and the
requests that failed meanwhile. The instance gets a second version (a few training steps) so
activations can switch between two.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from common import free_port
from common import load_average
from common import percentiles
from common import scratch_dir

from bot.config import DEFAULT_BASE_MODEL

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ["apa itu mode mewah", "dashboard aku kosong knp", "cuaca besok gimana"]


def flask(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "bot", *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}
    except OSError:
        return 0, {}


def served(base: str, samples: int = 20) -> dict[int, tuple]:
    seen = {}
    for _ in range(samples):
        status, health = call(base + "/healthz")
        if status == 200 and health["serving"]["state"] == "ready":
            state = health["serving"]
            seen[state["pid"]] = (state["model_version"], state["index_revision"])
    return seen


def rss_mb(parent: int) -> list[float]:
    """Resident memory of the master's children (the workers), from /proc."""
    sizes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["PPid"]) == parent and "VmRSS" in fields:
            sizes.append(round(int(fields["VmRSS"].split()[0]) / 1024, 1))
    return sorted(sizes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--swaps", type=int, default=6)
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--database-url", help="default: SQLite in the instance folder")
    args = parser.parse_args()
    instance = scratch_dir("faq-prod-bench-")
    port = free_port()
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        BOT_INSTANCE_PATH=instance,
        BOT_BASE_MODEL=args.base_model,
        BOT_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(args.workers),
        BOT_API_RATE_LIMIT_IP="1000000 per minute",
        PROMETHEUS_MULTIPROC_DIR=scratch_dir("faq-prod-metrics-"),
        SECRET_KEY="bench-secret-key-long-enough",
    )
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    print(f"{args.base_model}, {args.workers} workers; {load_average()}")
    print(f"flask init (fresh instance): {flask(env, 'init'):.1f} s")
    trained = flask(env, "retrain", "--max-steps", "5", "--force", "--no-progress")
    print(f"a second version (5 training steps, export, parity): {trained:.1f} s")
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while len(served(base, 10)) < args.workers:
            time.sleep(0.05)
        print(f"gunicorn start to every worker serving: {time.perf_counter() - started:.1f} s")
        print(f"RSS per worker: {rss_mb(server.pid)} MB")
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        stop = threading.Event()

        def client(turn: int) -> None:
            while not stop.is_set():
                began = time.perf_counter()
                status, _ = call(base + "/api/chat", {"message": MESSAGES[turn % 3]})
                latencies.append((time.perf_counter() - began) * 1000)
                statuses[status] += 1
                turn += 1

        clients = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in clients:
            thread.start()
        swaps = []
        for swap in range(args.swaps):
            flask(env, "model", "activate", "v1" if swap % 2 == 0 else "v2")
            activated = time.perf_counter()
            wanted = "v1" if swap % 2 == 0 else "v2"
            while {key[0] for key in served(base, 10).values()} != {wanted} or len(
                served(base, 10)
            ) < args.workers:
                time.sleep(0.02)
            swaps.append(time.perf_counter() - activated)
        stop.set()
        for thread in clients:
            thread.join()
        print(
            f"activation committed to every worker serving it (s): {[round(s, 2) for s in swaps]}"
        )
        print(f"requests during the swaps: {dict(statuses)}; latency {percentiles(latencies)}")
        print(f"RSS per worker after the swaps: {rss_mb(server.pid)} MB; {load_average()}")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
