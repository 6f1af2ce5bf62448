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
        self.refused = 0  # requests refused since start (a metric)

    def _tokens(self, key, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def check(self, key, what: str = "posting") -> None:
        """Raise RateLimited, with the seconds until a token is free, if none is."""
        if self.rate <= 0:
            return
        tokens = self._tokens(key, self.clock())
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self.rate)
            self.refused += 1
            raise RateLimited(f"{what} too fast; try again in {wait} s", retry_after=wait)

    def spend(self, key) -> None:
        """Spend one token; never refuses (concurrent spenders may go below zero and wait longer)."""
        if self.rate <= 0:
            return
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory; a reset only ever forgives
        now = self.clock()
        self._buckets[key] = (self._tokens(key, now) - 1, now)

    def take(self, key, what: str = "posting") -> None:
        """check, then spend."""
        self.check(key, what)
        self.spend(key)


class FailureWindow:
    """Counts failures per key over a sliding window; `check` refuses once
    `limit` failures are inside it."""

    def __init__(self, limit: int, window: float, clock=time.monotonic, max_keys: int = 100_000):
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._failures: dict[object, deque[float]] = {}
        self.refused = 0  # sign-ins refused since start (a metric)

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
                self.refused += 1
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
