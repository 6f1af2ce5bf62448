"""What a signed-in reader's requests read about them from the database (who
their session belongs to, their own parts of a page), kept briefly in memory
so a reader's next request need not read it again.

An entry lives until the next commit in this process (any commit: a
sign-out, a new rule, a read mark, a reply that notifies them; whatever it
changed, the next request reads afresh). A Recent made with the tables its
values come from (the sessions': `users`, `sessions`) keeps them instead
until the next commit in this process that changes one of those. The
reader parts also go when the site's live hub sees new events from any
process (Site._events_seen). Every entry lives at most `ttl` seconds: the
bound within which this process sees what other processes sharing the
database commit, as the response cache's recheck. A value read while such
a commit landed is never kept: it may predate that commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, NamedTuple

from ..store.db import Database

# Past this many entries the oldest are not worth finding one by one: all go.
MAX_ENTRIES = 4096
# What a shared read that failed (or whose request went away) gives those waiting on it.
_FAILED = object()


class Stamp(NamedTuple):
    """When a read began: the commits seen so far, and the clock."""

    generation: int
    at: float


class Recent:
    def __init__(
        self,
        db: Database,
        *,
        ttl: float = 0.25,
        max_entries: int = MAX_ENTRIES,
        tables: Iterable[str] = (),
        ignoring: Iterable[str] = (),
    ):
        """With `tables`, entries outlive commits of this process that change
        none of those tables (or, of them, only the columns `ignoring` names,
        "table.column"): for values read from them alone."""
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[Hashable, tuple[float, Hashable, Any]] = {}
        self._generation = 0
        # Reads under way, by key: (generation, extra, future of the value).
        self._flights: dict[Hashable, tuple[int, Hashable, asyncio.Future]] = {}
        db.add_commit_listener(self.clear, tables=tables, ignoring=ignoring)

    def clear(self) -> None:
        """Forget everything (a commit, or events seen): later reads go to the database."""
        self._generation += 1
        self._entries.clear()

    def stamp(self) -> Stamp:
        """Taken before reading what put() is to keep."""
        return Stamp(self._generation, time.monotonic())

    def fresh(self, stamp: Stamp) -> bool:
        """Whether what was read since `stamp` may still be used: no commit since,
        and within `ttl` of it."""
        return stamp.generation == self._generation and time.monotonic() < stamp.at + self.ttl

    def get(self, key: Hashable, extra: Hashable = None) -> Any | None:
        """The value kept for `key` with the same `extra` (what else it was
        derived from), or None."""
        found = self._entries.get(key)
        if found is None:
            return None
        deadline, kept_extra, value = found
        if time.monotonic() >= deadline or kept_extra != extra:
            del self._entries[key]
            return None
        return value

    def put(
        self, key: Hashable, value: Any, stamp: Stamp, extra: Hashable = None, *, ttl: float | None = None
    ) -> None:
        """Keep `value`, read since `stamp`, for at most `ttl` (or self.ttl)
        seconds from then; nothing is kept if a commit landed in between."""
        if stamp.generation != self._generation or self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        lifetime = self.ttl if ttl is None else min(ttl, self.ttl)
        self._entries[key] = (stamp.at + lifetime, extra, value)

    async def value(
        self,
        key: Hashable,
        build: Callable[[], Awaitable[tuple[Any, float | None]]],
        extra: Hashable = None,
    ) -> Any:
        """The value kept for `key` (and `extra`), else the one `build()` reads
        with how long it may be kept (None: not at all). Requests that miss
        together, with no commit between them, share one read: a busy reader's
        entry running out sends one read to the database, not one per request."""
        found = self.get(key, extra)
        if found is not None:
            return found
        flight = self._flights.get(key)
        if flight is not None and flight[0] == self._generation and flight[1] == extra:
            shared = await asyncio.shield(flight[2])
            if shared is not _FAILED:
                return shared
        stamp = self.stamp()
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._flights[key] = (stamp.generation, extra, future)
        try:
            value, ttl = await build()
        except BaseException:
            future.set_result(_FAILED)  # each waiter reads for itself instead
            raise
        finally:
            if self._flights.get(key, (0, None, None))[2] is future:
                del self._flights[key]
        if ttl is not None:
            self.put(key, value, stamp, extra, ttl=ttl)
        future.set_result(value)
        return value
