"""Importing existing archives (mbox files and Maildir folders) into a group.

Unit of atomicity: the message. Each message is imported whole (article row,
its place in the search queue, thread and group counters, all in one
transaction) or not at all, and the report puts every message the source holds in exactly
one bin: imported, duplicate (its Message-ID is already here), or skipped
with a reason (malformed, too large, or refused by the database). Messages
are written in batches, one transaction each; a batch that the database
refuses is retried one message per transaction so one bad message costs
only itself. A rerun skips what is already here by Message-ID, so an import
interrupted at any point is finished by running it again. A large source is
parsed in other processes, in pieces (mbox.ranges), while this one plans and
writes the batches in order; the search index takes the queued articles in
large batches (INDEX_EVERY), and all of them before the import returns.

Threads are rebuilt as JWZ's algorithm and notmuch do (mailthreads): a
reply whose nearest ancestor is here joins it at once; any other waits until
the end of the source, then goes under the nearest ancestor present by then,
or, when none is, under a placeholder for the root of its missing ancestry,
shared with every other reply to that message. A message that arrives for a
placeholder (in this import or a later one) fills it in, and moves its thread
under its own parent when that is here."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from sqlite3 import Row
from typing import TextIO

from aiosqlite import Connection

from ..people import follows
from ..stewardship.maintenance import deepest, refresh_activity, relocate
from ..store.db import Database, fetch_all, fetch_one, fetch_value
from ..store.errors import Invalid, MootError
from ..store.events import Also, emit
from . import indexing, mailthreads, mbox, posting, tree
from .groups import get_group_row, group_json
from .messages import Parsed, guess_message_id, parse_message
from .subjects import base_subject

BATCH_SIZE = 1000
# Imported articles wait in the search queue (as posted ones do) and the
# index takes them in large batches: after every INDEX_EVERY articles written,
# and when the import ends, INDEX_BATCH per statement. Large batches cost
# FTS5 far less than one per write batch (fewer, larger segments to merge).
INDEX_EVERY = 20_000
INDEX_BATCH = 20_000
# Parsed batches waiting for the writer, at most.
BATCHES_AHEAD = 8
# The interpreter's switch interval while importing (Python's default: 5 ms).
# The writer's thread takes the GIL back after every row SQLite steps; while
# this thread parses, each such take waits out the interval, so a shorter one
# keeps the writer moving (measured: 0.46-0.56 of the baseline against 0.40).
# Set back when the import ends.
SWITCH_INTERVAL = 0.0005
# Messages parsed between turns of the event loop, which meanwhile hands a
# written batch to the writer's thread and takes back its outcome.
YIELD_EVERY = 50
# A source of more than PARALLEL_FROM pieces (CHUNK_BYTES of mbox, or
# CHUNK_FILES files of a Maildir) is parsed by PARSE_WORKERS other processes,
# a piece at a time, while this one only plans and writes: the email parse
# is pure Python and holds the GIL, so in this process it takes turns with
# the writer's thread instead of running beside it (wall time was its CPU
# time plus the writer's). A smaller source is parsed here: starting a
# process costs more than it saves. One worker keeps pace with the writer.
PARALLEL_FROM = 16
PARSE_WORKERS = 1
CHUNK_BYTES = 1024 * 1024
CHUNK_FILES = 1000
CHUNKS_AHEAD = 4  # pieces handed to the workers and not yet taken back, at most
# Pieces parsed here at most while the workers start (a good part of a second).
HEAD_START = 64
PROBLEMS_KEPT = 1000  # the report lists this many problems in full, and counts the rest
# The writer's page cache while importing (SQLite's default is 2 MB): the
# Message-ID index alone passes 60 MB at a million articles, and every batch
# looks up and inserts across all of it. Set back when the import ends.
IMPORT_CACHE_KIB = 64 * 1024


def maildir_files(path: Path) -> list[Path]:
    """The message files of a Maildir folder (new/ and cur/), in file-name order."""
    return sorted(
        p
        for sub in ("new", "cur")
        if (path / sub).is_dir()
        for p in (path / sub).iterdir()
        if p.is_file() and not p.name.startswith(".")
    )


def read_files(files: Iterable[Path]) -> Iterator[mbox.RawMessage]:
    """Each file as one raw message (numbered from 1, named by its path)."""
    for number, file in enumerate(files, 1):
        with open(file, "rb") as f:
            data = f.read(mbox.MESSAGE_MAX_BYTES + 1)
            size = os.fstat(f.fileno()).st_size
        yield mbox.RawMessage(number, data[: mbox.MESSAGE_MAX_BYTES], size, name=str(file))


def maildir_messages(path: Path) -> Iterator[mbox.RawMessage]:
    """The messages of a Maildir folder (new/ and cur/), in file-name order."""
    return read_files(maildir_files(path))


# A message read: where it is (its byte offset in an mbox, or its file's
# path), and its fields, or (its Message-ID if one can be told, why it is skipped).
Entry = tuple[int | str, Parsed | tuple[str | None, str]]


def _entry(raw: mbox.RawMessage, shift: int = 0) -> Entry:
    """`raw` parsed (parse_message), or the reason it cannot be imported."""
    at = raw.name if raw.name is not None else (raw.offset or 0) + shift
    try:
        return at, parse_message(raw)
    except MootError as error:
        return at, (guess_message_id(raw.data), error.message)
    except Exception as error:  # the email package on bytes it cannot make sense of
        return at, (guess_message_id(raw.data), f"unreadable ({type(error).__name__})")


def parse_range(path: str, start: int, end: int) -> list[Entry]:
    """The messages in bytes [start, end) of an mbox file (a piece from
    mbox.ranges), parsed: what a worker process runs."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    return [_entry(raw, start) for raw in mbox.split(io.BytesIO(data))]


