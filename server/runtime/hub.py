"""The live hub: tails the events outbox and fans each new event out to the
subscriptions whose topics it names.

One tail per process reads `events` rows after the last id it dispatched,
from a read connection. It wakes at once when this process commits (the
database's commit listener) and otherwise polls every `live_poll_interval`
seconds, so commits made by other processes sharing the file arrive without a
broker. Writers are serialised and ids are assigned inside the write
transaction, so "every row after the last id seen" never skips a commit.

Each event is encoded once; every matching subscription gets the same queued
message. A subscription's queue is bounded: one that overflows is marked and
emptied, never waited on, so a slow client never slows the tail, a writer or
another client. The hub also sends heartbeats to quiet subscriptions and
prunes the outbox past `event_retention_days`."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from sqlite3 import Row
from typing import Any

from aiosqlite import Connection

from ..store import clock
from ..store.config import Config
from ..store.db import Database, fetch_all, fetch_value
from ..store.events import topic_group

log = logging.getLogger("moot.hub")

# Rows read per query while catching up: big enough that a burst costs few
# thread hops, small enough that one batch never holds a reader for long.
TAIL_BATCH = 500
# Retention is counted in days; pruning hourly keeps at most an hour of slack.
PRUNE_EVERY = 3600.0
# Rows deleted per pruning transaction, so the write lock is never held long.
PRUNE_BATCH = 5000
# The cyclic collector's full pass visits every tracked object, and each held
# connection keeps ~170 (coroutine frames, closures, dicts) for its lifetime:
# measured, a full pass with 1,000 connections stalls the loop ~100 ms, and one
# comes every few dozen fan-outs. So every FREEZE_EVERY seconds the objects
# alive are frozen out of those passes (gc.freeze, a constant-time splice),
# and once an hour a full collection reclaims any cycles among them (every 2 s:
# soon after a burst of connections; what is frozen while briefly alive waits
# for the hourly pass, a bounded cost).
FREEZE_EVERY = 2.0
FULL_COLLECTION_EVERY = 3600.0


def encode(row: Row | Mapping[str, Any]) -> str:
    """The wire message of an events row (API.md, Live), built around the
    stored `data` text so the payload is never decoded and encoded again."""
    thread_id = row["thread_id"]
    group = json.dumps(row["group_name"], ensure_ascii=False)
    thread = "null" if thread_id is None else int(thread_id)
    return (
        f'{{"id":{int(row["id"])},"type":{json.dumps(row["type"])},"group":{group},'
        f'"thread_id":{thread},"data":{row["data"]}}}'
    )


def message(text: str) -> dict:
    """An ASGI send message; built once per event and shared by every connection."""
    return {"type": "websocket.send", "text": text}


class Subscription:
    """One connection's interest (exact topics and group-name prefixes) and
    its bounded queue of `(event id, ASGI message)` items; id 0 marks a
    control message (heartbeat, acknowledgement, error)."""

    __slots__ = ("topics", "prefixes", "overflowed", "closing", "_items", "_limit", "_waiter", "_quiet")

    def __init__(self, limit: int):
        self.topics: set[str] = set()
        self.prefixes: set[str] = set()
        self.overflowed = False
        self.closing: tuple[int, str] | None = None  # (close code, reason) once the server stops
        self._items: collections.deque = collections.deque()
        self._limit = limit
        self._waiter: asyncio.Future | None = None
        self._quiet = True

    def push(self, item: tuple[int, dict]) -> None:
        """Queue an item without ever blocking; overflowing marks the subscription."""
        if self.overflowed:
            return
        if len(self._items) >= self._limit:
            self.overflowed = True
            self._items.clear()  # nothing queued will be sent: free it now
        else:
            self._items.append(item)
            self._quiet = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self, code: int, reason: str) -> None:
        """End the stream: what is queued is still delivered, then get() returns None."""
        self.closing = (code, reason)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> tuple[int, dict] | None:
        """The next item in order, or None once the queue has overflowed or
        (after the items queued before it) the subscription was closed."""
        items = self._items
        while not items:
            if self.overflowed or self.closing:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return None if self.overflowed else items.popleft()

    def matches_group(self, name: str) -> bool:
        return any(name.startswith(prefix) for prefix in self.prefixes)


class Hub:
    """Started and stopped with the site; `position` is the last event id
    dispatched, so a subscription registered now receives every event after it."""

    def __init__(self, db: Database, config: Config, on_events: Callable[[], None] = lambda: None):
        """`on_events()` is called before new events are sent out: whatever a
        client fetches after hearing of an event must already reflect it."""
        self.db, self.config, self.on_events = db, config, on_events
        self.position = 0
        self._index: dict[str, set[Subscription]] = {}
        self._prefixed: set[Subscription] = set()
        self._all: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.closing: tuple[int, str] | None = None
        self.overflows = 0  # connections closed as too slow since start (a metric)

    async def start(self) -> None:
        async with self.db.read() as conn:
            self.position = await last_event_id(conn)
        self.db.add_commit_listener(self._wake.set)
        self._tasks = [
            asyncio.create_task(self._tail(), name="moot-hub-tail"),
            asyncio.create_task(self._heartbeats(), name="moot-hub-heartbeat"),
            asyncio.create_task(self._freezing(), name="moot-hub-freeze"),
        ]
        if self.config.event_retention_days > 0:
            self._tasks.append(asyncio.create_task(self._pruning(), name="moot-hub-prune"))

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.db.remove_commit_listener(self._wake.set)
        for task in self._tasks:
            task.cancel()
        # gather, not each awaited under suppress(CancelledError): that would
        # also swallow a cancellation of this stop itself.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        gc.unfreeze()  # what this site held is ordinary garbage again

    @property
    def subscriber_count(self) -> int:
        return len(self._all)

    @property
    def running(self) -> bool:
        """Tailing the events table and delivering: what readiness asks of the hub."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks) and not self.closing

    def going_away(self, code: int = 1001, reason: str = "going away") -> None:
        """The server is stopping: end every subscription (and any made from
        now on) with `code`, so clients resume from their last id elsewhere."""
        self.closing = (code, reason)
        for sub in self._all:
            sub.close(code, reason)

    # Subscriptions

    @contextlib.asynccontextmanager
    async def subscribe(self, *, limit: int | None = None) -> AsyncIterator[Subscription]:
        """A subscription for the length of the block; `follow` gives it topics."""
        sub = Subscription(limit or self.config.live_queue)
        if self.closing:
            sub.close(*self.closing)
        self._all.add(sub)
        try:
            yield sub
        finally:
            self._all.discard(sub)
            self._prefixed.discard(sub)
            for topic in sub.topics:
                subs = self._index.get(topic)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._index[topic]

    def follow(self, sub: Subscription, topics: Iterable[str] = (), prefixes: Collection[str] = ()) -> int:
        """Add topics ("g:name", "t:12") and group-name prefixes ("comp.", ""
        for every group). Returns `position`: events after it will be queued."""
        for topic in topics:
            if topic not in sub.topics:
                sub.topics.add(topic)
                self._index.setdefault(topic, set()).add(sub)
        if prefixes:
            sub.prefixes.update(prefixes)
            self._prefixed.add(sub)
        return self.position

    # The tail

    def dispatch(self, row: Row) -> None:
        """Fan one events row out to every matching subscription, in id order."""
        topics = row["topics"].split()
        targets = None
        many = False
        for topic in topics:
            subs = self._index.get(topic)
            if subs:
                if targets is None:
                    targets = subs
                else:
                    if not many:
                        targets, many = set(targets), True
                    targets |= subs
        if self._prefixed:
            groups = [name for name in map(topic_group, topics) if name is not None]
            extra = [s for s in self._prefixed if any(s.matches_group(g) for g in groups)]
            if extra:
                targets = set(targets or ()) | set(extra)
        if targets:
            item = (row["id"], message(encode(row)))
            for sub in targets:
                sub.push(item)
        self.position = row["id"]

    async def catch_up(self) -> None:
        """Dispatch every committed event after `position`."""
        while True:
            async with self.db.read() as conn:
                rows = await fetch_all(
                    conn,
                    "SELECT id, type, group_name, thread_id, topics, data FROM events"
                    " WHERE id > ? ORDER BY id LIMIT ?",
                    (self.position, TAIL_BATCH),
                )
            if rows:
                self.on_events()
            for row in rows:
                self.dispatch(row)
            if len(rows) < TAIL_BATCH:
                return

    async def _tail(self) -> None:
        poll = self.config.live_poll_interval
        while True:
            try:
                async with asyncio.timeout(poll):
                    await self._wake.wait()
            except TimeoutError:
                pass
            # Cleared before reading: a commit during the read wakes the next round.
            self._wake.clear()
            try:
                await self.catch_up()
            except Exception:
                log.exception("reading the events table failed; retrying")
                await asyncio.sleep(poll)

    # Heartbeats and retention

    def heartbeat(self) -> None:
        """One tick (every half heartbeat interval): queue a heartbeat for every
        subscription that was sent nothing since the previous tick, so no client
        waits longer than the interval. Its `last_id` is safe to resume from:
        every earlier matching event is queued before it."""
        item = (0, message(f'{{"type":"heartbeat","last_id":{int(self.position)}}}'))
        for sub in self._all:
            if sub._quiet:
                sub.push(item)  # marks it busy: the next one is a full interval away
            else:
                sub._quiet = True

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.live_heartbeat / 2)
            self.heartbeat()

    async def prune(self) -> int:
        """Delete the oldest events older than the retention window; returns how many."""
        cutoff_text = clock.ago(days=self.config.event_retention_days)
        total = 0
        while True:
            async with self.db.transaction() as conn:
                # Federation turns events into deliveries after its cursor: none is pruned before it is read.
                kept = await federation_cursor(conn) if self.config.federation else None
                deleted = await prune_events(conn, cutoff_text, PRUNE_BATCH, upto=kept)
            total += deleted
            if deleted < PRUNE_BATCH:
                return total

    async def _pruning(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception("pruning the events table failed")
            await asyncio.sleep(PRUNE_EVERY)

    async def _freezing(self) -> None:
        since_full = 0.0
        while True:
            if since_full >= FULL_COLLECTION_EVERY:
                gc.unfreeze()
                gc.collect()
                since_full = 0.0
            gc.freeze()
            await asyncio.sleep(FREEZE_EVERY)
            since_full += FREEZE_EVERY


async def prune_events(conn: Connection, before: str, batch: int, upto: int | None = None) -> int:
    """Delete the oldest run of events created before `before` (at most
    `batch`, and none after id `upto` when given). Only a prefix of ids is
    ever removed, so the smallest id left tells exactly which resumes are
    still possible."""
    rows = await fetch_all(conn, "SELECT id, created_at FROM events ORDER BY id LIMIT ?", (batch,))
    last = None
    for row in rows:
        if row["created_at"] >= before or upto is not None and row["id"] > upto:
            break
        last = row["id"]
    if last is None:
        return 0
    cur = await conn.execute("DELETE FROM events WHERE id <= ?", (last,))
    return cur.rowcount


async def federation_cursor(conn: Connection) -> int:
    """The last event federation has read (its outbox's 'federation.events_cursor'; 0 before any)."""
    value = await fetch_value(conn, "SELECT value FROM settings WHERE key = 'federation.events_cursor'")
    return int(value) if value is not None else 0


async def last_event_id(conn: Connection) -> int:
    """The largest event id ever assigned (AUTOINCREMENT keeps it even after pruning)."""
    return await fetch_value(
        conn, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
    )


async def oldest_event_id(conn: Connection) -> int:
    """The smallest id still kept; the next id to be assigned when none is kept."""
    oldest = await fetch_value(conn, "SELECT min(id) FROM events")
    return oldest if oldest is not None else await last_event_id(conn) + 1
