"""Upgrades: a real version-1 site (tests/fixtures/v1.db, made by Moot as of
172170f) becomes, step by step, exactly what a new database is, with every
row, counter, tree and the full-text index intact; a real version-6 site
(tests/fixtures/v6.db, made as of 5c722d6) keeps every reply tree exactly
when its paths become order keys; a real version-9 site (tests/fixtures/v9.db,
made as of 7aa5aeb) gains suspensions with no account suspended and every row
kept; a newer database is refused untouched; a
batched data step reports progress and resumes after a failure."""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from moot.articles import indexing, tree
from moot.people import newsrc
from moot.stewardship import actions
from moot.store import check, migrate
from moot.store.db import Database, SchemaNewer, fetch_all, fetch_value
from tests.db_support import newer_moot_upgrades
from tests.processes import moot

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "v1.db"
FIXTURE_V6 = Path(__file__).resolve().parent / "fixtures" / "v6.db"
FIXTURE_V9 = Path(__file__).resolve().parent / "fixtures" / "v9.db"
FIXTURE_V10 = Path(__file__).resolve().parent / "fixtures" / "v10.db"
FIXTURE_V11 = Path(__file__).resolve().parent / "fixtures" / "v11.db"
FIXTURE_V12 = Path(__file__).resolve().parent / "fixtures" / "v12.db"
FIXTURE_V13 = Path(__file__).resolve().parent / "fixtures" / "v13.db"
FIXTURE_V14 = Path(__file__).resolve().parent / "fixtures" / "v14.db"
FIXTURE_V15 = Path(__file__).resolve().parent / "fixtures" / "v15.db"
FIXTURE_V16 = Path(__file__).resolve().parent / "fixtures" / "v16.db"
FIXTURE_V17 = Path(__file__).resolve().parent / "fixtures" / "v17.db"
FIXTURE_V18 = Path(__file__).resolve().parent / "fixtures" / "v18.db"


def v1_copy(tmp_path) -> str:
    path = tmp_path / "site.db"
    shutil.copy(FIXTURE, path)
    return str(path)


def normalised_schema(path: str) -> set[tuple]:
    """sqlite_master as (type, name, table, sql) with comments and spacing normalised."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    finally:
        conn.close()

    def norm(sql):
        if sql is None:
            return None
        sql = re.sub(r"--[^\n]*", "", sql)
        sql = " ".join(sql.split())
        return re.sub(r"\s*([(),])\s*", r"\1", sql)

    return {(t, n, tbl, norm(sql)) for t, n, tbl, sql in rows}


def columns(path: str) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()


def all_rows(
    path: str, exclude=("schema_history",), only: dict[str, list[str]] | None = None
) -> dict[str, list]:
    """Every row of every table; with `only`, just those columns (the ones an
    older schema had, so rows are compared across steps that add columns)."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('articles_fts')"
            )
        ]
        return {
            t: conn.execute(
                f"SELECT {', '.join(only[t]) if only and t in only else '*'} FROM {t} ORDER BY 1"
            ).fetchall()
            for t in tables
            if t not in exclude
        }
    finally:
        conn.close()


def trees(path: str) -> dict[int, list[tuple[int, int | None, int]]]:
    """Each thread's (id, parent_id, depth) in thread order, read from paths
    (schema 6 and older) or from order keys (7 on)."""
    conn = sqlite3.connect(path)
    try:
        if "path" in [c[1] for c in conn.execute("PRAGMA table_info(articles)")]:
            sql = (
                "SELECT thread_id, id, parent_id, length(path) / 8 - 1 FROM articles ORDER BY thread_id, path"
            )
        else:
            sql = "SELECT thread_id, id, parent_id, depth FROM articles ORDER BY thread_id, seq"
        out: dict[int, list[tuple[int, int | None, int]]] = {}
        for thread_id, *place in conn.execute(sql):
            out.setdefault(thread_id, []).append(tuple(place))
        return out
    finally:
        conn.close()


def fresh(tmp_path) -> str:
    path = str(tmp_path / "fresh.db")
    migrate.upgrade(path)
    return path


def add_users(conn: sqlite3.Connection, prefix: str, count: int) -> None:
    """Accounts p0, p1, ... (named P0, P1, ...) written straight into the tables."""
    conn.executemany(
        "INSERT INTO users (username, display_name, password_hash, created_at)"
        " VALUES (?, ?, 'x', '2026-01-01T00:00:00.000Z')",
        [(f"{prefix}{i}", f"{prefix.upper()}{i}") for i in range(count)],
    )


async def signed_in(site, username: str):
    """A client of `site` signed in as a fixture's account (each has its password)."""
    client = await site.client()
    r = await client.post("/api/login", json={"username": username, "password": "fixture-password"})
    assert r.status_code == 200, r.text
    return client


