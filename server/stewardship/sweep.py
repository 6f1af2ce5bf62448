"""The archive sweep: archives threads by each group's policy (no activity for
N days; more than M articles), with the site defaults from the configuration
where a group sets none (0 means never). Reference threads are never swept:
they are what newcomers are pointed to.

Candidates are found per group on threads_listing (for age a range of it;
for size the group's live threads in it, read through: no index keeps
threads in size order, as every reply would move its thread in it) with a
read connection; each is rechecked and
archived inside a write transaction of at most BATCH threads, so writers
(posting) wait at most one batch, and each archive writes its own log entry
and event like a moderator's.

The same pass keeps the moderation queue: rejected held submissions older
than the site's rejected_keep_days are dropped (queue.forget), so are the
fingerprints the repetition window has passed (repetition.prune), and the
`jobs` the server hands it (the moderators' daily queue mail, which lives in
the mail package: server/mail/queuemail.py) run with its `now`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from sqlite3 import Row
from typing import TypeGuard

from aiosqlite import Connection

from ..articles import repetition
from ..articles.reading import THREAD_SELECT
from ..runtime.site import Site
from ..store import clock
from ..store.config import Config
from ..store.db import Database, fetch_all, fetch_one
from . import queue
from .maintenance import change_state

log = logging.getLogger("moot.sweep")

BATCH = 200  # threads per write transaction: ~20 ms of holding the write lock

# A periodic job run by the sweep: given the database, the configuration and
# the sweep's `now`, it does its part and returns counts for the result.
Job = Callable[[Database, Config, datetime], Awaitable[dict]]


def effective_policy(group: Row, config: Config) -> tuple[int, int]:
    """(days, articles) for a group row: its own values, else the site's; 0 is never."""
    days = group["archive_after_days"]
    size = group["archive_after_articles"]
    return (
        config.archive_after_days if days is None else days,
        config.archive_after_articles if size is None else size,
    )


def _reason(rule: str, limit: int) -> str:
    if rule == "age":
        return f"no activity for {limit} days (archive policy)"
    return f"more than {limit} articles (archive policy)"


async def _candidates(
    conn: Connection, group: Row, days: int, size: int, now: datetime
) -> list[tuple[int, str]]:
    found: dict[int, str] = {}
    if days > 0:
        cutoff = clock.stamp(now - timedelta(days=days))
        for row in await fetch_all(
            conn,
            "SELECT id FROM threads WHERE group_id = ? AND (state = 'archived') = 0"
            " AND merged_into_thread_id IS NULL AND last_article_at < ?"
            " AND is_reference = 0",
            (group["id"], cutoff),
        ):
            found[row["id"]] = "age"
    if size > 0:
        for row in await fetch_all(
            conn,
            "SELECT id FROM threads WHERE group_id = ? AND merged_into_thread_id IS NULL"
            " AND state != 'archived' AND article_count > ? AND is_reference = 0",
            (group["id"], size),
        ):
            found.setdefault(row["id"], "size")
    return sorted(found.items())


def _still_due(thread: Row | None, rule: str, days: int, size: int, now: datetime) -> TypeGuard[Row]:
    if thread is None or thread["state"] == "archived" or thread["merged_into_thread_id"] is not None:
        return False
    if thread["is_reference"]:
        return False
    if rule == "age":
        return days > 0 and thread["last_article_at"] < clock.stamp(now - timedelta(days=days))
    return size > 0 and thread["article_count"] > size


async def sweep(
    db: Database, config: Config, *, now: datetime | None = None, jobs: Sequence[Job] = ()
) -> dict:
    """Run the sweep once. Returns {archived, by_age, by_size, groups,
    forgotten, seconds}, with what each of `jobs` returned."""
    started = time.perf_counter()
    now = now or clock.parse(clock.now())
    async with db.read() as conn:
        groups = await fetch_all(conn, "SELECT * FROM groups ORDER BY id")
        work = []
        for group in groups:
            days, size = effective_policy(group, config)
            for thread_id, rule in await _candidates(conn, group, days, size, now):
                work.append((thread_id, rule, days, size))
    counts = {"age": 0, "size": 0}
    for start in range(0, len(work), BATCH):
        async with db.transaction() as conn:
            for thread_id, rule, days, size in work[start : start + BATCH]:
                # Recheck: a reply or a moderator may have acted since the candidates were read.
                thread = await fetch_one(conn, THREAD_SELECT + " WHERE t.id = ?", (thread_id,))
                if not _still_due(thread, rule, days, size, now):
                    continue
                limit = days if rule == "age" else size
                await change_state(
                    conn, None, thread, "archive", _reason(rule, limit), data={"rule": rule, "limit": limit}
                )
                counts[rule] += 1
    async with db.transaction() as conn:
        forgotten = await queue.forget(conn, clock.stamp(now - timedelta(days=config.rejected_keep_days)))
        await repetition.prune(conn, clock.stamp(now - timedelta(hours=config.repeat_window_hours)))
    done: dict = {}
    for job in jobs:
        done.update(await job(db, config, now))
    return {
        "archived": counts["age"] + counts["size"],
        "by_age": counts["age"],
        "by_size": counts["size"],
        "groups": len(groups),
        "forgotten": forgotten,
        **done,
        "seconds": round(time.perf_counter() - started, 3),
    }


async def run_periodically(site: Site, jobs: Sequence[Job] = ()) -> None:
    """The server's sweep loop: every sweep_interval seconds, first after one interval."""
    interval = site.config.sweep_interval
    while True:
        await asyncio.sleep(interval)
        try:
            result = await sweep(site.db, site.config, jobs=jobs)
            if result["archived"] or result["forgotten"] or result.get("queue_mail"):
                log.info("archive sweep: %s", result)
        except Exception:  # a failed sweep must not stop the next one
            log.exception("archive sweep failed")


def start(site: Site, jobs: Sequence[Job] = ()) -> asyncio.Task | None:
    """Start the periodic sweep, with `jobs` (None when sweep_interval is 0)."""
    if site.config.sweep_interval <= 0:
        return None
    return asyncio.get_running_loop().create_task(run_periodically(site, jobs), name="moot-sweep")


async def stop(task: asyncio.Task | None) -> None:
    if task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
