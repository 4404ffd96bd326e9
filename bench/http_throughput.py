"""POST /api/chat through gunicorn: requests/s and latency with concurrent clients, and the
peak memory of a serving worker.

    pip install -e ".[deploy]"
    python bench/http_throughput.py [--workers 2] [--clients 8] [--seconds 20]
                                    [--cache-size 0] [--base-model NAME] [--instance DIR]

The instance is bootstrapped first in a separate process (as `flask` would), then gunicorn
serves it exactly as the README's deployment command does. Clients cycle through the
evaluation file's messages (none of them indexed); with the default `--cache-size 0` every
request encodes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import free_port
from common import load_average
from common import percentiles
from common import run_in_threads
from common import scratch_dir
from common import unseen_messages

from bot.config import DEFAULT_BASE_MODEL

ROOT = Path(__file__).resolve().parent.parent


def post(port: int, message: str) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(
        "POST", "/api/chat", json.dumps({"message": message}), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}")
    return (time.perf_counter() - started) * 1000


def worker_memory_mb(master: int) -> list[tuple[float, float]]:
    """(peak, current) resident memory of each worker of the gunicorn master, in MB."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    figures = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        kilobytes = {line.split(":")[0]: int(line.split()[1]) for line in status if "kB" in line}
        figures.append((kilobytes["VmHWM"] / 1024, kilobytes["VmRSS"] / 1024))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--cache-size", type=int, default=0, help="BOT_EMBED_CACHE_SIZE")
    parser.add_argument("--threads", type=int, default=1, help="BOT_ENCODER_THREADS")
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--instance", help="serve this instance folder instead of a new one")
    args = parser.parse_args()
    instance = args.instance or scratch_dir("faq-http-bench-")
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        BOT_INSTANCE_PATH=instance,
        BOT_BASE_MODEL=args.base_model,
        BOT_EMBED_CACHE_SIZE=str(args.cache_size),
        BOT_ENCODER_THREADS=str(args.threads),
        SECRET_KEY="bench-secret-key-long-enough",
        BOT_API_RATE_LIMIT_IP="1000000 per minute",  # checked as in production, never reached
    )
    subprocess.run(  # migrate, seed, bootstrap and export before the workers start
        [sys.executable, "-m", "flask", "--app", "bot", "init"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "-b", f"127.0.0.1:{port}"]
        + ["--log-level", "warning", "bot:create_app()"],
        env=env,
        cwd=ROOT,
    )
    try:
        messages = unseen_messages()
        deadline = time.monotonic() + 120
        while True:
            try:
                for message in messages[: 4 * args.workers]:  # every worker loads its model
                    post(port, message)
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        latencies: list[float] = []
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def client(offset: int) -> None:
            turn = offset
            while time.monotonic() < stop:
                elapsed = post(port, messages[turn % len(messages)])
                turn += args.clients
                with lock:
                    latencies.append(elapsed)

        elapsed = run_in_threads(client, args.clients)
        memory = worker_memory_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print(
        f"gunicorn {args.workers} workers, {args.clients} clients, {args.seconds:.0f} s, "
        f"BOT_ENCODER_THREADS={args.threads}, BOT_EMBED_CACHE_SIZE={args.cache_size}; "
        f"{load_average()}"
    )
    print(f"POST /api/chat: {len(latencies) / elapsed:.1f} requests/s, {percentiles(latencies)}")
    for peak, current in memory:
        print(f"worker memory: peak {peak:.0f} MB, now {current:.0f} MB")


if __name__ == "__main__":
    main()
