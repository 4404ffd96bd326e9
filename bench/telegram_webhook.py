"""Telegram webhook latency and throughput: waitress + the app + a fake Bot API on localhost.

python bench/telegram_webhook.py [--updates 200] [--clients 4] [--base-model NAME_OR_PATH]

Prints, for POST /telegram/webhook: the HTTP round trip (what Telegram waits for) p50/p99
and requests/s; and end to end (update posted -> sendMessage received by the fake Bot API)
p50/p99, first one update at a time (unloaded), then as a burst from several clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path

from common import free_port
from common import peak_rss_mb
from common import percentiles
from common import run_in_threads
from common import temp_app

from bot.config import DEFAULT_BASE_MODEL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_bot_api import FakeBotApi  # noqa: E402
from telegram_updates import message  # noqa: E402

SECRET = "bench-secret"
MESSAGES = [
    "min, dashboard aku kosong knp ya",
    "gmn cara masukin gaji bulanan",
    "Apa itu mode mewah?",
    "bisa dipake offline gak sih",
]


class Poster:
    """One keep-alive connection that posts updates and times each round trip."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": SECRET,
        }

    def post(self, update: dict) -> tuple[float, float, int]:
        """(started, round trip ms, status)."""
        started = time.perf_counter()
        self.connection.request("POST", "/telegram/webhook", json.dumps(update), self.headers)
        response = self.connection.getresponse()
        response.read()
        return started, (time.perf_counter() - started) * 1000, response.status


def end_to_end(fake: FakeBotApi, sent_at: dict[int, float], timeout: float) -> list[float]:
    """ms from posting each update to the fake Bot API receiving its sendMessage."""
    fake.wait_for("sendMessage", len(sent_at), timeout=timeout)
    received = {call.json("chat_id"): call.at for call in fake.calls_to("sendMessage")}
    return [(received[chat] - started) * 1000 for chat, started in sent_at.items()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=200, help="updates per phase (max 2000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent posters in the burst")
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    parser.add_argument(
        "--base-model",
        default=os.environ.get("BOT_BASE_MODEL", DEFAULT_BASE_MODEL),
        help="BOT_BASE_MODEL for the throwaway app (default: $BOT_BASE_MODEL or the embedded one)",
    )
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many s")
    args = parser.parse_args()
    count = max(10, min(args.updates, 2000))

    with FakeBotApi() as fake:
        app = temp_app(
            BOT_BASE_MODEL=args.base_model,
            TELEGRAM_BOT_TOKEN="1:bench",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            TELEGRAM_API_URL=fake.base_url,
            TELEGRAM_RATE_LIMIT=0,
        )
        from waitress.server import create_server

        port = free_port()
        server = create_server(app, host="127.0.0.1", port=port, threads=args.threads)
        threading.Thread(target=server.run, daemon=True).start()
        time.sleep(0.3)

        warm = Poster(port)
        for i in range(5):  # builds the index, initialises PTB (getMe), warms the model
            warm.post(message(1 + i, MESSAGES[i % len(MESSAGES)]))
        fake.wait_for("sendMessage", 5, timeout=args.timeout)
        fake.reset()

        # 1. one at a time: each update is answered before the next is posted
        sent_at: dict[int, float] = {}
        round_trips: list[float] = []
        for i in range(count):
            chat_id = 10_000 + i
            started, took, status = warm.post(message(chat_id, MESSAGES[i % len(MESSAGES)]))
            assert status == 200, status
            sent_at[chat_id] = started
            round_trips.append(took)
            fake.wait_for("sendMessage", i + 1, timeout=args.timeout)
        print("webhook round trip, one at a time:", json.dumps(percentiles(round_trips)))
        e2e = end_to_end(fake, sent_at, args.timeout)
        print("end to end, one at a time:", json.dumps(percentiles(e2e)))
        fake.reset()

        # 2. burst: several clients post as fast as the webhook accepts
        per_client = count // args.clients
        results: list[tuple[int, float, float, int]] = []  # chat, started, round trip, status
        lock = threading.Lock()

        def client(index: int) -> None:
            poster = Poster(port)
            for i in range(per_client):
                chat_id = 100_000 + index * 10_000 + i
                started, took, status = poster.post(message(chat_id, MESSAGES[i % 4]))
                with lock:
                    results.append((chat_id, started, took, status))

        began = time.perf_counter()
        accepted_in = run_in_threads(client, args.clients)
        burst_trips = [took for _, _, took, _ in results]
        burst_sent = {chat: started for chat, started, _, status in results if status == 200}
        refused = len(results) - len(burst_sent)
        e2e_burst = end_to_end(fake, burst_sent, args.timeout)
        answered_in = max(call.at for call in fake.calls_to("sendMessage")) - began
        total = len(results)
        print(
            f"burst of {total} updates from {args.clients} clients: webhook round trip",
            json.dumps(percentiles(burst_trips)),
        )
        print(f"  accepted: {total / accepted_in:.1f} requests/s ({refused} refused with 503)")
        print(f"  answered: {len(burst_sent) / answered_in:.1f} updates/s end to end")
        print("  end to end under the burst:", json.dumps(percentiles(e2e_burst)))
        print(f"base model: {args.base_model}; peak RSS: {peak_rss_mb()} MB")
        server.close()
        app.extensions["telegram"].close()


if __name__ == "__main__":
    main()
