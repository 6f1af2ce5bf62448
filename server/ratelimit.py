"""In-process rate limits: a token bucket per poster, a failure window per
login key. Kept on the app (never module globals); limits are per process."""

from __future__ import annotations

import math
import time
from collections import deque

from .errors import RateLimited


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up, one bucket per key."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic, max_keys: int = 100_000):
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._buckets: dict[object, tuple[float, float]] = {}

    def take(self, key, what: str = "posting") -> None:
        """Spend one token or raise RateLimited with the seconds until one is free."""
        if self.rate <= 0:
            return
        now = self.clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self.rate)
            raise RateLimited(f"{what} too fast; try again in {wait} s", retry_after=wait)
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory; a reset only ever forgives
        self._buckets[key] = (tokens - 1, now)


class FailureWindow:
    """Counts failures per key over a sliding window; `check` refuses once
    `limit` failures are inside it."""

    def __init__(self, limit: int, window: float, clock=time.monotonic, max_keys: int = 100_000):
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._failures: dict[object, deque[float]] = {}

    def _recent(self, key) -> deque[float]:
        now = self.clock()
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def check(self, *keys) -> None:
        for key in keys:
            times = self._recent(key)
            if len(times) >= self.limit:
                wait = max(1, math.ceil(times[0] + self.window - self.clock()))
                raise RateLimited(f"too many failed sign-ins; try again in {wait} s", retry_after=wait)

    def fail(self, *keys) -> None:
        if len(self._failures) >= self.max_keys:
            self._failures.clear()
        for key in keys:
            times = self._recent(key)
            times.append(self.clock())
            self._failures[key] = times

    def clear(self, *keys) -> None:
        for key in keys:
            self._failures.pop(key, None)