def test_fixture_is_a_real_version_1_site():
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    try:
        assert migrate.schema_version(conn) == 1
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("articles", "sessions", "events", "modlog", "proposals")
        }
        statuses = {r[0] for r in conn.execute("SELECT DISTINCT status FROM articles")}
        actions = {r[0] for r in conn.execute("SELECT DISTINCT action FROM modlog")}
        archived = conn.execute("SELECT count(*) FROM threads WHERE state = 'archived'").fetchone()[0]
    finally:
        conn.close()
    assert all(counts.values()), counts
    assert statuses == {"ok", "cancelled", "notice"}
    assert {"split", "merge", "undo", "move", "cancel", "archive"} <= actions
    assert archived == 1


async def test_version_1_site_upgrades_to_exactly_the_fresh_schema(tmp_path, make_site):
    path = v1_copy(tmp_path)
    before, old_columns, old_trees = all_rows(path), columns(path), trees(path)
    old_columns["articles"].remove("path")  # step 8: order keys instead (compared below)
    for version in range(2, migrate.SCHEMA_VERSION + 1):  # one step at a time, as a site upgrades
        assert migrate.upgrade(path, target=version) == version - 1
        conn = sqlite3.connect(path)
        assert migrate.schema_version(conn) == version
        conn.close()
        assert check.check(path).problems in (
            [],
            [
                f"schema version: schema version {version}, this "
                f"Moot's is {migrate.SCHEMA_VERSION} (run `moot migrate`)"
            ],
        )

    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    assert trees(path) == old_trees  # step 8: the same order, parents and depths
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():  # every row kept, counters and sequences included
        if table == "articles":
            rows = [
                tuple(v for c, v in zip(columns(str(FIXTURE))[table], r, strict=True) if c != "path")
                for r in rows
            ]
        if table == "newsrc":  # step 4: a high-water mark N became the read range 1-N
            assert after["read_marks"] == [
                (u, g, f"1-{n}" if n > 1 else str(n) if n else "", 1) for u, g, n in rows
            ]
            assert "newsrc" not in after
            continue
        assert after[table] == rows, table
    # step 3 added articles.utc_offset: the old articles' dates showed in UTC, and still do
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT DISTINCT utc_offset FROM articles").fetchall() == [(0,)]
        # step 4 added articles.edited_at: none of them was edited
        assert conn.execute("SELECT DISTINCT edited_at FROM articles").fetchall() == [(None,)]
        # the reader_mail step: follows stay without mail, groups keep refusing strangers
        assert conn.execute("SELECT DISTINCT mail FROM follows").fetchall() in ([], [(0,)])
        assert conn.execute("SELECT DISTINCT stranger_mail FROM groups").fetchall() == [("bounce",)]
    finally:
        conn.close()
    report = check.check(path)
    assert report.ok, report.text()

    # The upgraded file serves: search finds known articles (accents folded), and
    # posting continues each group's numbering.
    site = await make_site(db_path=path)
    reader = await site.client()
    r = await reader.get("/api/search", params={"q": "odenwald"})
    assert r.status_code == 200, r.text
    assert [x["article"]["body"] for x in r.json()["results"]] == ["Ballads from the Ödenwald, easily."]
    r = await reader.get("/api/search", params={"q": "editor"})
    assert {x["article"]["subject"] for x in r.json()["results"]} == {"Editors (was: The GIL in 3.13)"}
    r = await reader.get("/api/search", params={"q": "rude OR people"})
    assert r.json()["results"] == []  # the cancelled article stays out of search
    ada = await site.client("ada2")
    r = await ada.post("/api/groups/comp.lang.python/threads", json={"subject": "After", "body": "upgrade"})
    assert r.status_code == 201, r.text
    python = next(g for g in before["groups"] if g[1] == "comp.lang.python")
    high_water = python[6]  # groups.last_number
    assert high_water >= max(a[4] for a in before["articles"] if a[3] == python[0])
    assert r.json()["article"]["number"] == high_water + 1
    await site.close()


def test_upgrade_takes_a_backup_and_records_it(tmp_path):
    path = v1_copy(tmp_path)
    lines = []
    migrate.upgrade(path, progress=lines.append)
    backups = list(tmp_path.glob("site.db.v1-*.backup"))
    assert len(backups) == 1 and f"to {backups[0]}" in lines[0]
    assert all_rows(str(backups[0])) == all_rows(str(FIXTURE))
    conn = sqlite3.connect(path)
    try:
        history = conn.execute(
            "SELECT version, name, finished_at IS NOT NULL, backup FROM schema_history"
        ).fetchall()
    finally:
        conn.close()
    # Every step in order, all taken after the one backup.
    assert history == [(m.version, m.name, 1, str(backups[0])) for m in migrate.MIGRATIONS]
    assert migrate.upgrade(path) == migrate.SCHEMA_VERSION  # a second run does nothing
    assert len(list(tmp_path.glob("site.db.v1-*.backup"))) == 1


def digest(path: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.parent.iterdir())
        if p.name.startswith(path.name)
    }


