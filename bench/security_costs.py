"""What the defences cost: API latency with limits and keys, refusing hostile workbooks,
the retention purge, and an outbox retry round.

python bench/security_costs.py [--repeats 200] [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from common import percentiles
from common import temp_app
from common import time_calls

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

MESSAGE = {"message": "min, dashboard aku kosong knp ya"}


def time_posts(client, headers: dict[str, str], repeats: int) -> dict[str, float]:  # noqa: ANN001
    def post() -> None:
        assert client.post("/api/chat", json=MESSAGE, headers=headers).status_code == 200

    return percentiles(time_calls(post, repeats))


def api_latency(repeats: int) -> None:
    """POST /api/chat in-process: limiter off, limiter on, limiter on plus an API key."""
    plain = temp_app(RATELIMIT_ENABLED=False).test_client()
    print("POST /api/chat, limits off:", json.dumps(time_posts(plain, {}, repeats)))
    app = temp_app(BOT_API_RATE_LIMIT_IP="1000000 per minute")
    key = app.test_cli_runner().invoke(args=["api-key", "create", "bench"]).stdout.strip()
    limited = app.test_client()
    print("POST /api/chat, limits on:", json.dumps(time_posts(limited, {}, repeats)))
    keyed = time_posts(limited, {"X-API-Key": key}, repeats)
    print("POST /api/chat, limits on, with an API key:", json.dumps(keyed))


def workbook_refusals() -> None:
    from hostile_files import VALID
    from hostile_files import XLSX_CASES

    from bot.admin.spreadsheet import xlsx_to_csv
    from training.tabular import CsvValidationError

    for name in ("dimension-bomb", "zip-bomb", "billion-laughs", "undeclared-rows-past-the-cap"):
        started = time.perf_counter()
        try:
            xlsx_to_csv(XLSX_CASES[name])
        except CsvValidationError:
            pass
        took = (time.perf_counter() - started) * 1000
        print(f"xlsx {name} ({len(XLSX_CASES[name]):,} bytes) refused in {took:.1f} ms")
    started = time.perf_counter()
    xlsx_to_csv(VALID)
    print(f"xlsx valid one-row workbook read in {(time.perf_counter() - started) * 1000:.1f} ms")


def purge_costs(rows: int) -> None:
    from sqlalchemy import insert

    from bot.db import new_session
    from bot.models import QueryLog
    from bot.models import utcnow
    from bot.retention import purge

    app = temp_app(BOT_QUERY_LOG_DAYS=0)
    old = utcnow() - timedelta(days=200)
    with new_session(app) as session:
        session.execute(
            insert(QueryLog),
            [
                {"text": f"pesan nomor {n} rekening {n % 97}", "channel": "api",
                 "fallback": False, "created_at": old if n % 2 else utcnow()}
                for n in range(rows)
            ],
        )  # fmt: skip
        session.commit()
        started = time.perf_counter()
        report = purge(session, matching="rekening 42")
        took = time.perf_counter() - started
        print(f"purge --matching over {rows:,} rows: {report.queries} deleted in {took:.2f} s")
        started = time.perf_counter()
        report = purge(session, older_than=timedelta(days=90))
        took = time.perf_counter() - started
        print(
            f"purge --older-than 90 over {rows:,} rows: {report.queries} deleted in {took:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    print("load average:", os.getloadavg())
    workbook_refusals()
    purge_costs(args.rows)
    api_latency(args.repeats)
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    main()
