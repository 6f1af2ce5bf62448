"""moot check, moot backup and moot restore as an operator runs them: real
processes on real files, a backup taken while a real server takes posts."""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx

from moot.store import check
from tests.conftest import seed
from tests.processes import moot, moot_server, tls

PASSWORD = "operator-password"


def run_sql(path, *statements) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for sql in statements:
            conn.execute(sql)
    finally:
        conn.close()


async def test_check_passes_a_sound_site_and_names_each_kind_of_damage(make_site, tmp_path):
    site = await make_site()
    t = await seed(site)
    mod = await site.client("marta", "moderator")
    r = await t["ada"].post(f"/api/articles/{t['reply']['id']}/replies", json={"body": "deeper"})
    deeper = r.json()["article"]["id"]
    r = await mod.post(
        f"/api/threads/{t['thread']['id']}/split",
        json={"article_id": t["reply"]["id"], "reason": "its own topic"},
    )
    assert r.status_code == 201, r.text
    r = await t["ada"].post(f"/api/articles/{t['root']['id']}/cancel", json={})
    assert r.status_code == 200, r.text
    path = site.config.db_path
    # A search indexes what waits for the index first, so the damage below
    # (an index row deleted) hits an article that is indexed.
    assert (await t["ada"].get("/api/search", params={"q": "deeper"})).status_code == 200

    # A split leaves a notice and a cancel leaves text out of the index: still sound.
    result = moot("check", "--db", path, check=False)
    assert result.returncode == 0, result.stdout
    assert "database is sound" in result.stdout

    reply = t["reply"]["id"]
    run_sql(
        path,
        "UPDATE threads SET article_count = article_count + 5 WHERE id = 1",
        "UPDATE groups SET thread_count = 0",
        f"UPDATE articles SET depth = 5 WHERE id = {reply}",
        f"UPDATE articles SET seq = -5 WHERE id = {deeper}",
        "DELETE FROM events WHERE id = 3",
        f"INSERT INTO articles_fts (articles_fts, rowid, subject, body, author_name)"
        f" SELECT 'delete', id, subject, body, author_name FROM articles WHERE id = {reply}",
    )
    result = moot("check", "--db", path, check=False)
    assert result.returncode == 1
    out = result.stdout
    assert "FAIL  thread counters: threads whose counters" in out and ": 1" in out
    assert "FAIL  group counters" in out
    assert f"FAIL  reply trees: roots not at depth 0 or not first in their thread: {reply}" in out
    assert "FAIL  events and id counters: event ids 1.." in out and "1 gap(s)" in out
    assert f"FAIL  full-text index rows: articles missing from the index: {reply}" in out
    assert "ok    sqlite integrity" in out and "ok    foreign keys" in out
    assert f"FAIL  reply trees: replies not one level below their parent: {deeper}" in out
    assert f"FAIL  reply trees: replies out of tree order: {deeper}" in out
    assert out.rstrip().endswith("7 problem(s) found")


def sign_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, verify=tls())
    r = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client


def add_users(db) -> None:
    moot("adduser", "root", "--admin", "--password-stdin", "--db", str(db), input=PASSWORD + "\n")
    moot("adduser", "ada", "--password-stdin", "--db", str(db), input=PASSWORD + "\n")


class Poster(threading.Thread):
    """Replies to one article as fast as the server takes them; keeps the ids acknowledged."""

    def __init__(self, client: httpx.Client, parent_id: int):
        super().__init__(daemon=True)
        self.client, self.parent_id = client, parent_id
        self.acknowledged: list[int] = []
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            r = self.client.post(f"/api/articles/{self.parent_id}/replies", json={"body": "load"})
            if r.status_code == 201:
                self.acknowledged.append(r.json()["article"]["id"])
            else:
                self.failures.append(f"{r.status_code} {r.text}")


def article_ids(path) -> set[int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM articles")}
    finally:
        conn.close()


def test_backup_while_posting_then_restore(tmp_path):
    db = tmp_path / "site.db"
    add_users(db)
    with moot_server(db, tmp_path / "serve.log") as base:
        root = sign_in(base, "root")
        assert root.post("/api/groups", json={"name": "comp.lang.python"}).status_code == 201
        ada = sign_in(base, "ada")
        r = ada.post("/api/groups/comp.lang.python/threads", json={"subject": "Load", "body": "go"})
        parent = r.json()["article"]["id"]
        poster = Poster(ada, parent)
        poster.start()
        try:
            while len(poster.acknowledged) < 20:
                time.sleep(0.01)
            copies = []
            for n in range(2):
                before = len(poster.acknowledged)
                copy = tmp_path / f"copy{n}.db"
                result = moot("backup", str(copy), "--db", str(db))
                assert result.returncode == 0 and "(checked)" in result.stdout, result.stderr
                copies.append((copy, before, len(poster.acknowledged)))
        finally:
            poster.stop.set()
            poster.join()
            root.close()
            ada.close()
        assert poster.failures == []
        for copy, before, after in copies:
            assert after > before, "posts went on while the backup ran"
            kept = article_ids(copy)
            # One committed state: every post acknowledged before the backup began
            # is in it, and nothing that was never acknowledged.
            assert set(poster.acknowledged[:before]) <= kept
            assert kept - {parent, 1} <= set(poster.acknowledged)
            assert check.check(str(copy)).ok

        # A running server has the file open: restore refuses and changes nothing.
        live = article_ids(db)
        result = moot("restore", str(copies[0][0]), "--db", str(db), check=False)
        assert result.returncode == 2 and "is open in another process" in result.stderr
        assert article_ids(db) == live

    result = moot("restore", str(copies[0][0]), "--db", str(db))
    assert "the database it replaced is kept at" in result.stdout
    assert article_ids(db) == article_ids(copies[0][0])
    kept = next(tmp_path.glob("site.db.pre-restore-*.backup"))
    assert article_ids(kept) == live
    assert moot("check", "--db", str(db)).returncode == 0
    with moot_server(db, tmp_path / "serve2.log") as base:  # the restored site serves
        r = httpx.get(f"{base}/api/threads/1", verify=tls())
        assert r.status_code == 200
        assert r.json()["thread"]["article_count"] == len(article_ids(copies[0][0]))


def test_restore_refuses_a_backup_that_fails_its_check(tmp_path):
    db, bad = tmp_path / "site.db", tmp_path / "bad.db"
    add_users(db)
    assert moot("backup", str(bad), "--db", str(db)).returncode == 0
    run_sql(
        bad,
        "UPDATE groups SET article_count = 7 WHERE 0",
        "INSERT INTO groups (name, created_at,"
        " article_count) VALUES ('broken.group', '2026-01-01T00:00:00.000Z', 3)",
    )
    before = db.read_bytes()
    result = moot("restore", str(bad), "--db", str(db), check=False)
    assert result.returncode == 2 and "fails its check; not restored" in result.stderr
    assert "group counters" in result.stderr
    (tmp_path / "notes.txt").write_text("not a database at all, just text " * 100)
    result = moot("restore", str(tmp_path / "notes.txt"), "--db", str(db), check=False)
    assert result.returncode == 2 and "is not a SQLite database" in result.stderr
    assert db.read_bytes() == before


async def test_check_finds_a_damaged_full_text_index(site):
    await seed(site)
    path = site.config.db_path
    run_sql(path, "DELETE FROM articles_fts_data WHERE id = (SELECT max(id) FROM articles_fts_data)")
    report = check.check(path)
    assert [p.split(":")[0] for p in report.problems] == ["full-text index structure"], report.text()
    assert "rebuild it" in report.problems[0]
