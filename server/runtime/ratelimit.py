"""In-process rate limits: a token bucket per poster and per registering
address, failure windows and a backoff for sign-ins, and the admission gate
in front of password hashing. Kept on the Site (never module globals);
limits are per process.

Every limit is reserved before the slow or serialised work it guards (a
password hash, the write lock) and refunded if that work does not count, so
concurrent requests cannot all pass a check that only one of them should."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ..store.errors import Busy, RateLimited

Clock = Callable[[], float]


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up, one bucket per key."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic, max_keys: int = 100_000):
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._buckets: dict[object, tuple[float, float]] = {}
        self.refused = 0  # requests refused since start (a metric)

    def _tokens(self, key: object, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def check(self, key: object, what: str = "posting") -> float:
        """The tokens `key` holds now; RateLimited (with the seconds until one
        is free) when not one. Spends nothing."""
        if self.rate <= 0:
            return float(self.burst)
        tokens = self._tokens(key, self.clock())
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self.rate)
            self.refused += 1
            raise RateLimited(f"{what} too fast; try again in {wait} s", retry_after=wait)
        return tokens

    def take(self, key: object, what: str = "posting") -> None:
        """Spend one token, or raise RateLimited (with the seconds until one is
        free) and spend nothing. Check and spend happen without a pause, so
        concurrent takers never overdraw the bucket."""
        if self.rate <= 0:
            return
        now = self.clock()
        tokens = self.check(key, what)
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory; a reset only ever forgives
        self._buckets[key] = (tokens - 1, now)

    def refund(self, key: object) -> None:
        """Give back a token `take` spent on work that did not count."""
        if self.rate <= 0 or key not in self._buckets:
            return
        now = self.clock()
        self._buckets[key] = (min(self.burst, self._tokens(key, now) + 1), now)


class FailureWindow:
    """Counts failures per key over a sliding window; a key with `limit`
    failures (or reserved attempts) inside it is refused."""

    def __init__(self, limit: int, window: float, clock: Clock = time.monotonic, max_keys: int = 100_000):
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._failures: dict[object, deque[float]] = {}

    def _recent(self, key: object) -> deque[float]:
        now = self.clock()
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def wait(self, key: object) -> int:
        """Seconds until `key` may try again; 0 when it may now."""
        times = self._recent(key)
        if len(times) < self.limit:
            return 0
        return max(1, math.ceil(times[0] + self.window - self.clock()))

    def add(self, key: object, stamp: float) -> None:
        """Count a failure (or a reserved attempt) at `stamp`."""
        if len(self._failures) >= self.max_keys and key not in self._failures:
            self._failures.clear()
        times = self._recent(key)
        times.append(stamp)
        self._failures[key] = times

    def remove(self, key: object, stamp: float) -> None:
        """Take back the attempt counted at `stamp` (it did not fail)."""
        times = self._failures.get(key)
        if times is not None and stamp in times:
            times.remove(stamp)

    def clear(self, key: object) -> None:
        self._failures.pop(key, None)


class Backoff(FailureWindow):
    """A FailureWindow that, past `limit` failures, lets one more attempt
    through after a wait that doubles with each failure (1 s, 2 s, 4 s, ...,
    at most the window) instead of refusing until the window empties."""

    def wait(self, key: object) -> int:
        times = self._recent(key)
        if len(times) < self.limit:
            return 0
        delay = min(self.window, 2.0 ** (len(times) - self.limit))
        left = times[-1] + delay - self.clock()
        return max(1, math.ceil(left)) if left > 0 else 0


@dataclass
class LoginAttempt:
    """One reserved sign-in attempt: counted as a failure unless `succeeded`
    or `withdrawn` takes it back."""

    lockout: Lockout
    username: str
    address: str
    stamp: float
    keys: list[tuple[FailureWindow, object]] = field(default_factory=list)

    def succeeded(self) -> None:
        """The password was right: nothing counts, and the address is remembered."""
        self.withdrawn()
        self.lockout.pairs.clear((self.username, self.address))
        self.lockout.remember(self.username, self.address)

    def withdrawn(self) -> None:
        """The attempt never reached the password check (refused, cancelled)."""
        for window, key in self.keys:
            window.remove(key, self.stamp)
        self.keys.clear()


class Lockout:
    """Failed sign-in limits an attacker cannot aim at someone else:

    - per (username, address): `attempts` failures in `window` seconds;
    - per address: `address_attempts` failures, whatever the usernames;
    - per username, from addresses that never signed in to it: `attempts`
      failures, then a doubling backoff. An address that signed in to the
      account before skips this one, so guessing from elsewhere cannot lock
      its owner out."""

    MAX_KNOWN_PER_USER = 16

    def __init__(
        self,
        attempts: int,
        address_attempts: int,
        window: float,
        clock: Clock = time.monotonic,
        max_keys: int = 100_000,
    ):
        self.clock, self.max_keys = clock, max_keys
        self.pairs = FailureWindow(attempts, window, clock, max_keys)
        self.addresses = FailureWindow(address_attempts, window, clock, max_keys)
        self.usernames = Backoff(attempts, window, clock, max_keys)
        self._known: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()
        self.refused = 0  # sign-ins refused since start (a metric)

    def known(self, username: str, address: str) -> bool:
        return address in self._known.get(username, ())

    def remember(self, username: str, address: str) -> None:
        addresses = self._known.setdefault(username, OrderedDict())
        addresses[address] = None
        addresses.move_to_end(address)
        self._known.move_to_end(username)
        while len(addresses) > self.MAX_KNOWN_PER_USER:
            addresses.popitem(last=False)
        while len(self._known) > self.max_keys:
            self._known.popitem(last=False)

    def reserve(self, username: str, address: str) -> LoginAttempt:
        """Count an attempt now, before the slow password check, or raise
        RateLimited; a caller that learns it succeeded takes it back."""
        checks: list[tuple[FailureWindow, object]] = [
            (self.pairs, (username, address)),
            (self.addresses, address),
        ]
        if not self.known(username, address):
            checks.append((self.usernames, username))
        wait = max(window.wait(key) for window, key in checks)
        if wait:
            self.refused += 1
            raise RateLimited(f"too many failed sign-ins; try again in {wait} s", retry_after=wait)
        stamp = self.clock()
        for window, key in checks:
            window.add(key, stamp)
        return LoginAttempt(self, username, address, stamp, checks)


class HashGate:
    """Admission control in front of password hashing (scrypt: ~0.4 s of CPU
    and 128 MiB each): at most `workers` hashes run, at most `queue` more
    wait, and one address has one hash running at a time with at most
    `per_address` of its sign-ins admitted (a newsreader opening a few
    connections, each with AUTHINFO, has them checked in turn). Beyond that
    the request is refused at once (429 for the address, 503 when full)
    instead of queueing behind a storm."""

    def __init__(self, workers: int, queue: int, per_address: int = 4):
        self.workers, self.queue, self.per_address = workers, queue, per_address
        self._slots = asyncio.Semaphore(workers)
        self._admitted = 0  # running plus waiting
        self._by_address: dict[str, tuple[asyncio.Lock, int]] = {}  # its turn, and how many it has admitted

    @asynccontextmanager
    async def admit(self, address: str) -> AsyncIterator[None]:
        """Hold a hashing slot for the block, or raise RateLimited / Busy."""
        turn, count = self._by_address.get(address, (None, 0))
        if count >= self.per_address:
            raise RateLimited(
                f"{count} sign-ins from this address are already being checked; try again", retry_after=1
            )
        if self._admitted >= self.workers + self.queue:
            raise Busy("too many sign-ins at once; try again shortly", retry_after=1)
        turn = turn or asyncio.Lock()
        self._by_address[address] = (turn, count + 1)
        self._admitted += 1
        try:
            async with turn, self._slots:
                yield
        finally:
            self._admitted -= 1
            left = self._by_address[address][1] - 1
            if left:
                self._by_address[address] = (turn, left)
            else:
                del self._by_address[address]
