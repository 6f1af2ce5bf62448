"""What a signed-in reader's requests read about them from the database (who
their session belongs to, their own parts of a page), kept briefly in memory
so a reader's next request need not read it again.

An entry lives until the next commit in this process (any commit: a
sign-out, a new rule, a read mark, a reply that notifies them; whatever it
changed, the next request reads afresh), until the live hub sees new events
from any process, and at most `ttl` seconds: the bound within which this
process sees what other processes sharing the database commit, as the
response cache's recheck. A value read while a commit landed is never kept:
it may predate that commit."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any, NamedTuple

from .db import Database

# Past this many entries the oldest are not worth finding one by one: all go.
MAX_ENTRIES = 4096


class Stamp(NamedTuple):
    """When a read began: the commits seen so far, and the clock."""

    generation: int
    at: float


class Recent:
    def __init__(self, db: Database, *, ttl: float = 0.25, max_entries: int = MAX_ENTRIES):
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[Hashable, tuple[float, Hashable, Any]] = {}
        self._generation = 0
        db.add_commit_listener(self.clear)

    def clear(self) -> None:
        """Forget everything (a commit, or events seen): later reads go to the database."""
        self._generation += 1
        self._entries.clear()

    def stamp(self) -> Stamp:
        """Taken before reading what put() is to keep."""
        return Stamp(self._generation, time.monotonic())

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
