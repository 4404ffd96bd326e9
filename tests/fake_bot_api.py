"""A local stand-in for the Telegram Bot API: records every call, can fail or stall on demand.

Point python-telegram-bot at it with `base_url=fake.base_url`. It speaks just enough of the
API for this bot (getMe, sendMessage, answerCallbackQuery, setWebhook, deleteWebhook,
getWebhookInfo, getUpdates, ...), answering like Telegram does.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_ID = 4242
BOT_USERNAME = "finbuddy_test_bot"
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "FinBuddy",
    "username": BOT_USERNAME,
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass(frozen=True)
class Call:
    """One Bot API request: its method, token and parameters (as sent: strings)."""

    method: str
    token: str
    params: dict[str, str]
    at: float = field(default_factory=time.perf_counter)

    def json(self, name: str) -> Any:
        """A parameter PTB sent JSON-encoded (chat_id, reply_markup, allowed_updates...)."""
        return json.loads(self.params[name])


@dataclass
class _Trouble:
    status: int = 0
    stall: float = 0.0
    times: int | None = None  # None: until cleared


class FakeBotApi:
    """HTTP server on 127.0.0.1 (random port) in a daemon thread; use as a context manager."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._changed = threading.Condition()
        self._trouble: dict[str, _Trouble] = {}
        self._updates: list[dict[str, Any]] = []
        self._message_ids = itertools.count(1)
        self._release = threading.Event()
        self.webhook: dict[str, Any] = {"url": "", "pending_update_count": 0}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeBotApi:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._release.set()  # free stalled handlers
        self._server.shutdown()
        self._server.server_close()

    # -- what tests tell it -------------------------------------------------------------

    def fail(self, method: str, status: int = 500, times: int | None = None) -> None:
        """Answer `method` with an HTTP error (Telegram's JSON error body)."""
        self._trouble[method] = _Trouble(status=status, times=times)

    def stall(self, method: str, seconds: float, times: int | None = None) -> None:
        """Hold `method` for `seconds` before answering (past the client's timeout)."""
        self._trouble[method] = _Trouble(stall=seconds, times=times)

    def heal(self) -> None:
        self._trouble.clear()

    def queue_update(self, update: dict[str, Any]) -> None:
        """Make getUpdates return this update."""
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    def reset(self) -> None:
        with self._changed:
            self.calls.clear()
            self._updates.clear()
        self.heal()

    # -- what tests read ----------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._changed:
            return [call for call in self.calls if call.method == method]

    def sent_messages(self, chat_id: int | None = None) -> list[Call]:
        return [
            call
            for call in self.calls_to("sendMessage")
            if chat_id is None or int(call.params["chat_id"]) == chat_id
        ]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Block until `method` was called at least `count` times (for benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [call for call in self.calls if call.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{method} called {len(found)} times, wanted {count}")
                self._changed.wait(left)

    # -- the API ------------------------------------------------------------------------

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _trouble_for(self, method: str) -> _Trouble | None:
        trouble = self._trouble.get(method)
        if trouble is None:
            return None
        if trouble.times is not None:
            trouble.times -= 1
            if trouble.times <= 0:
                self._trouble.pop(method, None)
        return trouble

    def _result(self, method: str, params: dict[str, str]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("sendMessage", "editMessageText"):
            chat_id = int(params["chat_id"])
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "from": BOT_USER,
                "text": params.get("text", ""),
            }
            if "reply_markup" in params:
                message["reply_markup"] = json.loads(params["reply_markup"])
            return message
        if method in ("answerCallbackQuery", "editMessageReplyMarkup", "setMyCommands"):
            return True
        if method == "setWebhook":
            self.webhook = {
                "url": params["url"],
                "pending_update_count": 0,
                "max_connections": 40,
                "allowed_updates": json.loads(params.get("allowed_updates", "[]")),
            }
            return True
        if method == "deleteWebhook":
            self.webhook = {"url": "", "pending_update_count": 0}
            return True
        if method == "getWebhookInfo":
            return {"has_custom_certificate": False, **self.webhook}
        if method == "getUpdates":
            return self._get_updates(params)
        return None

    def _get_updates(self, params: dict[str, str]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        wait = min(float(params.get("timeout", 0) or 0), 2.0)
        deadline = time.monotonic() + wait
        with self._changed:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            return list(self._updates)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                token, _, method = self.path.removeprefix("/bot").partition("/")
                length = int(self.headers.get("Content-Length", 0))
                params = _parse_body(self.headers.get("Content-Type", ""), self.rfile.read(length))
                fake._record(Call(method, token, params))
                trouble = fake._trouble_for(method)
                if trouble is not None and trouble.stall:
                    fake._release.wait(trouble.stall)
                if trouble is not None and trouble.status:
                    self._reply(
                        trouble.status,
                        {"ok": False, "error_code": trouble.status, "description": "Boom"},
                    )
                    return
                result = fake._result(method, params)
                if result is None:
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                self._reply(200, {"ok": True, "result": result})

            do_GET = do_POST  # noqa: N815

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timed out): like Telegram, carry on

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


def _parse_body(content_type: str, body: bytes) -> dict[str, str]:
    """PTB posts form-urlencoded fields (multipart when uploading); JSON is accepted too."""
    if content_type.startswith("application/json"):
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in json.loads(body).items()}
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        return {
            part.get_param("name", header="content-disposition"): part.get_content()
            for part in message.iter_parts()
        }
    return dict(parse_qsl(body.decode(), keep_blank_values=True))
