"""The one task that sends the fediverse its deliveries: it turns new events
into activities (outbox.expand) and posts each due `ap_deliveries` row,
signed by its activity's signer (Client.post), a bounded number at once.

At least once, never lost: a row is deleted only after the inbox answered
2xx, so a kill -9 at any moment leaves every undelivered row in place (a
delivery in flight at the kill is sent again, with the same activity id,
which receivers drop as a repeat). A network failure, a 5xx, 401, 408 or
429 is retried with exponential backoff and jitter until the activity is
`federation_give_up_hours` old, then given up ('failed', with the last
error kept for the admins' page); any other 4xx is final at once.

The task wakes when this process commits (new events) and otherwise polls,
so events written by other processes sharing the database are seen too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from sqlite3 import Row

from ..runtime.site import Site
from ..store import clock
from ..store.db import fetch_all, fetch_value
from . import outbox
from .client import Client, FetchError

log = logging.getLogger("moot.federation")

# Deliveries in flight at once.
CONCURRENCY = 16
# Due rows read per round.
ROUND = 512
# Retries wait FIRST_RETRY seconds, doubling per attempt up to LONGEST_RETRY,
# each stretched by up to JITTER of itself so a dead host's rows spread out.
FIRST_RETRY = 30.0
LONGEST_RETRY = 6 * 3600.0
JITTER = 0.25
# The longest sleep between looks at the events table and the due rows.
POLL = 2.0
# 4xx answers worth trying again: a signature the host did not take yet,
# a timeout, a rate limit.
RETRIED_4XX = frozenset({401, 408, 429})


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery: 'sent', 'retry' or 'failed', and the answer's status (0: none)."""

    state: str
    status: int
    error: str = ""


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones (jittered)."""
    base = min(FIRST_RETRY * 2 ** max(0, attempts - 1), LONGEST_RETRY)
    return base * (1 + random.uniform(0, JITTER))


def judge(status: int) -> str:
    """'sent' for a 2xx, 'failed' for a final refusal, 'retry' otherwise."""
    if 200 <= status < 300:
        return "sent"
    if 400 <= status < 500 and status not in RETRIED_4XX:
        return "failed"
    return "retry"


async def due(site: Site, now: str, limit: int = ROUND) -> list[Row]:
    """Pending deliveries due at `now`, oldest first, with their activities."""
    async with site.db.read() as conn:
        return await fetch_all(
            conn,
            "SELECT d.activity, d.inbox, d.attempts, a.signer, a.body, a.created_at"
            " FROM ap_deliveries d JOIN ap_activities a ON a.id = d.activity"
            " WHERE d.state = 'pending' AND d.next_at <= ? ORDER BY d.next_at LIMIT ?",
            (now, limit),
        )


async def _settle(site: Site, row: Row, outcome: Outcome, now: str) -> str:
    """Record `outcome`: a sent row deleted; a failure rescheduled, or given
    up. Returns what became of it: 'sent', 'retry' or 'failed'."""
    key = (row["activity"], row["inbox"])
    if outcome.state == "sent":

        async def done(conn):
            await conn.execute("DELETE FROM ap_deliveries WHERE activity = ? AND inbox = ?", key)

        await site.db.run(done)
        return "sent"
    attempts = row["attempts"] + 1
    give_up_at = clock.parse(row["created_at"]) + timedelta(hours=site.config.federation_give_up_hours)
    retry_at = clock.parse(now) + timedelta(seconds=backoff(attempts))
    final = outcome.state == "failed" or retry_at > give_up_at

    async def failed(conn):
        await conn.execute(
            "UPDATE ap_deliveries SET attempts = ?, next_at = ?, state = ?, last_error = ?"
            " WHERE activity = ? AND inbox = ?",
            (attempts, clock.stamp(retry_at), "failed" if final else "pending", outcome.error[:500], *key),
        )

    await site.db.run(failed)
    return "failed" if final else "retry"


async def send_one(site: Site, client: Client, row: Row) -> Outcome:
    """Post one delivery; never raises for the remote side's failures."""
    try:
        status = await client.post(row["inbox"], row["body"].encode("utf-8"), signer=row["signer"])
    except FetchError as error:
        return Outcome("retry", 0, str(error))
    state = judge(status)
    return Outcome(state, status, "" if state == "sent" else f"HTTP {status}")


def _count(site: Site, outcome: Outcome) -> None:
    metrics = site.metrics
    if metrics is not None:
        label = f"{outcome.status // 100}xx" if outcome.status else "error"
        metrics.federation_sent[label] += 1


