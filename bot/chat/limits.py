"""Per-user and per-chat rate limits (token buckets), checked before any work is done.

Not the `limits` library: it offers fixed, moving and sliding windows but no token bucket (a
burst, then a steady refill), and its memory storage reads the wall clock, where these buckets
take an injected monotonic clock that the tests drive."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimited(Exception):
    """Too many requests; `retry_after` seconds until one more is allowed."""

    def __init__(self, scope: str, retry_after: float):
        super().__init__(f"{scope} rate limit, retry after {retry_after:.1f} s")
        self.scope = scope
        self.retry_after = retry_after


class TokenBuckets:
    """One token bucket per key (a user or a chat): `per_minute` refill, `burst` capacity."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, time

    def wait_time(self, key: str) -> float:
        """Seconds until `key` may act again (0 when it may act now)."""
        tokens, _ = self._refilled(key)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str) -> None:
        tokens, now = self._refilled(key)
        self._buckets[key] = (tokens - 1, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:  # forget the longest-idle keys
            self._buckets.popitem(last=False)

    def _refilled(self, key: str) -> tuple[float, float]:
        now = self.clock()
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - then) * self.rate), now


class RateLimiter:
    """Per-user and per-chat limits, checked together: a refused request costs nothing."""

    def __init__(self, limits, clock: Callable[[], float] = time.monotonic):
        self.users = TokenBuckets(limits.user_per_minute, limits.user_burst, clock=clock)
        self.chats = TokenBuckets(limits.chat_per_minute, limits.chat_burst, clock=clock)

    def check(self, user_key: str, chat_key: str) -> None:
        for scope, buckets, key in (
            ("user", self.users, user_key),
            ("chat", self.chats, chat_key),
        ):
            wait = buckets.wait_time(key)
            if wait > 0:
                raise RateLimited(scope, math.ceil(wait))
        self.users.take(user_key)
        self.chats.take(chat_key)


class Notices:
    """'Over the limit' said once a window, on platforms where every answer is a message in
    the chat (QQ, Telegram): a flood of 50 requests got 46 refusals, and the platforms mute
    or rate-limit such a bot. The user or chat is told when it may ask again; until then
    further refusals are silent (and still recorded)."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._until: OrderedDict[tuple, float] = OrderedDict()

    def first(self, actor, scope: str, retry_after: float) -> bool:
        # a user over their limit ("user" poems, "refusals" of bad requests) is told in each
        # chat they ask in; a full chat once
        per_user = scope != "chat"
        key = (scope, actor.user_key, actor.chat_key) if per_user else (scope, actor.chat_key)
        now = time.monotonic()
        if self._until.get(key, 0.0) > now:
            return False
        self._until[key] = now + max(retry_after, 1.0)
        self._until.move_to_end(key)
        while len(self._until) > self.size:
            self._until.popitem(last=False)
        return True
