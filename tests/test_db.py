"""The write door: group commit keeps each action all-or-nothing and durable on return."""

import asyncio

import pytest

from moot.store.db import MAX_BATCH, Database, fetch_all


@pytest.fixture
async def db(tmp_path):
    database = await Database(str(tmp_path / "db.sqlite"), read_connections=1).open()
    yield database
    await database.close()


async def keys(db):
    async with db.read() as conn:
        return {r[0] for r in await fetch_all(conn, "SELECT key FROM settings")}


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
    entered = asyncio.Event()

    async def first():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('first', 'v')")
            entered.set()
            await asyncio.sleep(0.05)

    async def queued(key):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES (?, 'v')", (key,))

    t1 = asyncio.create_task(first())
    await entered.wait()
    t2 = asyncio.create_task(queued("second"))
    t3 = asyncio.create_task(queued("third"))
    await asyncio.sleep(0.01)
    t3.cancel()  # gives up while waiting for its turn
    await asyncio.wait_for(asyncio.gather(t1, t2), timeout=5)
    with pytest.raises(asyncio.CancelledError):
        await t3
    assert await keys(db) == {"first", "second"}


async def test_last_queued_action_cancelled_before_its_turn(db):
    entered = asyncio.Event()

    async def first():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('first', 'v')")
            entered.set()
            await asyncio.sleep(0.05)

    async def second():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('second', 'v')")

    t1 = asyncio.create_task(first())
    await entered.wait()
    t2 = asyncio.create_task(second())
    await asyncio.sleep(0.01)
    t2.cancel()
    await asyncio.wait_for(t1, timeout=5)  # must not wait forever for t2's commit
    assert await keys(db) == {"first"}


async def test_cancelled_inside_the_body_leaves_nothing(db):
    async def slow():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('slow', 'v')")
            await asyncio.sleep(10)

    async def quick():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('quick', 'v')")

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.05)
    other = asyncio.create_task(quick())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.wait_for(other, timeout=5)
    assert await keys(db) == {"quick"}


async def test_failed_commit_is_reported_to_every_action_in_the_batch(db):
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await conn.execute(
            "CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
        )
    entered = asyncio.Event()

    async def first():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('first', 'v')")
            entered.set()
            await asyncio.sleep(0.05)

    async def breaks_at_commit():
        async with db.transaction() as conn:
            # a deferred foreign key fails only at COMMIT, after the body returned
            await conn.execute("INSERT INTO child (p) VALUES (42)")

    t1 = asyncio.create_task(first())
    await entered.wait()
    t2 = asyncio.create_task(breaks_at_commit())
    results = await asyncio.wait_for(asyncio.gather(t1, t2, return_exceptions=True), timeout=5)
    assert all(isinstance(r, Exception) for r in results)  # neither is acknowledged
    assert await keys(db) == set()
    async with db.transaction() as conn:  # and the door still works
        await conn.execute("INSERT INTO settings (key, value) VALUES ('after', 'v')")
    assert await keys(db) == {"after"}
