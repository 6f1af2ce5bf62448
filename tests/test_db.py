"""The write door: group commit keeps each action all-or-nothing and durable on return."""

import asyncio

import pytest

from moot.store.db import MAX_BATCH
from tests.db_support import add_deferred_foreign_key, db, keys  # noqa: F401  (fixture)


async def put(db, key: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO settings (key, value) VALUES (?, 'v')", (key,))


async def hold_the_door(db) -> asyncio.Task:
    """Start an action that writes 'first' and keeps the write door for 50 ms;
    return its task once it is inside, so what starts next queues behind it."""
    entered = asyncio.Event()

    async def first():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('first', 'v')")
            entered.set()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(first())
    await entered.wait()
    return task


async def test_concurrent_actions_commit_alone_or_together(db):
    commits = []
    db.add_commit_listener(lambda: commits.append(1))

    async def action(i):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES (?, 'v')", (f"k{i}",))
            if i % 3 == 0:
                raise ValueError(i)
        # durable and visible to readers once the block has exited
        assert f"k{i}" in await keys(db)

    results = await asyncio.gather(*(action(i) for i in range(100)), return_exceptions=True)
    failed = {r.args[0] for r in results if isinstance(r, ValueError)}
    assert failed == {i for i in range(100) if i % 3 == 0}
    assert await keys(db) == {f"k{i}" for i in range(100) if i % 3}
    # concurrent writers shared commits, and no batch exceeded its bound
    assert 100 // MAX_BATCH <= len(commits) < 100


async def test_cancelled_waiter_does_not_strand_the_batch(db):
    t1 = await hold_the_door(db)
    t2 = asyncio.create_task(put(db, "second"))
    t3 = asyncio.create_task(put(db, "third"))
    await asyncio.sleep(0.01)
    t3.cancel()  # gives up while waiting for its turn
    await asyncio.wait_for(asyncio.gather(t1, t2), timeout=5)
    with pytest.raises(asyncio.CancelledError):
        await t3
    assert await keys(db) == {"first", "second"}


async def test_last_queued_action_cancelled_before_its_turn(db):
    t1 = await hold_the_door(db)
    t2 = asyncio.create_task(put(db, "second"))
    await asyncio.sleep(0.01)
    t2.cancel()
    await asyncio.wait_for(t1, timeout=5)  # must not wait forever for t2's commit
    assert await keys(db) == {"first"}


async def test_cancelled_inside_the_body_leaves_nothing(db):
    async def slow():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('slow', 'v')")
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.05)
    other = asyncio.create_task(put(db, "quick"))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.wait_for(other, timeout=5)
    assert await keys(db) == {"quick"}


async def test_cancelled_while_its_batch_commits_the_door_stays_shut_until_the_commit_ends(db):
    commits = []
    db.add_commit_listener(lambda: commits.append(1))
    done = asyncio.Event()

    async def last_word():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('last', 'v')")
            done.set()
        # cancelled on its way out: at the first await after the body, its COMMIT

    task = asyncio.create_task(last_word())
    await done.wait()
    task.cancel()
    # Queued behind it at once: it must not join the batch under COMMIT nor commit it again.
    await asyncio.wait_for(put(db, "next"), timeout=5)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await keys(db) == {"last", "next"}
    assert len(commits) == 2  # each its own COMMIT, none twice
    await put(db, "after")  # the door still works
    assert "after" in await keys(db)


async def test_failed_commit_is_reported_to_every_action_in_the_batch(db):
    await add_deferred_foreign_key(db)

    async def breaks_at_commit():
        async with db.transaction() as conn:
            # a deferred foreign key fails only at COMMIT, after the body returned
            await conn.execute("INSERT INTO child (p) VALUES (42)")

    t1 = await hold_the_door(db)
    t2 = asyncio.create_task(breaks_at_commit())
    results = await asyncio.wait_for(asyncio.gather(t1, t2, return_exceptions=True), timeout=5)
    assert all(isinstance(r, Exception) for r in results)  # neither is acknowledged
    assert await keys(db) == set()
    await put(db, "after")  # and the door still works
    assert await keys(db) == {"after"}