async def test_newer_database_is_refused_untouched(tmp_path):
    path = Path(fresh(tmp_path))
    newer_moot_upgrades(str(path))
    files = digest(path)
    with pytest.raises(SchemaNewer, match="newer than this Moot knows.*Refusing to write"):
        await Database(str(path)).open()
    with pytest.raises(SchemaNewer):
        migrate.upgrade(str(path))
    result = moot("migrate", "--db", str(path), check=False)
    assert result.returncode == 2 and "newer than this Moot knows" in result.stderr
    result = moot("serve", "--db", str(path), "--port", "1", check=False)
    assert result.returncode == 2 and "Refusing to write" in result.stderr
    assert digest(path) == files  # not a byte written, no backup, no journal


async def test_running_process_stops_writing_once_a_newer_moot_upgrades(tmp_path):
    db = await Database(str(tmp_path / "site.db"), read_connections=1).open()
    try:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('before', '1')")
        newer_moot_upgrades(db.path)
        with pytest.raises(SchemaNewer) as refused:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO settings (key, value) VALUES ('after', '1')")
        assert refused.value.status == 503
        async with db.read() as conn:
            keys = [r[0] for r in await conn.execute_fetchall("SELECT key FROM settings")]
        assert "before" in keys and "after" not in keys
    finally:
        await db.close()


def shout_step(fail_after: int | None = None, path: str | None = None) -> migrate.Migration:
    """A data step for the machinery's own test: fill a new column batch by batch
    (and, given the database's path, prove each batch holds the write lock)."""
    calls = {"n": 0}

    def batch(conn, limit):
        calls["n"] += 1
        if path is not None:
            other = sqlite3.connect(path, timeout=0)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
        if fail_after is not None and calls["n"] > fail_after:
            raise RuntimeError("disk on fire")
        return conn.execute(
            "UPDATE users SET shout = upper(username) WHERE id IN"
            " (SELECT id FROM users WHERE shout IS NULL LIMIT ?)",
            (limit,),
        ).rowcount

    return migrate.Migration(
        migrate.SCHEMA_VERSION + 1,
        "users_shout",
        sql="ALTER TABLE users ADD COLUMN shout TEXT;",
        batch=batch,
        remaining=lambda conn: conn.execute("SELECT count(*) FROM users WHERE shout IS NULL").fetchone()[0],
    )


def test_batched_step_reports_progress_and_resumes_after_a_failure(tmp_path):
    path = fresh(tmp_path)
    conn = sqlite3.connect(path)
    add_users(conn, "u", 7)
    conn.commit()
    conn.close()
    target = migrate.SCHEMA_VERSION + 1
    with pytest.raises(RuntimeError, match="disk on fire"):
        migrate.upgrade(
            path,
            migrations=(*migrate.MIGRATIONS, shout_step(fail_after=2)),
            target=target,
            batch_rows=2,
            progress=lambda line: None,
        )
    conn = sqlite3.connect(path)
    # The schema change and two batches committed; the version waits for the last batch.
    assert migrate.schema_version(conn) == migrate.SCHEMA_VERSION
    assert conn.execute("SELECT count(shout) FROM users").fetchone()[0] == 4
    unfinished = conn.execute("SELECT finished_at FROM schema_history WHERE version = ?", (target,))
    assert unfinished.fetchone() == (None,)
    conn.close()
    lines = []
    migrate.upgrade(
        path,
        migrations=(*migrate.MIGRATIONS, shout_step(path=path)),
        target=target,
        batch_rows=2,
        progress=lines.append,
    )
    assert lines[1:] == [
        f"schema version {target} (users_shout): 2/3 rows",
        f"schema version {target} (users_shout): 3/3 rows",
        f"schema version {target} (users_shout): done, 3 rows",
    ]
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == target
    assert conn.execute("SELECT count(*) FROM users WHERE shout = upper(username)").fetchone()[0] == 7
    conn.close()


def test_failing_step_leaves_the_previous_version(tmp_path):
    path = v1_copy(tmp_path)
    broken = (
        migrate.Migration(
            2,
            "broken",
            sql="CREATE TABLE schema_history (version INTEGER);\n"
            "CREATE TABLE oops (x INTEGER); SELECT nonsense;",
        ),
    )
    with pytest.raises(sqlite3.OperationalError):
        migrate.upgrade(path, migrations=broken, target=2, progress=lambda line: None)
    assert normalised_schema(path) == normalised_schema(str(FIXTURE))
    assert all_rows(path) == all_rows(str(FIXTURE))


