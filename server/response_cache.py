"""Encoded API responses kept in memory and dropped precisely when the events
outbox says their subject changed.

Each entry is filed under topics ("t:12", "g:comp.lang.python", the same
routing keys events carry). A commit in this process marks the cache dirty
at once, so the next read first applies the topics of every event since the
last one it saw: a writer always reads its own write. Commits made by other
processes sharing the database are picked up within `recheck` seconds, and
always before the live hub tells anyone of them (the hub marks the cache
dirty first), so a client that fetches after an event sees it."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Awaitable, Callable

from .db import Database, fetch_all

# Past this many unseen events it is cheaper to forget everything.
REPLAY_LIMIT = 5000


class ResponseCache:
    def __init__(self, db: Database, *, max_bytes: int = 64 * 1024 * 1024, recheck: float = 0.25):
        self.db, self.max_bytes, self.recheck = db, max_bytes, recheck
        self._entries: OrderedDict[tuple, tuple[frozenset[str], bytes]] = OrderedDict()
        self._by_topic: dict[str, set[tuple]] = {}
        self._bytes = 0
        self._seen = None  # id of the last event applied; None until the first check
        self._dirty = True
        self._checked = 0.0
        self._lock = asyncio.Lock()
        self.hits = self.misses = 0  # since start (metrics)
        db.add_commit_listener(self.mark_dirty)

    def mark_dirty(self) -> None:
        self._dirty = True

    async def get(self, key: tuple, topics: frozenset[str],
                  build: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached bytes for `key`, or `build()`'s, kept until an event touches `topics`."""
        if self.max_bytes <= 0:
            return await build()
        await self._catch_up()
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        seen = self._seen
        body = await build()
        # Only keep it if no event was applied while it was built: it might predate one.
        if seen == self._seen and not self._dirty:
            self._store(key, topics, body)
        return body

    async def _catch_up(self) -> None:
        if not self._dirty and time.monotonic() - self._checked < self.recheck:
            return
        async with self._lock:
            if not self._dirty and time.monotonic() - self._checked < self.recheck:
                return
            self._dirty = False
            self._checked = time.monotonic()
            async with self.db.read() as conn:
                if self._seen is None:
                    rows = await fetch_all(conn, "SELECT coalesce(max(id), 0), '' FROM events")
                else:
                    rows = await fetch_all(
                        conn, "SELECT id, topics FROM events WHERE id > ? ORDER BY id LIMIT ?",
                        (self._seen, REPLAY_LIMIT + 1))
            if self._seen is None or len(rows) > REPLAY_LIMIT:
                self.clear()
                if len(rows) > REPLAY_LIMIT:
                    self._dirty = True  # more to skip past on the next read
            for event_id, topics in rows:
                for topic in topics.split():
                    self._drop_topic(topic)
                self._seen = event_id

    def _store(self, key, topics, body: bytes) -> None:
        if len(body) > self.max_bytes // 8:
            return
        self._discard(key)
        self._entries[key] = (topics, body)
        self._bytes += len(body)
        for topic in topics:
            self._by_topic.setdefault(topic, set()).add(key)
        while self._bytes > self.max_bytes:
            self._discard(next(iter(self._entries)))

    def _discard(self, key) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= len(entry[1])
        for topic in entry[0]:
            keys = self._by_topic.get(topic)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_topic[topic]

    def _drop_topic(self, topic: str) -> None:
        for key in list(self._by_topic.get(topic, ())):
            self._discard(key)

    def clear(self) -> None:
        self._entries.clear()
        self._by_topic.clear()
        self._bytes = 0