async def deliver_due(site: Site, client: Client, *, now: str | None = None) -> dict[str, int]:
    """One round: every delivery due at `now` (default: the present; at most
    ROUND), sent CONCURRENCY at once and settled. Returns the count of each
    outcome ('sent', 'retry', 'failed')."""
    now = now or clock.now()
    rows = await due(site, now)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    pending = iter(rows)

    async def worker() -> None:
        for row in pending:
            outcome = await send_one(site, client, row)
            if outcome.state != "sent":
                log.info("delivery of %s to %s: %s", row["activity"], row["inbox"], outcome.error)
            _count(site, outcome)
            counts[await _settle(site, row, outcome, now)] += 1

    async with asyncio.TaskGroup() as group:
        for _ in range(min(CONCURRENCY, len(rows))):
            group.create_task(worker())
    return counts


async def next_due(site: Site) -> str | None:
    async with site.db.read() as conn:
        return await fetch_value(conn, "SELECT min(next_at) FROM ap_deliveries WHERE state = 'pending'")


class Delivery:
    """The running task; `start` and `stop` from the app's lifespan."""

    def __init__(self, site: Site, client: Client):
        self.site, self.client = site, client
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.site.db.add_commit_listener(self._wake.set)
        self._task = asyncio.create_task(self._run(), name="moot-federation-delivery")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.site.db.remove_commit_listener(self._wake.set)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.aclose()

    async def _run(self) -> None:
        base = self.site.config.site_url
        while True:
            self._wake.clear()
            try:
                while await outbox.expand(self.site.db, base):
                    pass
                while sum((await deliver_due(self.site, self.client)).values()):
                    await outbox.expand(self.site.db, base)  # a long fan-out lets new events in
                wait = POLL
                upcoming = await next_due(self.site)
                if upcoming is not None:
                    seconds = (clock.parse(upcoming) - clock.parse(clock.now())).total_seconds()
                    wait = max(0.05, min(POLL, seconds))
            except Exception:
                log.exception("federation delivery failed; retrying")
                wait = POLL
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()


async def start(site: Site) -> Delivery | None:
    """The delivery task when federation is on, else None."""
    if not site.config.federation:
        return None
    delivery = Delivery(site, Client(site.config, site.db))
    delivery.start()
    return delivery


async def summary(site: Site) -> dict:
    """What the admins' page shows: followers per group, remote instances
    seen (actors by host), the delivery backlog and the given-up deliveries
    (latest first, with their last error), and the blocked instances."""
    async with site.db.read() as conn:
        followers = await fetch_all(
            conn,
            "SELECT g.name, sum(f.state = 'accepted') AS accepted, sum(f.state = 'pending') AS pending"
            " FROM ap_followers f JOIN groups g ON g.id = f.group_id GROUP BY g.id ORDER BY g.name",
        )
        hosts = await fetch_all(
            conn,
            "SELECT a.host, count(*) AS actors, (SELECT count(*) FROM ap_followers f JOIN ap_actors b"
            " ON b.uri = f.actor WHERE b.host = a.host AND f.state = 'accepted') AS followers,"
            " max(a.fetched_at) AS last_seen FROM ap_actors a GROUP BY a.host ORDER BY a.host",
        )
        backlog = await fetch_all(
            conn,
            "SELECT state, count(*) AS n, min(next_at) AS next_at FROM ap_deliveries GROUP BY state",
        )
        failures = await fetch_all(
            conn,
            "SELECT a.activity_id, d.inbox, d.attempts, d.last_error, a.created_at FROM ap_deliveries d"
            " JOIN ap_activities a ON a.id = d.activity WHERE d.state = 'failed'"
            " ORDER BY a.created_at DESC LIMIT 50",
        )
        blocks = await outbox.list_blocks(conn)
    states = {r["state"]: r for r in backlog}
    return {
        "followers": [
            {"group": r["name"], "accepted": r["accepted"], "pending": r["pending"]} for r in followers
        ],
        "instances": [
            {
                "host": r["host"],
                "actors": r["actors"],
                "followers": r["followers"],
                "last_seen": r["last_seen"],
            }
            for r in hosts
        ],
        "deliveries": {
            "pending": states["pending"]["n"] if "pending" in states else 0,
            "failed": states["failed"]["n"] if "failed" in states else 0,
            "next_at": states["pending"]["next_at"] if "pending" in states else None,
        },
        "failures": [
            {
                "activity": r["activity_id"],
                "inbox": r["inbox"],
                "attempts": r["attempts"],
                "error": r["last_error"],
                "created_at": r["created_at"],
            }
            for r in failures
        ],
        "blocks": blocks,
    }