def _started() -> None:
    """Nothing: a worker process that answers has started and imported the parse functions."""


def parse_files(files: list[Path]) -> list[Entry]:
    """Maildir message files, parsed: what a worker process runs."""
    return [_entry(raw) for raw in read_files(files)]


def is_maildir(path: Path) -> bool:
    return path.is_dir() and ((path / "cur").is_dir() or (path / "new").is_dir())


def check_source(path: str | os.PathLike[str]) -> Path:
    """`path` as a source to import: an mbox file or a Maildir folder; Invalid
    saying what is there instead."""
    path = Path(path)
    if path.is_dir() and not is_maildir(path):
        raise Invalid(f"{path} is a folder but not a Maildir (it has no cur/ or new/ folder)")
    if not path.is_dir() and not path.is_file():
        raise Invalid(f"{path}: no such file")
    return path


@dataclass
class Problem:
    where: str
    message_id: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.where}" + (f" {self.message_id}" if self.message_id else "") + f": {self.reason}"


@dataclass
class Report:
    seen: int = 0
    imported: int = 0
    threads: int = 0
    duplicates: int = 0
    skipped: int = 0
    derived_ids: int = 0
    placeholders: int = 0  # made for missing messages that replies name
    filled: int = 0  # placeholders an imported message filled in (counted in imported too)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    def problem(self, where: str, message_id: str | None, reason: str) -> None:
        self.skipped += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(Problem(where, message_id, reason))

    @property
    def accounted(self) -> bool:
        return self.imported + self.duplicates + self.skipped == self.seen

    def summary(self) -> str:
        rate = self.imported / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"{self.seen} messages read: {self.imported} imported into {self.threads} new threads,"
            f" {self.duplicates} already here, {self.skipped} skipped"
            f" ({self.seconds:.1f} s, {rate:,.0f} articles/s)"
        ]
        if self.placeholders or self.filled:
            lines.append(
                f"{self.placeholders} placeholders made for missing messages that replies name,"
                f" {self.filled} filled in"
            )
        if self.derived_ids:
            lines.append(f"{self.derived_ids} messages had no usable Message-ID and were given one")
        lines += [f"  skipped {p}" for p in self.problems]
        if self.skipped > len(self.problems):
            lines.append(f"  ... and {self.skipped - len(self.problems)} more")
        return "\n".join(lines)


