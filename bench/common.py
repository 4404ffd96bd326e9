"""Shared helpers for the benchmarks: a throwaway app, percentiles, memory."""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def scratch_dir(prefix: str) -> str:
    """A temporary folder, removed when the benchmark exits: an instance with its model
    versions is 1-2 GB. `BENCH_KEEP=1` keeps it, to measure it again (`--instance DIR`)."""
    path = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("BENCH_KEEP") == "1":
        print(f"(kept: {path})")
    else:
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def temp_app(**config: object):  # noqa: ANN201
    """A real app on a fresh SQLite file in a temporary instance folder, initialised (migrated,
    seeded, first model version) as `flask init` would."""
    from bot import create_app

    instance = scratch_dir("faq-bench-")
    return create_app({"BOT_INSTANCE_PATH": instance, "BOT_AUTO_INIT": True, **config})


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49], 2),
        "p99_ms": round(cuts[98], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "n": len(ordered),
    }


def time_calls(call: Callable[[], object], repeats: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run_in_threads(worker: Callable[[int], object], count: int) -> float:
    """Run worker(0) ... worker(count - 1) at once, one thread each; seconds until all end."""
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now, for a server the benchmark starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_average() -> str:
    """Printed with every figure: the machine may be shared."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def unseen_messages() -> list[str]:
    """The evaluation file's messages: none of them is an indexed phrasing."""
    from bot.config import SHIPPED_DATA
    from bot.csv_io import read_pairs_csv

    return [pair.paraphrase for pair in read_pairs_csv(SHIPPED_DATA / "finbuddy_eval.csv")]
