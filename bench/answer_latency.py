"""p50/p99 latency of answer() in-process and of POST /api/chat through waitress on localhost.

python bench/answer_latency.py [--repeats 300] [--base-model embedded:multilingual-e5-small]
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time

from common import free_port
from common import peak_rss_mb
from common import percentiles
from common import temp_app
from common import time_calls

from bot.config import DEFAULT_BASE_MODEL

MESSAGES = [
    "min, dashboard aku kosong knp ya",
    "gmn cara masukin gaji bulanan",
    "bisa dipake offline gak sih",
    "cuaca jakarta hari ini gimana",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    args = parser.parse_args()

    # the per-address limit is checked as in production, but set high enough not to refuse
    app = temp_app(BOT_BASE_MODEL=args.base_model, BOT_API_RATE_LIMIT_IP="1000000 per minute")
    from bot.answering import answer

    with app.app_context():
        answer("warm up", channel="bench")
        turn = iter(range(10**9))
        in_process = time_calls(
            lambda: answer(MESSAGES[next(turn) % len(MESSAGES)], channel="bench"), args.repeats
        )
    print("answer() in-process:", json.dumps(percentiles(in_process)))

    from waitress.server import create_server

    port = free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=args.threads)
    threading.Thread(target=server.run, daemon=True).start()
    time.sleep(0.3)

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post() -> None:
        body = json.dumps({"message": MESSAGES[next(turn) % len(MESSAGES)]})
        connection.request("POST", "/api/chat", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status

    over_http = time_calls(post, args.repeats)
    print("POST /api/chat via waitress (1 client):", json.dumps(percentiles(over_http)))

    clients, per_client = 4, args.repeats // 4

    def client_loop() -> None:
        own = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(per_client):
            own.request(
                "POST",
                "/api/chat",
                json.dumps({"message": MESSAGES[i % len(MESSAGES)]}),
                {"Content-Type": "application/json"},
            )
            own.getresponse().read()

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(
        f"throughput with {clients} concurrent clients: "
        f"{clients * per_client / elapsed:.1f} requests/s"
    )
    print(f"peak RSS: {peak_rss_mb()} MB")
    server.close()


if __name__ == "__main__":
    main()
