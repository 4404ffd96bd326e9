"""Per-chat message rate limit.

In memory and per process: each worker process counts on its own, and a restart forgets.
That is enough to stop one chat from flooding the bot; it is not a global quota.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    NOTIFY = "notify"  # first refusal in the window: tell the user once
    DROP = "drop"  # already told: stay quiet


class RateLimiter:
    """Sliding window: at most `limit` messages per `window` seconds per chat (0 = no limit)."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_chats = max_chats
        self._hits: dict[int, deque[float]] = {}
        self._notified: dict[int, float] = {}
        self._lock = threading.Lock()

    def check(self, chat_id: int) -> Verdict:
        """Count one message from `chat_id` and say whether to answer it."""
        if self.limit <= 0:
            return Verdict.ALLOW
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(chat_id, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) < self.limit:
                hits.append(now)
                self._notified.pop(chat_id, None)
                if len(self._hits) > self._max_chats:
                    self._forget_idle(now)
                return Verdict.ALLOW
            if chat_id in self._notified:
                return Verdict.DROP
            self._notified[chat_id] = now
            return Verdict.NOTIFY

    def _forget_idle(self, now: float) -> None:
        """Keep memory bounded: drop chats with no message inside the window."""
        cutoff = now - self.window
        idle = [chat for chat, hits in self._hits.items() if not hits or hits[-1] <= cutoff]
        for chat in idle:
            self._hits.pop(chat, None)
            self._notified.pop(chat, None)
