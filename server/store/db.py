"""Storage: one writer connection behind one door, and a pool of readers.

Writes: `async with db.transaction() as conn:` takes the write lock; writes
run under BEGIN IMMEDIATE, so they are serialised inside this process and
across processes sharing the file. A body that raises leaves no trace; one
that returns is committed (see transaction() on group commit), then commit
listeners (the live hub) are told that events may be new.
`await db.run(action)` is the same door in one hop: the whole action (BEGIN,
its statements, savepoint, COMMIT) runs as one function on the writer's
thread, for the hot paths (posting), where each await of a query would
otherwise be a round trip between the event loop and that thread.
Reads: `async with db.read() as conn:` borrows a read connection (WAL lets
readers run beside the writer and see only committed data)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from . import migrate
from .errors import Invalid, NotFound
from .migrate import SCHEMA_PATH, SCHEMA_VERSION, SchemaNewer  # noqa: F401  (re-exported)
from .validate import integer

# Another process may hold the write lock; wait this long (ms) before SQLITE_BUSY.
BUSY_TIMEOUT_MS = int(migrate.BUSY_TIMEOUT * 1000)


# Most actions one shared transaction may hold: bounds the wait of the first.
MAX_BATCH = 32
# Upper bounds of the buckets counting commits by how many actions each held
# (Database.batch_sizes, the /metrics histogram moot_db_commit_actions).
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32)


T = TypeVar("T")


@dataclass
class _Batch:
    done: asyncio.Future
    size: int = 0  # actions that succeeded inside it


class Database:
    def __init__(self, path: str, *, read_connections: int = 4, synchronous: str = "FULL"):
        self.path = path
        self._n_readers = read_connections
        self._synchronous = synchronous.upper()
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()
        self._listeners: list[tuple[Callable[[], None], frozenset[str] | None]] = []
        # Tables some listener watches, and those this process changed since its
        # last commit (added on the writer's thread by temporary triggers).
        self._watched: set[str] = set()
        self._touched: set[str] = set()
        self._pending = 0  # actions inside or queued for transaction() or run()
        self._batch: _Batch | None = None  # the open shared transaction
        self._flushes: set[asyncio.Task] = set()
        self._queue: list[_Queued] = []  # run() actions waiting for the writer
        self._drainer: asyncio.Task | None = None  # takes them there
        # Time actions spent waiting for the write lock (this process's queue and
        # BEGIN IMMEDIATE's wait for other processes), for the metrics.
        self.lock_waits = 0
        self.lock_wait_seconds = 0.0
        # Commits by the actions each made durable (one fsync each at FULL):
        # a count per BATCH_BUCKETS bound (the last: more), and their total.
        self.batch_sizes = [0] * (len(BATCH_BUCKETS) + 1)
        self.batched_actions = 0

    async def open(self) -> Database:
        """Open the connections; initialise an empty database from schema.sql,
        upgrade an older one (server/store/migrate.py), refuse a newer one (SchemaNewer)."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # The file holds password hashes and session keys: create it owner-only
        # (SQLite gives the -wal and -shm files the database file's mode). The
        # umask is process-wide, so it is set only around the opens that may create it.
        previous = os.umask(0o077)
        try:
            await asyncio.to_thread(migrate.upgrade, self.path)
            self._writer = await self._connect()
            # Pragmas that answer with a row are read to the end (execute_fetchall):
            # a statement left stepping would make run()'s first COMMIT fail.
            await self._writer.execute_fetchall("PRAGMA journal_mode=WAL")
            # Each action in a shared transaction has its savepoint, whose
            # journal (the pages it changes that were already changed) would
            # otherwise spill to a temporary file past 64 KiB.
            await self._writer.execute("PRAGMA temp_store=MEMORY")
        finally:
            os.umask(previous)
        await self._watch_tables()
        for _ in range(self._n_readers):
            reader = await self._connect()
            await reader.execute("PRAGMA query_only=ON")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)
        return self

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute_fetchall(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute(f"PRAGMA synchronous={self._synchronous}")
        return conn

    async def close(self) -> None:
        if self._drainer is not None:  # what was queued is written first
            await asyncio.shield(self._drainer)
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    def add_commit_listener(self, callback: Callable[[], None], *, tables: Iterable[str] = ()) -> None:
        """Call `callback()` after every successful commit (it must not block);
        with `tables`, only after a commit in which this process inserted,
        updated or deleted rows of one of them (or a rolled-back change to one
        since the last commit: never fewer calls than changes). Tables are
        watched from open(), so these listeners are added before it."""
        watched = frozenset(tables) or None
        if watched:
            assert self._writer is None, "tables are watched from open(): add the listener before"
            self._watched |= watched
        self._listeners.append((callback, watched))

    def remove_commit_listener(self, callback: Callable[[], None]) -> None:
        self._listeners = [entry for entry in self._listeners if entry[0] != callback]

    def _committed(self) -> None:
        """Tell the listeners of a commit (the write lock is held)."""
        touched, self._touched = self._touched, set()
        for callback, tables in list(self._listeners):
            if tables is None or not tables.isdisjoint(touched):
                callback()

    async def _watch_tables(self) -> None:
        """Temporary triggers, on the writer's connection only, that note which
        watched tables its statements change."""
        assert self._writer is not None
        await self._writer.create_function("moot_touched", 1, lambda table: self._touched.add(table))
        for table in sorted(self._watched):
            for change in ("INSERT", "UPDATE", "DELETE"):
                await self._writer.execute(
                    f"CREATE TEMP TRIGGER watch_{table}_{change.lower()} AFTER {change} ON main.{table}"
                    f" BEGIN SELECT moot_touched('{table}'); END"
                )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The one write door: the body runs alone on the writer connection and
        its changes commit as a whole or not at all; on exit they are durable.

        Group commit: actions queued behind each other share one transaction
        (each inside its own SAVEPOINT, so a failing action is undone alone)
        and one COMMIT, which the last queued action issues. Every action
        returns only after the COMMIT that holds its changes, so nothing is
        acknowledged before it is durable, and many writers share one sync."""
        assert self._writer is not None, "database is not open"
        conn = self._writer
        self._pending += 1
        queued = time.perf_counter()
        try:
            await self._write_lock.acquire()
        except BaseException:
            self._pending -= 1
            self._flush_later()
            raise
        ok = False
        try:
            if self._batch is None:
                try:
                    await self._begin(conn)
                except BaseException:
                    self._pending -= 1
                    raise
                self._batch = _Batch(asyncio.get_running_loop().create_future())
            self.lock_waits += 1
            self.lock_wait_seconds += time.perf_counter() - queued
            batch = self._batch
            alone = batch.size == 0  # nothing else to protect: no savepoint needed
            if not alone:
                await conn.execute("SAVEPOINT action")
            try:
                yield conn
                ok = True
            finally:
                # Shielded: a cancelled request must still leave no half-applied change.
                if ok:
                    batch.size += 1
                    if not alone:
                        await asyncio.shield(conn.execute("RELEASE action"))
                elif alone:
                    await asyncio.shield(conn.rollback())
                    self._end(batch, committed=False)
                else:
                    await asyncio.shield(conn.execute("ROLLBACK TO action"))
                    await asyncio.shield(conn.execute("RELEASE action"))
                self._pending -= 1
                if self._batch is batch and (self._pending == 0 or batch.size >= MAX_BATCH):
                    await asyncio.shield(self._commit(batch))
        finally:
            self._write_lock.release()
        if ok:
            await asyncio.shield(batch.done)  # raises if the shared COMMIT failed

    async def run(self, action: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        """transaction() in one hop: `action(conn)` runs whole on the writer's
        thread and returns only once its changes are durable, as transaction()
        does. Actions queued while the writer is busy go there together, in
        one hop, each inside its own savepoint (a failing one is undone alone),
        and share the commit; so under load an action costs no round trip of
        its own between the event loop and the writer's thread.

        `conn` is a ThreadConnection: the same awaitable methods the domain
        functions use, answered at once, so `action` is the same async code
        transaction() callers run; it must await nothing but `conn`. A caller
        cancelled before its turn leaves its action unrun; once it has run,
        its changes stay in the batch and commit with the others."""
        assert self._writer is not None, "database is not open"
        item = _Queued(action, asyncio.get_running_loop().create_future(), time.perf_counter())
        self._pending += 1
        self._queue.append(item)
        if self._drainer is None:
            self._drainer = asyncio.ensure_future(self._drain())
        return await item.result

    async def _drain(self) -> None:
        """Take the queued run() actions to the writer, as many per hop as the
        open batch has room for (MAX_BATCH)."""
        try:
            while self._queue:
                async with self._write_lock:
                    room = MAX_BATCH - (self._batch.size if self._batch else 0)
                    taken, self._queue = self._queue[:room], self._queue[room:]
                    live = [item for item in taken if not item.result.done()]
                    self._pending -= len(taken) - len(live)
                    if live:
                        try:
                            await self._hop(live)
                        except BaseException as error:  # the writer itself failed (closed?)
                            for item in live:
                                if not item.result.done():
                                    item.result.set_exception(error)
                            raise
                    elif self._batch is not None and self._pending == 0:
                        await self._commit(self._batch)
        finally:
            self._drainer = None

    async def _hop(self, items: list[_Queued]) -> None:
        assert self._writer is not None
        started = time.perf_counter()
        self.lock_waits += len(items)
        self.lock_wait_seconds += sum(started - item.queued for item in items)
        batch = self._batch or _Batch(asyncio.get_running_loop().create_future())
        try:
            outcome = await asyncio.shield(
                self._writer._execute(
                    _run_on_writer, self, [item.action for item in items], self._batch is None, batch.size
                )
            )
        finally:
            self._pending -= len(items)
        if outcome.began:
            self._batch = batch
        for item, (ok, value) in zip(items, outcome.results, strict=True):
            if ok:
                batch.size += 1
                batch.done.add_done_callback(functools.partial(_settle, item.result, value))
            elif not item.result.done():
                item.result.set_exception(value)
        if outcome.rolled_back:  # a lone action failed: the transaction is over
            self._end(batch, committed=False)
        elif outcome.committed:
            self._end(batch, error=outcome.commit_error)

    async def _begin(self, conn: aiosqlite.Connection) -> None:
        """BEGIN IMMEDIATE, or no transaction at all: a caller cancelled while
        the statement runs on the connection's thread must not leave one open."""
        begin = asyncio.ensure_future(self._begin_checked(conn))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(begin)  # it finishes on its thread either way
                await asyncio.shield(conn.rollback())
            raise

    async def _begin_checked(self, conn: aiosqlite.Connection) -> None:
        await conn.execute("BEGIN IMMEDIATE")
        # Under the write lock: a newer Moot may have upgraded the file since
        # it was opened; this code must then not write to it (SchemaNewer, 503).
        (version,) = list(await conn.execute_fetchall("PRAGMA user_version"))[0]
        if version != SCHEMA_VERSION:
            await conn.rollback()
            raise SchemaNewer(migrate.newer_message(self.path, version))

    async def _commit(self, batch: _Batch) -> None:
        assert self._writer is not None  # a batch exists only on an open database
        try:
            await self._writer.commit()
        except Exception as error:
            await self._writer.rollback()
            self._end(batch, error=error)
            return
        self._end(batch)

    def _end(self, batch: _Batch, *, committed: bool = True, error: Exception | None = None) -> None:
        """The shared transaction is over: its actions are answered (with
        `error` if its COMMIT failed) and, after a commit, the listeners told."""
        self._batch = None
        if error is not None:
            batch.done.set_exception(error)
            return
        batch.done.set_result(None)
        if committed:
            self.batch_sizes[bisect.bisect_left(BATCH_BUCKETS, batch.size)] += 1
            self.batched_actions += batch.size
            self._committed()

    def _flush_later(self) -> None:
        """A queued action gave up before its turn; if it was the one meant to
        commit the open batch, commit it now so the others are not left waiting."""

        async def flush():
            async with self._write_lock:
                if self._batch is not None and self._pending == 0:
                    await self._commit(self._batch)

        task = asyncio.ensure_future(flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)


@dataclass
class _Queued:
    action: Callable[[Any], Coroutine[Any, Any, Any]]
    result: asyncio.Future  # the caller's answer, set once the action is durable
    queued: float  # perf_counter() when it joined the queue


@dataclass
class _Outcome:
    began: bool = False  # BEGIN ran (or the batch was already open)
    results: list[tuple[bool, Any]] = field(default_factory=list)  # (ok, value or error) per action
    committed: bool = False  # the batch ended with this hop's COMMIT
    rolled_back: bool = False  # or with the rollback of its one failed action
    commit_error: Exception | None = None


def _settle(result: asyncio.Future, value: Any, done: asyncio.Future) -> None:
    """An action's answer once its batch ended: its value, or the COMMIT's failure."""
    error = done.exception()
    if result.done():  # the caller gave up after its action had run
        return
    if error is not None:
        result.set_exception(error)
    else:
        result.set_result(value)


def _run_on_writer(
    db: Database, actions: list[Callable[[Any], Coroutine[Any, Any, Any]]], begin: bool, batch_size: int
) -> _Outcome:
    """The body of a Database.run hop, on the writer connection's thread."""
    assert db._writer is not None
    conn: sqlite3.Connection = db._writer._conn
    out = _Outcome()
    try:
        if begin:
            conn.execute("BEGIN IMMEDIATE")
            # As in _begin_checked: a newer Moot may have upgraded the file since.
            (version,) = conn.execute("PRAGMA user_version").fetchall()[0]
            if version != SCHEMA_VERSION:
                conn.rollback()
                raise SchemaNewer(migrate.newer_message(db.path, version))
    except BaseException as error:
        out.results = [(False, error)] * len(actions)
        return out
    out.began = True
    # A lone action in a fresh transaction needs no savepoint: a failure rolls it all back.
    alone = batch_size == 0 and len(actions) == 1
    for action in actions:
        if not alone:
            conn.execute("SAVEPOINT action")
        try:
            out.results.append((True, _drive(action(ThreadConnection(conn)))))
            batch_size += 1
        except BaseException as error:
            out.results.append((False, error))
            if alone:
                conn.rollback()
                out.rolled_back = True
                return out
            conn.execute("ROLLBACK TO action")
        if not alone:
            conn.execute("RELEASE action")
    # Read across threads: the count only grows while this runs (others queue),
    # so at worst a newcomer finds the batch committed and opens the next one.
    if db._pending == len(actions) or batch_size >= MAX_BATCH:
        out.committed = True
        try:
            conn.commit()
        except Exception as error:
            conn.rollback()
            out.commit_error = error
    return out


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (it awaits only a ThreadConnection)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a write action awaited something other than its connection")


class _ThreadCursor:
    """An executed statement, with aiosqlite's cursor interface (the parts used)."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def fetchone(self) -> sqlite3.Row | None:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[sqlite3.Row]:
        return self._cursor.fetchall()


class ThreadConnection:
    """The writer's sqlite3 connection behind aiosqlite's awaitable methods,
    for code already on the writer's thread (Database.run): each await is
    answered at once, so domain functions run there unchanged."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def execute(self, sql: str, parameters: Any = ()) -> _ThreadCursor:
        return _ThreadCursor(self._conn.execute(sql, parameters))

    async def executemany(self, sql: str, parameters: Any) -> _ThreadCursor:
        return _ThreadCursor(self._conn.executemany(sql, parameters))

    async def execute_fetchall(self, sql: str, parameters: Any = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, parameters).fetchall()


# One round trip to the connection's thread per query (execute_fetchall), not
# two (execute, then fetch): under load each hop costs a wake-up of the loop.
# `conn` is an aiosqlite connection or, inside Database.run, a ThreadConnection.
async def fetch_one(
    conn: aiosqlite.Connection | ThreadConnection, sql: str, params: Iterable[Any] = ()
) -> sqlite3.Row | None:
    # a list either way; aiosqlite declares it only an Iterable
    return next(iter(await conn.execute_fetchall(sql, params)), None)


async def fetch_all(
    conn: aiosqlite.Connection | ThreadConnection, sql: str, params: Iterable[Any] = ()
) -> list[sqlite3.Row]:
    return list(await conn.execute_fetchall(sql, params))


async def fetch_value(
    conn: aiosqlite.Connection | ThreadConnection, sql: str, params: Iterable[Any] = ()
) -> Any:
    row = await fetch_one(conn, sql, params)
    return None if row is None else row[0]


async def row_by_id(
    conn: aiosqlite.Connection | ThreadConnection, sql: str, raw_id: object, what: str
) -> sqlite3.Row:
    """The row `sql` (ending in `= ?`) finds for an id a client gave, as a number
    or a decimal string; NotFound("no such <what>") if it is malformed or unknown."""
    try:
        row = await fetch_one(conn, sql, (integer(raw_id, what),))
    except Invalid:
        row = None
    if row is None:
        raise NotFound(f"no such {what}")
    return row