class Progress:
    """A one-line progress bar with rate and ETA, drawn only on a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.total, self.stream, self.interval = max(total, 1), stream or sys.stderr, interval
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = self.last = time.monotonic()

    def show(self, done: int, articles: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < self.interval):
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        fraction = min(done / self.total, 1.0)
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0
        bar = "#" * int(fraction * 30)
        self.stream.write(
            f"\r[{bar:<30}] {fraction:6.1%} {articles:>10,} articles"
            f" {articles / elapsed:>8,.0f}/s  ETA {int(eta) // 60}:{int(eta) % 60:02d} "
        )
        if final:
            self.stream.write("\n")
        self.stream.flush()


# Deeper replies attach one level up, as replies do on the site (tree.anchor).
MAX_DEPTH = tree.MAX_DEPTH


def _place(row: Row) -> dict:
    """Where an article already here sits, as a batch plans with it."""
    return {
        "id": row["id"],
        "thread": row["thread_id"],
        "depth": row["depth"],
        "parent_id": row["parent_id"],
        "refs": row["refs"],
    }


def _where(number: int, at: int | str) -> str:
    """Where the `number`th message of a source is, as the report names it."""
    return at if isinstance(at, str) else mbox.place(number, at)


class _Item:
    __slots__ = ("number", "at", "parsed", "force_root", "final", "target", "placeholder", "placeholder_at")

    def __init__(self, number: int, at: int | str, parsed: Parsed) -> None:
        self.number, self.at, self.parsed, self.force_root = number, at, parsed, False
        # Set once the whole source is read (mailthreads.plan): the message then
        # goes under `target`, or under a placeholder named `placeholder`, or is a root.
        self.final = False
        self.target: str | None = None
        self.placeholder: str | None = None
        self.placeholder_at = ""  # the placeholder's time: its earliest reply's

    @property
    def where(self) -> str:
        return _where(self.number, self.at)


def parents_first(items: list[_Item]) -> list[_Item]:
    """Order waiting replies so each comes after its target when both wait;
    a reply cycle (A answers B answers A) is broken by making its oldest
    message a root, as notmuch does (lib/thread.cc)."""
    by_id: dict[str, _Item] = {}
    for item in items:
        by_id.setdefault(item.parsed.message_id, item)
    order: list[_Item] = []
    done: set[int] = set()
    current: _Item | None
    for item in items:
        while id(item) not in done:  # walked again after breaking a cycle
            chain: dict[int, _Item] = {}
            current = item
            while current is not None and id(current) not in done and id(current) not in chain:
                chain[id(current)] = current
                current = by_id.get(current.target) if current.target else None
            if current is not None and id(current) in chain:
                cycle = list(chain.values())[list(chain).index(id(current)) :]
                oldest = min(cycle, key=lambda i: i.parsed.created_at)
                oldest.force_root, oldest.target = True, None
                continue
            done.update(chain)
            order += reversed(chain.values())
    return order


async def import_path(
    db: Database,
    path: str | os.PathLike[str],
    group_name: str,
    *,
    batch_size: int = BATCH_SIZE,
    progress_stream: TextIO | None = None,
    workers: int | None = None,
) -> Report:
    """Import an mbox file or a Maildir folder into an existing group; returns
    the report (Invalid, before anything is read, when `path` is neither). `workers`: the processes that parse it (0: this one; None:
    PARSE_WORKERS for a source of more than PARALLEL_FROM pieces, else 0);
    the outcome is the same either way."""
    return await Importer(db, group_name, batch_size, workers).run(check_source(path), progress_stream)


class Importer:
    def __init__(
        self, db: Database, group_name: str, batch_size: int = BATCH_SIZE, workers: int | None = None
    ) -> None:
        self.db, self.group_name, self.batch_size = db, group_name, max(1, batch_size)
        self.workers = workers
        self.report = Report()
        self.waiting: list[_Item] = []

    async def run(self, path: Path, progress_stream: TextIO | None = None) -> Report:
        started = time.monotonic()
        async with self.db.read() as conn:
            self.group = await get_group_row(conn, self.group_name)
        async with self.db.transaction() as conn:
            cache = await fetch_value(conn, "PRAGMA cache_size")
            await conn.execute(f"PRAGMA cache_size = {-IMPORT_CACHE_KIB}")
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
        try:
            await self._run(path, progress_stream)
        finally:
            sys.setswitchinterval(interval)
            async with self.db.transaction() as conn:
                await conn.execute(f"PRAGMA cache_size = {int(cache)}")
        self.report.seconds = time.monotonic() - started
        return self.report

    async def _run(self, path: Path, progress_stream: TextIO | None) -> None:
        if is_maildir(path):
            files = maildir_files(path)
            progress = Progress(len(files), progress_stream)
            pieces = [
                (min(i + CHUNK_FILES, len(files)), parse_files, (files[i : i + CHUNK_FILES],))
                for i in range(0, len(files), CHUNK_FILES)
            ]
            workers = self._workers(len(pieces))
            if workers:
                await self._read(self._parsed_elsewhere(pieces, workers), progress)
            else:
                await self._read(self._parsed_here(read_files(files), lambda raw: raw.number), progress)
        else:
            size = path.stat().st_size
            progress = Progress(size, progress_stream)
            workers = self._workers(-(-size // CHUNK_BYTES))
            with open(path, "rb") as stream:
                if workers:
                    ranges = (
                        (end, parse_range, (str(path), start, end))
                        for start, end in mbox.ranges(stream, CHUNK_BYTES)
                    )
                    await self._read(self._parsed_elsewhere(ranges, workers), progress)
                else:
                    await self._read(
                        self._parsed_here(mbox.split(stream), lambda raw: stream.tell()), progress
                    )
        await self._resolve_waiting()
        await self._index()
        progress.show(progress.total, self.report.imported, final=True)

    def _workers(self, pieces: int) -> int:
        if self.workers is not None:
            return self.workers
        return PARSE_WORKERS if pieces > PARALLEL_FROM else 0

    @staticmethod
    async def _parsed_here(
        messages: Iterable[mbox.RawMessage], position: Callable[[mbox.RawMessage], int]
    ) -> AsyncGenerator[tuple[int, list[Entry]], None]:
        """The messages parsed in this process, YIELD_EVERY at a time, each
        group with how far into the source it reaches (for the progress bar)."""
        entries: list[Entry] = []
        reached = 0
        for raw in messages:
            entries.append(_entry(raw))
            if len(entries) >= YIELD_EVERY:
                yield position(raw), entries
                entries = []
                await asyncio.sleep(0)  # the writer task hands on a batch, or takes an outcome
            reached = position(raw)
        yield reached, entries

    @staticmethod
    async def _parsed_elsewhere(
        pieces: Iterable[tuple[int, Callable[..., list[Entry]], tuple]], workers: int
    ) -> AsyncGenerator[tuple[int, list[Entry]], None]:
        """The pieces (how far into the source each reaches, the function that
        parses it, its arguments) parsed by `workers` processes, CHUNKS_AHEAD
        at a time, taken back in order. The workers are started fresh
        (spawn), not forked: this process has threads. Starting one takes
        a good part of a second, so the first pieces (HEAD_START at most) are
        parsed here meanwhile."""
        loop = asyncio.get_running_loop()
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        ahead: deque[tuple[int, asyncio.Future[list[Entry]]]] = deque()
        try:
            started = loop.run_in_executor(pool, _started)
            pieces = iter(pieces)
            for reach, parse, args in itertools.islice(pieces, HEAD_START):
                yield reach, parse(*args)
                await asyncio.sleep(0)  # the writer task hands on a batch, or takes an outcome
                if started.done():
                    break
            if started.done():
                started.result()  # a worker that could not start says so here
            for reach, parse, args in pieces:
                ahead.append((reach, loop.run_in_executor(pool, parse, *args)))
                if len(ahead) >= CHUNKS_AHEAD:
                    position, future = ahead.popleft()
                    yield position, await future
            while ahead:
                position, future = ahead.popleft()
                yield position, await future
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    async def _index(self) -> None:
        """Index every queued article (this import's last ones, and any other
        waiting): one statement per INDEX_BATCH, the text read back by SQLite,
        never bound from Python. An import that stops early leaves its articles
        queued, and a server's drains (or a search, or the next import) index them."""
        await self.db.run(self._drain_queue)

    async def _read(self, parsed: AsyncGenerator[tuple[int, list[Entry]], None], progress: Progress) -> None:
        # Batches are written by another task, each in one hop on the writer's
        # thread (Database.run), while the next are read: SQLite's work (the
        # rows, their indexes, the search index, the fsync) runs without the
        # GIL, beside the parse in the worker processes (or, in this one, in
        # turns with it). Each batch is planned against what the one before it wrote.
        batches: asyncio.Queue[list[_Item] | None] = asyncio.Queue(maxsize=BATCHES_AHEAD)
        writer = asyncio.ensure_future(self._write_all(batches))

        async def hand(batch: list[_Item] | None) -> None:
            put = asyncio.ensure_future(batches.put(batch))
            await asyncio.wait([put, writer], return_when=asyncio.FIRST_COMPLETED)
            if not put.done():  # the writer stopped on an error: raise it here
                put.cancel()
                writer.result()

        report = self.report
        try:
            batch: list[_Item] = []
            async with contextlib.aclosing(parsed):
                async for position, entries in parsed:
                    for at, outcome in entries:
                        report.seen += 1
                        if isinstance(outcome, Parsed):
                            batch.append(_Item(report.seen, at, outcome))
                        else:
                            report.problem(_where(report.seen, at), *outcome)
                        if len(batch) >= self.batch_size:
                            await hand(batch)
                            batch = []
                            progress.show(position, report.imported)
            await hand(batch)
            await hand(None)
            await writer
        finally:
            if not writer.done():
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer

    async def _write_all(self, batches: asyncio.Queue[list[_Item] | None]) -> None:
        """Write the batches `_read` hands on, in order, until it hands None; the
        search index takes what they queued every INDEX_EVERY articles."""
        written = 0
        while (batch := await batches.get()) is not None:
            await self._write(batch)
            written += len(batch)
            if written >= INDEX_EVERY:
                await self.db.run(self._drain_queue)
                written = 0

    @staticmethod
    async def _drain_queue(conn: Connection) -> None:
        while await indexing.drain(conn, INDEX_BATCH) >= INDEX_BATCH:
            pass

    async def _resolve_waiting(self) -> None:
        """Replies whose nearest ancestor had not been seen: now that the whole
        source is read, place each (mailthreads.plan) and write them parents first."""
        if not self.waiting:
            return
        items, self.waiting = self.waiting, []
        names = {ref for item in items for ref in item.parsed.chain} | {i.parsed.message_id for i in items}
        async with self.db.read() as conn:
            known = await self._known(conn, names)
        group_id = self.group["id"]
        present = {mid for mid, row in known.items() if row["group_id"] == group_id}
        elsewhere = set(known) - present
        filling = {
            mid for mid in present if mailthreads.is_placeholder(known[mid]["status"], known[mid]["user_id"])
        }
        pending = {item.parsed.message_id for item in items} - set(known)
        placements = mailthreads.plan(
            ((i.parsed.message_id, i.parsed.chain) for i in items), present, elsewhere, pending, filling
        )
        earliest: dict[str, str] = {}
        for item in items:
            place = placements[item.parsed.message_id]
            item.final, item.target, item.placeholder = True, place.target, place.placeholder
            if item.placeholder:
                earliest[item.placeholder] = min(
                    earliest.get(item.placeholder, item.parsed.created_at), item.parsed.created_at
                )
        for item in items:
            if item.placeholder:
                item.placeholder_at = earliest[item.placeholder]
        items = parents_first(items)
        for i in range(0, len(items), self.batch_size):
            await self._write(items[i : i + self.batch_size])

    async def _write(self, items: list[_Item]) -> None:
        if not items:
            return
        try:
            outcome = await self.db.run(lambda conn: self._apply(conn, items))
        except Exception as error:  # rolled back as a whole: retry alone, or report the one
            if len(items) > 1:
                for item in items:
                    await self._write([item])
            else:
                self.report.problem(
                    items[0].where,
                    items[0].parsed.message_id,
                    f"refused by the database ({type(error).__name__}: {error})",
                )
            return
        imported, threads, duplicates, waiting, placeholders, filled = outcome
        self.report.placeholders += placeholders
        self.report.filled += filled
        self.report.imported += len(imported)
        self.report.threads += threads
        self.report.duplicates += duplicates
        self.report.derived_ids += sum(item.parsed.derived_id for item in imported)
        self.waiting += waiting

    async def _known(self, conn: Connection, message_ids: set[str]) -> dict[str, Row]:
        found: dict[str, Row] = {}
        ids = list(message_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = await fetch_all(
                conn,
                "SELECT id, message_id, thread_id, group_id, depth, refs, status, user_id,"
                " parent_id, created_at FROM articles"
                f" WHERE message_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update((r["message_id"], r) for r in rows)
        return found

    @staticmethod
    async def _anchor(conn: Connection, planned: dict[int, dict], parent: dict) -> dict:
        """The article a reply under `parent` attaches to (tree.anchor): the
        parent, or when it is at the deepest level its ancestor one level up,
        planned in this batch or already in the database."""
        while parent["depth"] >= MAX_DEPTH - 1:
            up = planned.get(parent["parent_id"])
            if up is None:
                row = await fetch_one(
                    conn,
                    "SELECT id, thread_id, depth, parent_id, refs FROM articles WHERE id = ?",
                    (parent["parent_id"],),
                )
                assert row is not None  # an article below the root has its parent
                up = _place(row)
            parent = up
        return parent

    @staticmethod
    def _order(rows: list[dict], new_threads: set[int]) -> list[list[dict]]:
        """Give this batch's rows their order keys (tree.preorder, oldest
        first). A new thread is all here: its keys are spaced from the start.
        Rows joining a thread already here get a provisional negative key
        each (-id: unique, and outside the order); returns them as sub-trees,
        each in tree order topped by a reply to an article already here, to
        be placed by _place_joining once inserted."""
        children: dict[int | None, list[int]] = {}
        by_id = {row["id"]: row for row in rows}
        for row in rows:  # ids grow in planning order: siblings come oldest first
            parent = row["parent_id"] if row["parent_id"] in by_id else None
            children.setdefault(parent, []).append(row["id"])
        joining = []
        for top in children.get(None, []):
            order = [by_id[i] for i in tree.preorder(children, top)]
            fresh = order[0]["thread_id"] in new_threads
            for rank, row in enumerate(order, 1):
                row["seq"] = tree.STEP * rank if fresh else -row["id"]
            if not fresh:
                joining.append(order)
        return joining

    @staticmethod
    async def _place_joining(conn: Connection, joining: list[list[dict]]) -> None:
        """Move each joining sub-tree from its provisional keys to its place:
        after its parent's sub-tree (a reply newer than everything there), the
        sub-trees in the order of their ids."""
        for order in sorted(joining, key=lambda rows: rows[0]["id"]):
            parent = await fetch_one(
                conn,
                "SELECT id, thread_id, parent_id, seq FROM articles WHERE id = ?",
                (order[0]["parent_id"],),
            )
            assert parent is not None  # an article already here
            keys = await tree.last_child_keys(conn, parent, len(order))
            await conn.executemany(
                "UPDATE articles SET seq = ? WHERE id = ?",
                [(key, row["id"]) for key, row in zip(keys, order, strict=True)],
            )

    async def _apply(
        self, conn: Connection, items: list[_Item]
    ) -> tuple[list[_Item], int, int, list[_Item], int, int]:
        """Plan and write one batch inside the caller's transaction; returns
        (imported, new threads, duplicates, waiting, placeholders, filled). A
        message that fills in a placeholder may move a thread, so what was
        looked up before it is looked up again after it."""
        imported: list[_Item] = []
        waiting: list[_Item] = []
        counts = [0, 0, 0, 0]
        start = 0
        while start < len(items):
            consumed, done, run_waiting, run_counts = await self._apply_run(conn, items[start:])
            imported += done
            waiting += run_waiting
            counts = [a + b for a, b in zip(counts, run_counts, strict=True)]
            start += consumed
        return imported, counts[0], counts[1], waiting, counts[2], counts[3]

    async def _apply_run(
        self, conn: Connection, items: list[_Item]
    ) -> tuple[int, list[_Item], list[_Item], list[int]]:
        """Write `items` up to and including the first that fills in a placeholder;
        returns how many it consumed, those imported, those left waiting, and
        the counts [new threads, duplicates, placeholders, filled]."""
        group_id = self.group["id"]
        ids = {i.parsed.message_id for i in items}
        # Targets in this batch are found in it; only the others are looked up.
        wanted = {ref for i in items for ref in (self._wanted(i)) if ref not in ids}
        existing = await self._known(conn, ids | wanted)
        next_id = await posting.next_article_id(conn)
        here: dict[str, dict] = {}
        planned: dict[int, dict] = {}  # this batch's articles by id, for anchors
        rows: list[dict] = []
        new_threads: list[dict] = []
        imported: list[_Item] = []
        waiting: list[_Item] = []
        duplicates = placeholders = filled_count = 0
        consumed = 0

        def lookup(message_id: str | None) -> dict | None:
            if message_id is None:
                return None
            if message_id in here:
                return here[message_id]
            known = existing.get(message_id)
            if known is None or known["group_id"] != group_id:
                return None
            return _place(known)

        filled: tuple[_Item, Row, dict | None] | None = None
        for item in items:
            consumed += 1
            p = item.parsed
            if p.message_id in here:
                duplicates += 1
                continue
            parent: dict | None = None
            if item.force_root:
                pass
            elif item.final:
                parent = lookup(item.target)
            elif p.chain:
                parent = lookup(p.chain[-1])
                if parent is None:  # its parent may come later in the source
                    waiting.append(item)
                    continue
            known = existing.get(p.message_id)
            if known is not None:
                if known["group_id"] == group_id and mailthreads.is_placeholder(
                    known["status"], known["user_id"]
                ):
                    filled = (item, known, parent)
                    break
                duplicates += 1
                continue
            if parent is None and item.final and item.placeholder and not item.force_root:
                parent = lookup(item.placeholder)
                if parent is None and item.placeholder not in existing:
                    parent = self._placeholder_row(item, next_id, len(new_threads), rows, new_threads)
                    here[item.placeholder] = parent
                    next_id += 1
                    placeholders += 1
            if parent is not None:
                parent = await self._anchor(conn, planned, parent)
            article_id, next_id = next_id, next_id + 1
            refs = " ".join(p.refs)
            if parent is not None:
                thread, depth, parent_id = parent["thread"], parent["depth"] + 1, parent["id"]
            else:
                thread, depth, parent_id = ("new", len(new_threads)), 0, None
                new_threads.append(
                    {"subject": p.subject, "created_at": p.created_at, "root_article_id": article_id}
                )
            here[p.message_id] = planned[article_id] = {
                "id": article_id,
                "thread": thread,
                "depth": depth,
                "parent_id": parent_id,
                "refs": refs,
            }
            rows.append(
                {
                    "id": article_id,
                    "message_id": p.message_id,
                    "thread": thread,
                    "parent_id": parent_id,
                    "depth": depth,
                    "refs": refs,
                    "subject": p.subject,
                    "body": p.body,
                    "author_name": p.author_name,
                    "author_addr": p.author_addr,
                    "created_at": p.created_at,
                    "utc_offset": p.utc_offset,
                }
            )
            imported.append(item)
        thread_ids = await posting.create_thread_rows(conn, group_id, new_threads)
        for row in rows:
            thread = row.pop("thread")
            row["thread_id"] = thread_ids[thread[1]] if isinstance(thread, tuple) else thread
        joining = self._order(rows, set(thread_ids))
        await posting.insert_articles(conn, group_id, rows)
        await self._place_joining(conn, joining)
        joined = sorted({row["thread_id"] for row in rows} - set(thread_ids))
        if filled is not None:
            item, known, parent = filled
            if parent is not None and isinstance(parent["thread"], tuple):
                parent = {**parent, "thread": thread_ids[parent["thread"][1]]}
            if item.final or parent is not None or not item.parsed.chain:
                joined += await self._fill(conn, item.parsed, known, parent)
                imported.append(item)
                filled_count += 1
            else:  # its parent may come later in the source: fill it in then
                waiting.append(item)
        if imported:
            group = await fetch_one(conn, "SELECT * FROM groups WHERE id = ?", (group_id,))
            assert group is not None  # the group being imported into: groups are never deleted
            # Replies that joined threads already here change those threads too:
            # their watchers (and cached pages) must hear of it.
            joined = sorted(set(joined))
            await emit(
                conn,
                "group.imported",
                group=group["name"],
                thread_id=None,
                data={
                    "group": group_json(group),
                    "articles": len(imported),
                    "threads": len(thread_ids),
                    "joined_threads": joined,
                },
                also=Also(threads=joined),
            )
        return consumed, imported, waiting, [len(thread_ids), duplicates, placeholders, filled_count]

    @staticmethod
    def _wanted(item: _Item) -> list[str]:
        """The Message-IDs a batch must look up to place `item`."""
        if item.final:
            return [ref for ref in (item.target, item.placeholder) if ref]
        return list(item.parsed.chain[-1:])

    def _placeholder_row(
        self, item: _Item, article_id: int, thread_index: int, rows: list[dict], new_threads: list[dict]
    ) -> dict:
        """Add the placeholder `item` goes under, as the root of a new thread; returns its place."""
        assert item.placeholder is not None
        at = item.placeholder_at or item.parsed.created_at
        subject = base_subject(item.parsed.subject) or item.parsed.subject
        thread = ("new", thread_index)
        new_threads.append({"subject": subject, "created_at": at, "root_article_id": article_id})
        place = {"id": article_id, "thread": thread, "depth": 0, "parent_id": None, "refs": ""}
        rows.append(
            {
                "id": article_id,
                "message_id": item.placeholder,
                "thread": thread,
                "parent_id": None,
                "depth": 0,
                "refs": "",
                "subject": subject,
                "body": mailthreads.PLACEHOLDER_BODY,
                "author_name": mailthreads.PLACEHOLDER_AUTHOR,
                "author_addr": None,
                "created_at": at,
                "status": "notice",
                "notice": mailthreads.PLACEHOLDER_NOTICE,
            }
        )
        return place

    async def _fill(self, conn: Connection, p: Parsed, known: Row, parent: dict | None) -> list[int]:
        """The missing message arrived: it takes its placeholder's place (and
        Message-ID), and when it names a present ancestor outside its own thread,
        its thread moves under that ancestor. Returns the threads it changed."""
        refs = " ".join(p.refs)
        await conn.execute(
            "UPDATE articles SET subject = ?, body = ?, author_name = ?, author_addr = ?, created_at = ?,"
            " utc_offset = ?, refs = ?, status = 'ok', notice = NULL WHERE id = ?",
            (p.subject, p.body, p.author_name, p.author_addr, p.created_at, p.utc_offset, refs, known["id"]),
        )
        await indexing.index(conn, known["id"], p.subject, p.body, p.author_name)
        thread_id = known["thread_id"]
        changed = [thread_id]
        source = await fetch_one(conn, "SELECT * FROM threads WHERE id = ?", (thread_id,))
        assert source is not None  # an article's thread row always exists
        if source["root_article_id"] == known["id"]:
            await conn.execute(
                "UPDATE threads SET subject = ?, created_at = min(created_at, ?) WHERE id = ?",
                (p.subject, p.created_at, thread_id),
            )
        if (
            parent is not None
            and known["parent_id"] is None
            and parent["thread"] != thread_id
            and source["root_article_id"] == known["id"]
            and parent["depth"] + 1 + await deepest(conn, thread_id) < MAX_DEPTH
        ):
            # Read now: placing this batch's rows may have renumbered keys.
            top = await fetch_one(conn, "SELECT * FROM articles WHERE id = ?", (known["id"],))
            under = await fetch_one(conn, "SELECT * FROM articles WHERE id = ?", (parent["id"],))
            assert top is not None and under is not None  # both are here (looked up in this batch)
            await relocate(
                conn,
                source=source,
                top=top,
                target_id=parent["thread"],
                group_id=source["group_id"],
                depth_shift=parent["depth"] + 1,
                keys=lambda count: tree.graft_keys(conn, under, known["id"], count),
            )
            await conn.execute("UPDATE articles SET parent_id = ? WHERE id = ?", (parent["id"], known["id"]))
            # Emptied, it reads as a thread that never grew (what `moot check` expects).
            await conn.execute(
                "UPDATE threads SET merged_into_thread_id = ?, last_article_at = created_at WHERE id = ?",
                (parent["thread"], thread_id),
            )
            await conn.execute(
                "UPDATE groups SET thread_count = thread_count - 1 WHERE id = ?", (source["group_id"],)
            )
            await follows.copy_followers(conn, thread_id, parent["thread"])
            changed.append(parent["thread"])
        await refresh_activity(conn, changed[-1:], [source["group_id"]])
        return changed