def test_moot_migrate_command_upgrades_and_reports(tmp_path):
    path = v1_copy(tmp_path)
    status = moot("migrate", "--status", "--db", path, check=False)
    assert status.returncode == 1
    assert f"schema version 1; this Moot's is {migrate.SCHEMA_VERSION}" in status.stdout
    result = moot("migrate", "--db", path)
    assert f"upgraded from schema version 1 to {migrate.SCHEMA_VERSION}" in result.stdout
    assert "backed up" in result.stderr and "schema version 1 -> 2: schema_history" in result.stderr
    status = moot("migrate", "--status", "--db", path)
    assert "2 schema_history" in status.stdout and ".backup" in status.stdout
    assert "nothing to do" in moot("migrate", "--db", path).stdout


def test_read_marks_step_carries_many_marks_over_in_batches(tmp_path):
    """Step 4 turns each high-water mark N into the read range 1-N, batch by
    batch with progress, and drops the old table only in its last batch."""
    path = v1_copy(tmp_path)
    conn = sqlite3.connect(path)
    add_users(conn, "r", 4)
    conn.execute(
        "INSERT OR REPLACE INTO newsrc (user_id, group_id, seen_number)"
        " SELECT u.id, g.id, u.id * 7 + g.id - 8 FROM users u, groups g"
    )
    old = conn.execute("SELECT user_id, group_id, seen_number FROM newsrc ORDER BY 1, 2").fetchall()
    conn.commit()
    conn.close()
    assert len(old) > 10 and {0, 1} <= {n for _, _, n in old}  # the empty and the one-number forms too
    lines = []
    migrate.upgrade(path, batch_rows=4, progress=lines.append)
    steps = [line for line in lines if line.startswith("schema version 4 (read_marks)")]
    assert steps[0] == f"schema version 4 (read_marks): 4/{len(old)} rows"
    assert steps[-1] == f"schema version 4 (read_marks): done, {len(old)} rows"
    assert len(steps) == -(-len(old) // 4) + 1
    conn = sqlite3.connect(path)
    try:
        marks = conn.execute(
            "SELECT user_id, group_id, ranges FROM read_marks WHERE subscribed = 1 ORDER BY 1, 2"
        ).fetchall()
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'newsrc'").fetchone()
    finally:
        conn.close()
    assert marks == [(u, g, newsrc.format(((1, n),) if n else ())) for u, g, n in old]


def test_fixture_is_a_real_version_6_site_with_tricky_paths():
    conn = sqlite3.connect(f"file:{FIXTURE_V6}?mode=ro", uri=True)
    try:
        assert migrate.schema_version(conn) == 6
        deepest = conn.execute("SELECT max(length(path)) / 8 - 1 FROM articles").fetchone()[0]
        # A merged root whose own component a split notice held takes one from the top.
        topped = conn.execute("SELECT count(*) FROM articles WHERE path LIKE '%zzzzzzzz%'").fetchone()[0]
        # Two merges, and an import's placeholder thread moved under its arriving root's parent.
        merged = conn.execute(
            "SELECT count(*) FROM threads WHERE merged_into_thread_id IS NOT NULL"
        ).fetchone()[0]
    finally:
        conn.close()
    assert deepest >= 40 and topped >= 2 and merged >= 4


async def test_version_6_trees_become_order_keys_exactly(tmp_path, make_site):
    """The tree step, batch by batch (whole threads each): every thread keeps its
    order, parents and depths; keys are STEP apart; the path column and its
    index are gone; the site then pages, posts, and undoes what the old code did."""
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V6, path)
    step = next(m.version for m in migrate.MIGRATIONS if m.name == "tree_order_keys")
    migrate.upgrade(path, target=step - 1)  # the steps between version 6 and this one
    before, rows_before = trees(path), all_rows(path, exclude=("schema_history", "articles"))
    lines = []
    assert migrate.upgrade(path, target=step, batch_rows=10, progress=lines.append) == step - 1
    steps = [line for line in lines if line.startswith(f"schema version {step} (tree_order_keys)")]
    assert (
        len(steps) > 2
        and steps[-1]
        == f"schema version {step} (tree_order_keys): done, {sum(map(len, before.values()))} rows"
    )
    assert trees(path) == before
    assert all_rows(path, exclude=("schema_history", "articles")) == rows_before
    migrate.upgrade(path)  # and the steps after it
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    conn = sqlite3.connect(path)
    try:
        for thread_id, places in before.items():
            keys = [
                r[0]
                for r in conn.execute(
                    "SELECT seq FROM articles WHERE thread_id = ? ORDER BY seq", (thread_id,)
                )
            ]
            assert keys == [tree.STEP * i for i in range(1, len(places) + 1)]
    finally:
        conn.close()
    report = check.check(path)
    assert report.ok, report.text()

    site = await make_site(db_path=path)
    marta = await site.client("marta2", "moderator")
    deep = max(before[1], key=lambda place: place[2])
    r = await marta.post(f"/api/articles/{deep[0]}/replies", json={"body": "after the upgrade"})
    assert r.status_code == 201 and r.json()["article"]["depth"] == deep[2] + 1, r.text
    new_id = r.json()["article"]["id"]
    seen, cursor = [], None
    while True:
        r = await marta.get("/api/threads/1", params={"limit": 7, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += [(a["id"], a["parent_id"], a["depth"]) for a in r.json()["articles"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    at = [p[0] for p in before[1]].index(deep[0]) + 1
    while at < len(before[1]) and before[1][at][2] > deep[2]:
        at += 1  # the new reply goes after the deep article's sub-tree
    assert seen == [*before[1][:at], (new_id, deep[0], deep[2] + 1), *before[1][at:]]
    # The merges the old code logged undo exactly, newest first.
    conn = sqlite3.connect(path)
    merges = [row[0] for row in conn.execute("SELECT id FROM modlog WHERE action = 'merge' ORDER BY id DESC")]
    conn.close()
    for entry in merges:
        r = await marta.post(f"/api/modlog/{entry}/undo", json={"reason": "checking the upgrade"})
        assert r.status_code == 200, r.text
    report = check.check(path)
    assert report.ok, report.text()


async def test_home_nodes_step_makes_this_node_the_home_of_every_group(tmp_path, make_site):
    path = v1_copy(tmp_path)
    step = next(m.version for m in migrate.MIGRATIONS if m.name == "home_nodes")
    migrate.upgrade(path, target=step - 1)
    before = all_rows(path)["groups"]
    assert migrate.upgrade(path, target=step) == step - 1
    conn = sqlite3.connect(path)
    try:
        homes = conn.execute("SELECT name, home, action_sequence FROM groups ORDER BY 1").fetchall()
        waiting = conn.execute(
            "SELECT (SELECT count(*) FROM group_actions) + (SELECT count(*) FROM peer_held)"
        )
        assert waiting.fetchone()[0] == 0
        split_at = conn.execute(
            "SELECT a.id, a.thread_id FROM articles a JOIN groups g ON g.id = a.group_id"
            " JOIN threads t ON t.id = a.thread_id WHERE g.name = 'comp.lang.python' AND a.parent_id IS NOT NULL"
            " AND a.status = 'ok' AND t.merged_into_thread_id IS NULL ORDER BY a.id LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    assert homes == [(g[1], None, 0) for g in sorted(before, key=lambda g: g[1])]

    # The upgraded site is the home of its groups: a split is made and numbered for the peers.
    site = await make_site(db_path=path)
    mod = await site.client("mod7", "moderator")
    assert (await mod.get("/api/groups/comp.lang.python")).json()["home"] == {
        "node": "test.moot",
        "here": True,
    }
    article_id, thread_id = split_at
    r = await mod.post(
        f"/api/threads/{thread_id}/split", json={"article_id": article_id, "reason": "upgrade"}
    )
    assert r.status_code == 201, r.text
    async with site.db.read() as conn:
        ((message_id, sequence, status),) = await fetch_all(
            conn, "SELECT message_id, sequence, status FROM group_actions"
        )
    assert (sequence, status) == (1, "applied")
    assert r.json()["notice"]["message_id"] == actions.notice_message_id(message_id)
    # Another node made the home: the next split here is refused, naming it, and changes nothing.
    async with site.db.transaction() as conn:
        await actions.set_home(conn, None, "comp.lang.python", "home.example.org")
    before_refusal = site.snapshot()
    thread = r.json()["thread"]
    r = await mod.post(f"/api/threads/{thread['id']}/move", json={"group": "rec.music.folk", "reason": "x"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_home" and r.json()["error"]["home"] == "home.example.org"
    assert site.snapshot() == before_refusal
    await site.close()


async def test_version_9_site_gains_suspensions_with_no_account_suspended(tmp_path, make_site):
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V9, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 9
    conn.close()
    before, old_columns = all_rows(path), columns(path)
    assert migrate.upgrade(path) == 9
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():
        if table != "held_mail":  # moved into the queue by step 11 (tested below)
            assert after[table] == rows, table
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT DISTINCT suspended_until, suspension_reason FROM users").fetchall() == [
            (None, "")
        ]
    finally:
        conn.close()
    report = check.check(path)
    assert report.ok, report.text()

    # The old accounts post, and an admin of the upgraded site suspends one of them.
    site = await make_site(db_path=path)
    ada = await site.client("ada9")
    r = await ada.post("/api/groups/comp.lang.python/threads", json={"subject": "After", "body": "upgrade"})
    assert r.status_code == 201, r.text
    root = await site.client("root9", "admin")
    r = await root.post("/api/users/ada9/suspend", json={"days": 3, "reason": "testing the upgrade"})
    assert r.status_code == 200, r.text
    r = await ada.post("/api/groups/comp.lang.python/threads", json={"subject": "Again", "body": "no"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "suspended", r.text


async def test_version_10_site_keeps_its_held_mail_in_the_moderation_queue(tmp_path, make_site):
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V10, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 10
    held = conn.execute(
        "SELECT group_id, message_id, mail_from, from_name, from_addr, subject, body, refs, reply_to,"
        " received_at FROM held_mail ORDER BY id"
    ).fetchall()
    conn.close()
    assert len(held) == 3
    before, old_columns = all_rows(path), columns(path)
    assert migrate.upgrade(path) == 10
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():
        if table != "held_mail":
            assert after[table] == rows, table
    conn = sqlite3.connect(path)
    try:
        queued = conn.execute(
            "SELECT group_id, message_id, mail_from, author_name, author_addr, subject, body, refs, parent_id,"
            " created_at FROM queue WHERE kind = 'held' AND why = 'stranger' AND channel = 'mail'"
            " AND state = 'waiting' AND user_id IS NULL ORDER BY id"
        ).fetchall()
        assert queued == held
        assert (
            conn.execute("SELECT DISTINCT status, approved FROM articles WHERE status = 'hidden'").fetchall()
            == []
        )
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'held_mail'").fetchone() is None
    finally:
        conn.close()
    report = check.check(path)
    assert report.ok, report.text()

    # The moderators of the upgraded site find the mail in the queue and approve the reply,
    # which is published under the stranger's address, in the thread it answered.
    site = await make_site(db_path=path)
    marta = await site.client("marta10", "moderator")
    r = await marta.get("/api/groups/comp.lang.python/queue")
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["why"] == "stranger" and item["channel"] == "mail"
    assert item["author"]["address"] == "sam@stranger.example"
    r = await marta.post(f"/api/groups/comp.lang.python/queue/{item['id']}/approve", json={})
    assert r.status_code == 200, r.text
    article = r.json()["article"]
    assert article["author"] == {"username": None, "display_name": article["author"]["display_name"]}
    assert article["parent_id"] == 2 and article["approved"] == "Marta10"
    r = await marta.get("/api/groups/comp.lang.python.announce/queue")
    assert [i["article"]["subject"] for i in r.json()["items"]] == [
        "A new release of mylib",
        "Größe und Café: naïve Unicode — 日本語",
    ]
    r = await marta.get("/api/groups/comp.lang.python/held-mail", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/api/groups/comp.lang.python/queue"


async def test_version_11_site_keeps_its_queue_and_counts_what_each_account_published(tmp_path, make_site):
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V11, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 11
    published = dict(
        conn.execute(
            "SELECT u.username, count(a.id) FROM users u"
            " LEFT JOIN articles a ON a.user_id = u.id AND a.status = 'ok' GROUP BY u.id"
        ).fetchall()
    )
    conn.close()
    assert published == {"admin": 0, "marta": 1, "ada": 2, "bob": 2, "cyd": 1}
    before, old_columns = all_rows(path), columns(path)
    assert migrate.upgrade(path) == 11
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():
        assert after[table] == rows, table
    conn = sqlite3.connect(path)
    try:
        assert dict(conn.execute("SELECT username, posts FROM users").fetchall()) == published
        assert conn.execute(
            "SELECT count(*) FROM users WHERE strike_at IS NOT NULL OR trust_frozen_at IS NOT NULL"
        ).fetchone() == (0,)
        assert conn.execute("SELECT name, kind, status FROM proposals ORDER BY id").fetchall() == [
            ("rec.knitting", "group", "open"),
            ("rec.bees", "group", "open"),
        ]
        assert conn.execute("SELECT kind, why, state FROM queue ORDER BY id").fetchall() == [
            ("held", "moderated", "waiting"),
            ("reported", "reports", "waiting"),
            ("held", "stranger", "waiting"),
        ]
    finally:
        conn.close()
    report = check.check(path)
    assert report.ok, report.text()

    # The upgraded site works on what it kept: the held submission is approved and
    # counts for its author; the open proposals can still be endorsed.
    site = await make_site(db_path=path)
    marta = await site.client("marta11", "moderator")
    r = await marta.get("/api/groups/comp.lang.python.announce/queue")
    (item,) = r.json()["items"]
    r = await marta.post(f"/api/groups/comp.lang.python.announce/queue/{item['id']}/approve", json={})
    assert r.status_code == 200, r.text
    assert r.json()["article"]["author"]["username"] == "ada"
    async with site.db.read() as db:
        assert await fetch_value(db, "SELECT posts FROM users WHERE username = 'ada'") == 3
    r = await marta.post("/api/proposals/2/endorse", json={})
    assert r.status_code == 200, r.text


async def test_version_12_site_keeps_its_trust_registration_and_group_moderators(tmp_path, make_site):
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V12, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 12
    conn.close()
    before, old_columns = all_rows(path), columns(path)
    assert migrate.upgrade(path) == 12
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():
        assert after[table] == rows, table
    report = check.check(path)
    assert report.ok, report.text()

    # The upgraded site works on what it kept: the group's own moderator still acts
    # there, the application still waits, and a draft can be kept.
    site = await make_site(db_path=path)
    bob = await signed_in(site, "bob")
    assert (await bob.get("/api/groups/rec.music.folk/queue")).status_code == 200
    assert (await bob.get("/api/groups/comp.lang.python/queue")).status_code == 403
    marta = await site.client("marta12", "moderator")
    r = await marta.get("/api/registration/applications")
    assert [a["username"] for a in r.json()["applications"]] == ["dora"]
    async with site.db.transaction() as db:
        await db.execute(
            "INSERT INTO drafts (user_id, place, body, version, updated_at)"
            " SELECT id, 'thread:rec.music.folk', 'a draft', 1, created_at FROM users WHERE username = 'bob'"
        )


async def test_version_13_site_keeps_its_drafts(tmp_path, make_site):
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V13, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 13
    conn.close()
    before, old_columns = all_rows(path), columns(path)
    assert migrate.upgrade(path) == 13
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():
        assert after[table] == rows, table
    report = check.check(path)
    assert report.ok, report.text()

    # The upgraded site works on what it kept: a writer's draft is still there to resume.
    site = await make_site(db_path=path)
    ada = await signed_in(site, "ada")
    r = await ada.get("/api/drafts/reply:2")
    assert r.status_code == 200 and r.json()["draft"]["body"] == "Half a thought", r.text


async def test_version_14_site_keeps_its_recovery_codes_and_gains_the_fediverse(tmp_path, make_site):
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V14, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 14
    conn.close()
    before, old_columns = all_rows(path), columns(path)
    assert migrate.upgrade(path) == 14
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():
        assert after[table] == rows, table
    report = check.check(path)
    assert report.ok, report.text()
    conn = sqlite3.connect(path)
    try:
        # Every group takes remote follows at once until a moderator says otherwise.
        assert conn.execute("SELECT DISTINCT ap_follow_approval FROM groups").fetchall() == [(0,)]
        # One code of the set made anew was spent; the other nine still count.
        assert conn.execute(
            "SELECT count(*), count(used_at) FROM recovery_codes JOIN users ON users.id = user_id"
            " WHERE username = 'cyd'"
        ).fetchone() == (10, 1)
    finally:
        conn.close()

    # The upgraded site works on what it kept: its members sign in and post.
    site = await make_site(db_path=path)
    cyd = await signed_in(site, "cyd")
    r = await cyd.get("/api/me/recovery-codes")
    assert r.status_code == 200 and r.json()["remaining"] == 9, r.text
    r = await cyd.post(
        "/api/groups/comp.lang.python/threads", json={"subject": "After", "body": "the upgrade"}
    )
    assert r.status_code == 201, r.text


async def test_version_15_site_keeps_its_search_index_and_gains_the_search_queue(tmp_path, make_site):
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V15, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 15
    (subject,) = conn.execute(
        "SELECT subject FROM articles WHERE status = 'ok' AND parent_id IS NULL ORDER BY id LIMIT 1"
    ).fetchone()
    conn.close()
    before, old_columns = all_rows(path), columns(path)
    assert migrate.upgrade(path) == 15
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():
        assert after[table] == rows, table
    report = check.check(path)
    assert report.ok, report.text()

    # The old articles are still found, and a new one joins them through the queue.
    site = await make_site(db_path=path)
    cyd = await site.client()
    r = await cyd.get("/api/search", params={"q": subject})
    assert r.status_code == 200 and any(x["article"]["subject"] == subject for x in r.json()["results"]), (
        r.text
    )
    r = await cyd.post("/api/login", json={"username": "cyd", "password": "fixture-password"})
    assert r.status_code == 200, r.text
    r = await cyd.post(
        "/api/groups/comp.lang.python/threads", json={"subject": "Quixotic", "body": "after the upgrade"}
    )
    assert r.status_code == 201, r.text
    r = await cyd.get("/api/search", params={"q": "quixotic"})
    assert [x["article"]["subject"] for x in r.json()["results"]] == ["Quixotic"], r.text


async def test_version_16_site_keeps_one_fingerprint_per_digest_group_and_author(tmp_path, make_site):
    """Step 17 stores fingerprints in digest order, one row per digest, group,
    author and level with the latest time: what a lookup within the window
    answers is unchanged, and the same text posted again moves the time on."""
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V16, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 16
    fingerprints = "SELECT digest, group_id, author, new_author, created_at FROM fingerprints"
    old = conn.execute(fingerprints).fetchall()
    conn.close()
    kept: dict[tuple, str] = {}
    for *key, at in old:
        kept[tuple(key)] = max(kept.get(tuple(key), ""), at)
    assert len(kept) < len(old), "the fixture has a fingerprint left twice"
    before, old_columns = all_rows(path), columns(path)
    assert migrate.upgrade(path) == 16
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():  # step 18 indexes what the search queue held
        if table != "fingerprints" and not table.startswith(("articles_fts", "search_queue")):
            assert after[table] == rows, table
    conn = sqlite3.connect(path)
    assert sorted(conn.execute(fingerprints)) == sorted((*key, at) for key, at in kept.items())
    conn.close()
    report = check.check(path)
    assert report.ok, report.text()

    # The same text posted again by the same member leaves no second row.
    site = await make_site(db_path=path)
    ada = await signed_in(site, "ada")
    async with site.db.read() as conn:
        folk = await fetch_value(
            conn,
            "SELECT root_article_id FROM threads t JOIN groups g ON g.id = t.group_id"
            " WHERE g.name = 'rec.music.folk' ORDER BY t.id LIMIT 1",
        )
    text = "The same long paragraph, posted twice over by one member to one group."
    (twice,) = {tuple(key) for *key, _ in old if [tuple(k) for *k, _ in old].count(tuple(key)) > 1}
    query = fingerprints + " WHERE digest = ? AND group_id = ? AND author = ? ORDER BY new_author"
    seen = []
    for _ in range(2):  # the same text at the member's level now (new or not), twice
        r = await ada.post(f"/api/articles/{folk}/replies", json={"body": text})
        assert r.status_code == 201, r.text
        conn = sqlite3.connect(path)
        seen.append(conn.execute(query, twice[:3]).fetchall())
        conn.close()
    assert len(seen[1]) == len(seen[0]) <= 2, seen  # one row per level, and no second one
    moved = [(a, b) for a, b in zip(seen[0], seen[1], strict=True) if a != b]
    assert len(moved) == 1 and moved[0][1][4] > moved[0][0][4], seen  # only its time moved on


async def test_version_17_site_indexes_its_queued_articles_and_keeps_one_mark(tmp_path, make_site):
    """Step 18 turns the search queue into the index's high-water mark: the
    articles the old code left queued are indexed by the step, the mark is
    the last article, no row changes, and a new article joins the index
    beyond the mark."""
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V17, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 17
    queued = [r[0] for r in conn.execute("SELECT article_id FROM search_queue ORDER BY 1")]
    indexed = "SELECT id FROM articles_fts_docsize WHERE id IN ({})".format(",".join("?" * len(queued)))
    assert queued and conn.execute(indexed, queued).fetchall() == [], "the fixture has queued articles"
    (last,) = conn.execute("SELECT max(id) FROM articles").fetchone()
    conn.close()
    before, old_columns = all_rows(path), columns(path)
    assert migrate.upgrade(path) == 17
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    after = all_rows(path, only=old_columns)
    for table, rows in before.items():  # the index gains what the queue held (checked below)
        if not table.startswith(("articles_fts", "search_queue")):
            assert after[table] == rows, table
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute(indexed, queued)] == queued
    assert conn.execute("SELECT article_id FROM search_indexed").fetchone()[0] == last
    conn.close()
    report = check.check(path)
    assert report.ok, report.text()

    site = await make_site(db_path=path)
    ada = await site.client()
    r = await ada.get("/api/search", params={"q": "zeugma"})
    assert sorted(x["article"]["id"] for x in r.json()["results"]) == queued[-3:], r.text
    r = await ada.post("/api/login", json={"username": "ada", "password": "fixture-password"})
    assert r.status_code == 200, r.text
    r = await ada.post("/api/groups/rec.music.folk/threads", json={"subject": "Quodlibet", "body": "new"})
    assert r.status_code == 201, r.text
    r = await ada.get("/api/search", params={"q": "quodlibet"})
    assert [x["article"]["subject"] for x in r.json()["results"]] == ["Quodlibet"], r.text
    async with site.db.read() as conn:
        assert await indexing.indexed_to(conn) > last
    assert check.check(path).ok


async def test_version_18_site_keeps_its_proposals_and_their_proposers_may_withdraw_them(tmp_path, make_site):
    """Step 19 lets a proposal be withdrawn: no row changes, and a proposal the
    old code left open is withdrawn by its proposer and still endorsed by no one."""
    path = str(tmp_path / "site.db")
    shutil.copy(FIXTURE_V18, path)
    conn = sqlite3.connect(path)
    assert migrate.schema_version(conn) == 18
    conn.close()
    before = all_rows(path)
    assert before["proposals"], "the fixture has proposals"
    assert migrate.upgrade(path) == 18
    assert normalised_schema(path) == normalised_schema(fresh(tmp_path))
    assert all_rows(path) == before
    report = check.check(path)
    assert report.ok, report.text()

    site = await make_site(db_path=path)
    bob = await signed_in(site, "bob")
    (bees,) = [p for p in (await bob.get("/api/proposals")).json()["proposals"] if p["name"] == "rec.bees"]
    assert bees["status"] == "open" and bees["endorsed_by"] == ["bob", "cyd"]
    r = await bob.post(f"/api/proposals/{bees['id']}/withdraw", json={})
    assert r.status_code == 200 and r.json()["proposal"]["status"] == "withdrawn", r.text
    assert (await bob.post(f"/api/proposals/{bees['id']}/endorse", json={})).status_code == 409
    assert check.check(path).ok
