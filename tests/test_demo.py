"""The demo site shows what Moot is for: a long drifting thread with split
suggestions, archived months, a locked thread, an open proposal, a public
moderation history and times spread over months; built the same way twice."""

import sqlite3

import httpx

from tests.processes import moot, moot_server, tls


def shape(db) -> list[tuple]:
    """Everything about a demo database but its random Message-IDs."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT t.subject, t.state, a.subject, a.body, a.author_name, a.depth, a.created_at"
            " FROM articles a JOIN threads t ON t.id = a.thread_id ORDER BY t.id, a.seq"
        ).fetchall()
    finally:
        conn.close()


def test_the_demo_tells_a_story_and_is_reproducible(tmp_path):
    db = tmp_path / "demo.db"
    out = moot("demo", "--db", str(db)).stdout
    assert "5 archived, one locked" in out and "an open proposal" in out
    assert moot("check", "--db", str(db)).returncode == 0
    with (
        moot_server(db, tmp_path / "serve.log") as url,
        httpx.Client(base_url=url, timeout=30, verify=tls()) as client,
    ):

        def get(path: str) -> dict:
            r = client.get(path)
            assert r.status_code == 200, r.text
            return r.json()

        told(db, get)

    again = tmp_path / "again.db"
    moot("demo", "--db", str(again))
    assert shape(again) == shape(db)


def told(db, get) -> None:
    """What the demo in `db` tells, read through `get(path)` (the API's JSON) and SQL."""

    threads = {
        t["subject"]: t
        for g in ("rec.music.folk", "moot.announce", "comp.lang.python.async")
        for t in get(f"/api/groups/{g}/threads")["threads"]
    }
    drifting = threads["Tunes for a slow session on Thursdays"]
    assert drifting["article_count"] >= 25
    hints = get(f"/api/threads/{drifting['id']}/split-suggestions")["suggestions"]
    assert any("subject_changed" in h["reasons"] and "(was: " in h["subject"] for h in hints)
    assert threads["Maintenance on Sunday: the site is read-only from 02:00"]["state"] == "locked"
    assert "Event loop blocked by a slow DNS lookup" in threads  # moved here by a moderator

    months = get("/api/groups/sci.astro.amateur/archive")["periods"]
    assert len(months) == 2 and all(p["threads"] == 1 for p in months)
    assert (
        sum(
            len(get(f"/api/groups/{g}/archive")["periods"])
            for g in ("sci.astro.amateur", "comp.lang.python", "rec.music.folk")
        )
        >= 4
    )

    proposals = get("/api/proposals")["proposals"]
    assert [(p["name"], p["status"], p["endorsements"]) for p in proposals] == [
        ("rec.crafts.woodworking", "open", 2)
    ]
    actions = [e["action"] for e in get("/api/modlog")["entries"]]
    for action in ("split", "move", "lock", "archive", "reference", "group.create", "hide"):
        assert action in actions

    # The demo moderator finds a few items waiting in the moderation queue.
    conn = sqlite3.connect(db)
    try:
        waiting = conn.execute(
            "SELECT g.name, q.kind, q.why FROM queue q JOIN groups g ON g.id = q.group_id"
            " WHERE q.state = 'waiting' ORDER BY q.id"
        ).fetchall()
        hidden = conn.execute("SELECT subject FROM articles WHERE status = 'hidden'").fetchall()
    finally:
        conn.close()
    assert waiting == [
        ("moot.announce", "held", "moderated"),
        ("moot.announce", "held", "moderated"),
        ("rec.music.folk", "held", "stranger"),
        ("comp.lang.python", "reported", "reports"),
        ("sci.astro.amateur", "reported", "reports"),
    ]
    assert hidden == [("Tabs or spaces, settled",)]
    assert get("/api/groups/moot.announce")["group"]["status"] == "m"
    # the stranger's mail waits in a group that holds such mail, as its queue page says
    assert get("/api/groups/rec.music.folk")["group"]["stranger_mail"] == "moderate"

    rows = shape(db)
    times = sorted(r[-1] for r in rows)
    assert times[0][:7] < times[-1][:7]  # months apart
    assert len(set(times)) > 0.9 * len(times)  # not all at one moment
    # replies come after what they answer
    conn = sqlite3.connect(db)
    try:
        assert (
            conn.execute(
                "SELECT count(*) FROM articles a JOIN articles p ON p.id = a.parent_id"
                " WHERE a.created_at < p.created_at"
            ).fetchone()[0]
            == 0
        )
        # Demo readers start with a few notifications worth opening, dated by what they tell of.
        unread = conn.execute(
            "SELECT u.username, count(n.id) FROM users u LEFT JOIN notifications n"
            " ON n.user_id = u.id AND n.read = 0 GROUP BY u.id"
        ).fetchall()
        undated = conn.execute(
            "SELECT count(*) FROM notifications n LEFT JOIN articles a ON a.id = n.article_id"
            " LEFT JOIN modlog m ON m.id = n.entry_id WHERE n.created_at != coalesce(a.created_at, m.created_at)"
        ).fetchone()[0]
        kinds = {r[0] for r in conn.execute("SELECT kind FROM notifications WHERE read = 0")}
        # the inbox lists a reader's notifications newest first by id: ids follow their dates
        inbox = conn.execute("SELECT user_id, created_at FROM notifications ORDER BY user_id, id").fetchall()
    finally:
        conn.close()
    assert all(count <= 3 for _, count in unread) and sum(c for _, c in unread) >= 3, unread
    assert undated == 0 and "follow" not in kinds
    assert inbox == sorted(inbox)
