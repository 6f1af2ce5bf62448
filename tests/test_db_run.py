"""Database.run, the write door in one hop: the same contract as transaction()."""

import asyncio
import sqlite3

import pytest

from moot.store.db import MAX_BATCH, SchemaNewer, fetch_value
from tests.db_support import (
    add_deferred_foreign_key,
    db,  # noqa: F401  (fixture)
    keys,
    newer_moot_upgrades,
)


def insert(key, fail=False):
    async def action(conn):
        cur = await conn.execute("INSERT INTO settings (key, value) VALUES (?, 'v')", (key,))
        assert cur.rowcount == 1
        if fail:
            raise ValueError(key)
        return await fetch_value(conn, "SELECT value FROM settings WHERE key = ?", (key,))

    return action


async def test_run_returns_the_action_result_once_durable(db):
    assert await db.run(insert("one")) == "v"
    assert await keys(db) == {"one"}


async def test_concurrent_runs_and_transactions_share_commits_each_alone_on_failure(db):
    commits = []
    db.add_commit_listener(lambda: commits.append(1))

    async def through_run(i):
        await db.run(insert(f"k{i}", fail=i % 3 == 0))
        assert f"k{i}" in await keys(db)

    async def through_transaction(i):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES (?, 'v')", (f"k{i}",))
            if i % 3 == 0:
                raise ValueError(f"k{i}")
        assert f"k{i}" in await keys(db)

    results = await asyncio.gather(
        *((through_run if i % 2 else through_transaction)(i) for i in range(100)), return_exceptions=True
    )
    failed = {r.args[0] for r in results if isinstance(r, ValueError)}
    assert failed == {f"k{i}" for i in range(100) if i % 3 == 0}
    assert await keys(db) == {f"k{i}" for i in range(100) if i % 3}
    assert 100 // MAX_BATCH <= len(commits) < 100


async def test_an_action_that_awaits_anything_else_is_refused_and_undone(db):
    async def sleeps(conn):
        await conn.execute("INSERT INTO settings (key, value) VALUES ('slept', 'v')")
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other"):
        await db.run(sleeps)
    assert await keys(db) == set()
    await db.run(insert("after"))
    assert await keys(db) == {"after"}


async def test_failed_commit_is_reported_and_the_door_still_works(db):
    await add_deferred_foreign_key(db)

    async def breaks_at_commit(conn):
        await conn.execute("INSERT INTO settings (key, value) VALUES ('lost', 'v')")
        await conn.execute("INSERT INTO child (p) VALUES (42)")

    with pytest.raises(sqlite3.IntegrityError):
        await db.run(breaks_at_commit)
    assert await keys(db) == set()
    await db.run(insert("after"))
    assert await keys(db) == {"after"}


async def test_cancelled_caller_still_leaves_the_batch_consistent(db):
    task = asyncio.create_task(db.run(insert("cancelled")))
    await asyncio.sleep(0)  # queued; the writer has not taken it yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await db.run(insert("after"))
    assert await keys(db) == {"after"}  # given up before its turn: never run


async def test_actions_queued_together_share_one_commit_each_alone_on_failure(db):
    commits = []
    db.add_commit_listener(lambda: commits.append(1))
    results = await asyncio.gather(
        *(db.run(insert(f"k{i}", fail=i == 3)) for i in range(10)), return_exceptions=True
    )
    assert [type(r) for r in results] == [str] * 3 + [ValueError] + [str] * 6
    assert await keys(db) == {f"k{i}" for i in range(10) if i != 3}
    assert len(commits) == 1


async def test_run_refuses_a_file_a_newer_moot_upgraded(db):
    await db.run(insert("before"))
    newer_moot_upgrades(db.path)
    with pytest.raises(SchemaNewer) as refused:
        await db.run(insert("after"))
    assert refused.value.status == 503
    assert await keys(db) == {"before"}
