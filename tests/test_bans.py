"""Bans from one group: a moderator of the group bars an author (an account,
a mail address, a mail domain, a peer's origin) from posting there for some
days with a public reason; the author is refused there by the API (403
`banned`) and by NNTP (441, through nntplib on a real socket) while posting
elsewhere as before; every refusal changes nothing; a ban ends by itself on
its date and at once when lifted. A ban or suspension with `remove_days`
removes the author's recent articles as one logged action, and one undo
restores them; a single removal undoes too, and a stale undo is refused."""

from __future__ import annotations

import asyncio
import io
import sqlite3

import pytest

from moot.articles import posting
from moot.articles.authors import Author
from moot.stewardship import bans, cleanup
from moot.store import clock
from moot.store.db import fetch_one
from tests.conftest import ANY_PORT, PASSWORD, seed
from tests.nntp_support import nntplib
from tests.processes import moot

GROUP, OTHER = "comp.lang.python", "comp.lang.misc"
REASON = "off-topic flood"


async def banned_site(make_site, **settings):
    """A site with two groups, ada's thread in GROUP, and marta moderating."""
    site = await make_site(**settings)
    s = await seed(site)
    r = await s["admin"].post("/api/groups", json={"name": OTHER, "description": "Other languages"})
    assert r.status_code == 201, r.text
    s["marta"] = await site.client("marta", "moderator")
    return site, s


async def ban_user(client, name: str = "ada", **body):
    return await client.post(
        f"/api/users/{name}/suspend", json={"group": GROUP, "days": 3, "reason": REASON, **body}
    )


def assert_banned(r, reason: str = REASON) -> None:
    """A 403 that names the ban: its code, the group, the reason and the end date."""
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "banned" and error["reason"] == reason and error["group"] == GROUP
    assert reason in error["message"] and error["until"][:10] in error["message"]


def nntp_post(port: int, group: str, subject: str) -> str:
    """POST as ada over NNTP with nntplib; the server's reply line."""
    with nntplib.NNTP("127.0.0.1", port, readermode=True, timeout=20, user="ada", password=PASSWORD) as n:
        text = f"Newsgroups: {group}\r\nSubject: {subject}\r\n\r\nSent by news.\r\n"
        return n.post(io.BytesIO(text.encode()))


def rows(site, sql: str, params: tuple = ()) -> list:
    conn = sqlite3.connect(site.config.db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def test_a_banned_member_is_refused_in_that_group_by_api_and_nntp_and_posts_elsewhere(make_site):
    site, s = await banned_site(make_site, nntp_port=ANY_PORT)
    ada, marta = s["ada"], s["marta"]
    r = await ban_user(marta)
    assert r.status_code == 200, r.text
    ban = r.json()["ban"]
    assert ban["group"] == GROUP and ban["author"] == "user:ada" and ban["reason"] == REASON
    entry = r.json()["entry"]
    assert (entry["action"], entry["group"], entry["target"], entry["reason"]) == (
        "ban",
        GROUP,
        "user:ada",
        REASON,
    )
    assert entry["actor"]["username"] == "marta"
    assert entry["data"] == {"author": "user:ada", "days": 3, "until": ban["until"]} and entry["undoable"]

    before = site.snapshot()
    assert_banned(await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "S", "body": "B"}))
    assert_banned(await ada.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "more"}))
    with pytest.raises(nntplib.NNTPTemporaryError) as refused:
        await asyncio.to_thread(nntp_post, site.config.nntp_port, GROUP, "By news")
    # RFC 3977 §6.3.1: the group is known only once the article is sent, so the
    # refusal is 441 then (a site-wide suspension is 440, at the POST command).
    assert str(refused.value).startswith("441 posting failed: you are banned from comp.lang.python")
    assert REASON in str(refused.value)
    assert site.snapshot() == before  # nothing a refused attempt could have written

    # Elsewhere ada posts as before, by both channels.
    r = await ada.post(f"/api/groups/{OTHER}/threads", json={"subject": "S", "body": "B"})
    assert r.status_code == 201, r.text
    assert (await asyncio.to_thread(nntp_post, site.config.nntp_port, OTHER, "By news")).startswith("240")

    # The group's moderators see the bans in force; nobody else does.
    listed = (await marta.get(f"/api/groups/{GROUP}/bans")).json()
    assert listed["group"] == GROUP and [(b["author"], b["reason"]) for b in listed["bans"]] == [
        ("user:ada", REASON)
    ]
    assert (await ada.get(f"/api/groups/{GROUP}/bans")).status_code == 403
    assert (await (await site.client()).get(f"/api/groups/{GROUP}/bans")).status_code == 401

    # A new ban replaces the one in force; lifting it ends it at once, logged.
    r = await ban_user(marta, days=1, reason="second warning")
    assert r.status_code == 200 and r.json()["ban"]["until"] < ban["until"], r.text
    assert len((await marta.get(f"/api/groups/{GROUP}/bans")).json()["bans"]) == 1
    r = await marta.post("/api/users/ada/unsuspend", json={"group": GROUP, "reason": "promised"})
    assert r.status_code == 200, r.text
    assert r.json()["ban"] == {"group": GROUP, "author": "user:ada", "until": None, "reason": None}
    assert r.json()["entry"]["action"] == "unban" and r.json()["entry"]["reason"] == "promised"
    r = await ada.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "back"})
    assert r.status_code == 201, r.text
    assert (await asyncio.to_thread(nntp_post, site.config.nntp_port, GROUP, "Back")).startswith("240")
    assert (await marta.get(f"/api/groups/{GROUP}/bans")).json()["bans"] == []


async def test_bans_of_addresses_domains_and_peers_are_stored_and_found(make_site):
    site, s = await banned_site(make_site)
    marta = s["marta"]
    for author, days in (("mail:Spam@Example.ORG", 2), ("domain:spam.example", 5), ("peer:Bad.Node", 9)):
        r = await marta.post(
            f"/api/groups/{GROUP}/bans", json={"author": author, "days": days, "reason": "junk"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["ban"]["author"] == author.split(":")[0] + ":" + author.split(":")[1].lower()
    stored = rows(site, "SELECT author FROM bans ORDER BY author")
    assert stored == [("domain:spam.example",), ("mail:spam@example.org",), ("peer:bad.node",)]

    group_id = rows(site, "SELECT id FROM groups WHERE name = ?", (GROUP,))[0][0]
    other_id = rows(site, "SELECT id FROM groups WHERE name = ?", (OTHER,))[0][0]
    async with site.db.read() as conn:
        found = await bans.ban_of(conn, group_id, Author("Spammer", address="SPAM@example.org"))
        assert found["author"] == "mail:spam@example.org"  # the most specific, and it ends later
        found = await bans.ban_of(conn, group_id, Author("Other", address="x@spam.example"))
        assert found["author"] == "domain:spam.example" and found["reason"] == "junk"
        found = await bans.ban_of(conn, group_id, Author("Far", address="a@ok.example", peer="bad.node"))
        assert found["author"] == "peer:bad.node"
        assert await bans.ban_of(conn, group_id, Author("Fine", address="a@ok.example", peer="good")) is None
        assert await bans.ban_of(conn, other_id, Author("Spammer", address="spam@example.org")) is None

    r = await marta.post(f"/api/groups/{GROUP}/bans/unban", json={"author": "MAIL:spam@example.org"})
    assert r.status_code == 400, r.text  # the kind is written in lower case, as listed
    r = await marta.post(f"/api/groups/{GROUP}/bans/unban", json={"author": "mail:SPAM@example.org"})
    assert r.status_code == 200 and r.json()["entry"]["action"] == "unban", r.text
    assert [b["author"] for b in (await marta.get(f"/api/groups/{GROUP}/bans")).json()["bans"]] == [
        "peer:bad.node",
        "domain:spam.example",
    ]


async def test_what_a_ban_request_sends_is_checked_and_a_refusal_changes_nothing(make_site):
    site, s = await banned_site(make_site)
    marta, ada = s["marta"], s["ada"]
    await site.client("mona", "moderator")
    anonymous = await site.client()
    before = site.snapshot()

    def ban(client, author="ada", **body):
        return client.post(
            f"/api/groups/{GROUP}/bans", json={"author": author, "days": 3, "reason": "r", **body}
        )

    assert (await ban(anonymous)).status_code == 401
    r = await ban(ada, "bob")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    assert (await ban_user(ada, "root")).status_code == 403
    for author in (None, "", 7, "mail:nobody", "mail:a b@example.org", "domain:-bad-", "peer:a/b", "fax:123"):
        r = await ban(marta, author)
        assert r.status_code == 400 and "author" in r.json()["error"]["message"], (author, r.text)
    for days in (0, 3651, 1.5, "three", None, True):
        r = await ban(marta, days=days)
        assert r.status_code == 400 and "days" in r.json()["error"]["message"], (days, r.text)
    for remove_days in (0, 3651, "all", True):
        r = await ban(marta, remove_days=remove_days)
        assert r.status_code == 400 and "remove_days" in r.json()["error"]["message"], (remove_days, r.text)
    r = await ban(marta, reason=None)
    assert r.status_code == 400 and "reason" in r.json()["error"]["message"], r.text
    assert (await ban(marta, "nobody")).status_code == 404
    assert (await ban(marta, "user:nobody")).status_code == 404
    r = await marta.post("/api/groups/no.such.group/bans", json={"author": "ada", "days": 3, "reason": "r"})
    assert r.status_code == 404, r.text
    for name in ("mona", "root", "marta"):  # moderators and admins of the group: demote first
        r = await ban(marta, name)
        assert r.status_code == 403 and "change their role" in r.json()["error"]["message"], (name, r.text)
    r = await marta.post(f"/api/groups/{GROUP}/bans/unban", json={"author": "ada"})
    assert r.status_code == 409 and "not banned" in r.json()["error"]["message"], r.text
    assert site.snapshot() == before


async def test_a_ban_ends_by_itself_when_its_date_passes(make_site):
    site, s = await banned_site(make_site)
    assert (await ban_user(s["marta"], days=1)).status_code == 200
    reply = f"/api/articles/{s['root']['id']}/replies"
    assert_banned(await s["ada"].post(reply, json={"body": "x"}))
    async with site.db.transaction() as conn:  # a day goes by
        await conn.execute("UPDATE bans SET until = ?", (clock.ago(seconds=1),))
    r = await s["ada"].post(reply, json={"body": "x"})
    assert r.status_code == 201, r.text
    assert (await s["marta"].get(f"/api/groups/{GROUP}/bans")).json()["bans"] == []
    r = await s["marta"].post("/api/users/ada/unsuspend", json={"group": GROUP})
    assert r.status_code == 409  # nothing left to lift


async def test_a_ban_with_removal_takes_the_authors_recent_articles_there_and_one_undo_brings_them_back(
    make_site,
):
    site, s = await banned_site(make_site)
    ada, marta, bob = s["ada"], s["marta"], await site.client("bob")
    r = await ada.post(f"/api/groups/{OTHER}/threads", json={"subject": "Elsewhere", "body": "kept"})
    elsewhere = r.json()["article"]
    r = await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "bob stays"})
    bobs = r.json()["article"]
    r = await bob.post(f"/api/articles/{s['reply']['id']}/report", json={"reason": "spam"})
    assert r.status_code in (200, 201), r.text
    old = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "Old", "body": "from last year"})
    old_id = old.json()["article"]["id"]
    async with site.db.transaction() as conn:
        await conn.execute("UPDATE articles SET created_at = ? WHERE id = ?", (clock.ago(days=400), old_id))

    r = await ban_user(marta, remove_days=30)
    assert r.status_code == 200, r.text
    assert r.json()["removed"] == 2 and r.json()["entry"]["data"]["removed"] == 2
    entry = r.json()["entry"]
    assert entry["data"]["remove_days"] == 30
    statuses = dict(rows(site, "SELECT id, status FROM articles"))
    assert statuses[s["root"]["id"]] == statuses[s["reply"]["id"]] == "cancelled"
    assert statuses[elsewhere["id"]] == statuses[bobs["id"]] == statuses[old_id] == "ok"
    root = (await bob.get(f"/api/articles/{s['root']['id']}")).json()["article"]
    assert "First post" not in root["body"] and root["status"] == "cancelled"
    # The reported article's waiting item is settled by the ban's entry.
    assert rows(site, "SELECT state, entry_id FROM queue WHERE article_id = ?", (s["reply"]["id"],)) == [
        ("rejected", entry["id"])
    ]
    hits = (await bob.get("/api/search", params={"q": "First"})).json()
    assert hits["results"] == []

    r = await marta.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "wrong person"})
    assert r.status_code == 200, r.text
    undo = r.json()["entry"]
    assert undo["action"] == "undo" and undo["undoes"] == entry["id"]
    assert undo["data"] == {"action": "ban", "count": 2, "lifted": True}
    root = (await bob.get(f"/api/articles/{s['root']['id']}")).json()["article"]
    assert root["status"] == "ok" and root["body"] == "First post"
    hits = (await bob.get("/api/search", params={"q": "First"})).json()["results"]
    assert [h["article"]["id"] for h in hits] == [s["root"]["id"]]
    assert (await marta.get(f"/api/groups/{GROUP}/bans")).json()["bans"] == []
    r = await ada.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "thanks"})
    assert r.status_code == 201, r.text
    assert (await marta.get(f"/api/modlog/{entry['id']}")).json()["entry"]["undone_by"] == undo["id"]
    before = site.snapshot()
    r = await marta.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "again"})
    assert r.status_code == 409 and "already undone" in r.json()["error"]["message"], r.text
    assert site.snapshot() == before


async def test_too_many_articles_to_remove_is_refused_whole(make_site):
    site, s = await banned_site(make_site)
    ada = site.users["ada"]
    async with site.db.transaction() as conn:  # with the seed's two, one more than one action removes
        parent = await fetch_one(conn, posting.PLACE_SELECT + " WHERE a.id = ?", (s["root"]["id"],))
        for n in range(cleanup.MAX_REMOVED - 1):
            new = posting.NewArticle("Re: Hello", f"spam {n}", Author.of(ada), f"<spam{n}@test>", clock.now())
            await posting.insert_article(
                conn, new, group_id=parent["group_id"], thread_id=parent["thread_id"], parent=parent
            )
    before = site.snapshot()
    r = await ban_user(s["marta"], remove_days=1)
    assert r.status_code == 409 and "shorter period" in r.json()["error"]["message"], r.text
    r = await s["admin"].post("/api/users/ada/suspend", json={"days": 1, "reason": "r", "remove_days": 1})
    assert r.status_code == 409 and "shorter period" in r.json()["error"]["message"], r.text
    assert site.snapshot() == before


async def test_a_single_removal_undoes_and_a_stale_undo_changes_nothing(make_site):
    site, s = await banned_site(make_site)
    marta, bob = s["marta"], await site.client("bob")
    r = await marta.post(f"/api/articles/{s['reply']['id']}/cancel", json={"reason": "rude"})
    assert r.status_code == 200 and r.json()["article"]["status"] == "cancelled", r.text
    entry = (await bob.get("/api/modlog")).json()["entries"][0]
    assert entry["action"] == "cancel" and entry["undoable"]
    assert (await bob.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "r"})).status_code == 403
    r = await marta.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "it was fine"})
    assert r.status_code == 200, r.text
    assert r.json()["entry"]["data"] == {"action": "cancel", "count": 1, "lifted": False}
    reply = (await bob.get(f"/api/articles/{s['reply']['id']}")).json()["article"]
    assert reply["status"] == "ok" and reply["body"] == "A reply"

    # A removal whose kept text is gone (one made before texts were kept) cannot be undone.
    r = await marta.post(f"/api/articles/{s['reply']['id']}/cancel", json={"reason": "rude after all"})
    entry = (await bob.get("/api/modlog")).json()["entries"][0]
    async with site.db.transaction() as conn:
        await conn.execute("DELETE FROM removed_texts")
    before = site.snapshot()
    r = await marta.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "r"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "stale", r.text
    assert site.snapshot() == before

    # A ban lifted since, that removed nothing, has nothing left to undo.
    r = await ban_user(marta)
    ban_entry = r.json()["entry"]["id"]
    assert (await marta.post("/api/users/ada/unsuspend", json={"group": GROUP})).status_code == 200
    before = site.snapshot()
    r = await marta.post(f"/api/modlog/{ban_entry}/undo", json={"reason": "r"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "stale", r.text
    assert site.snapshot() == before

    # A suspension's undo is an admin's.
    r = await s["admin"].post("/api/users/ada/suspend", json={"days": 1, "reason": "r"})
    suspension = r.json()["entry"]["id"]
    r = await marta.post(f"/api/modlog/{suspension}/undo", json={"reason": "r"})
    assert r.status_code == 403, r.text
    r = await s["admin"].post(f"/api/modlog/{suspension}/undo", json={"reason": "r"})
    assert r.status_code == 200 and r.json()["entry"]["data"]["lifted"] is True, r.text
    assert (await s["admin"].get("/api/users/ada")).json()["user"]["suspended_until"] is None


def test_moot_ban_and_unban(tmp_path):
    db = str(tmp_path / "site.db")
    moot("init", "--db", db)
    moot("adduser", "ada", "--password-stdin", "--db", db, input="correct horse battery\n")
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO groups (name, created_at) VALUES ('misc.test', ?)", (clock.now(),))
    conn.commit()
    conn.close()

    refused = moot(
        "ban", "ada", "--group", "misc.test", "--days", "0", "--reason", "x", "--db", db, check=False
    )
    assert refused.returncode == 2 and "days must be" in refused.stderr
    refused = moot(
        "ban", "fax:1", "--group", "misc.test", "--days", "1", "--reason", "x", "--db", db, check=False
    )
    assert refused.returncode == 2 and "not a username" in refused.stderr
    done = moot(
        "ban",
        "ada",
        "--group",
        "misc.test",
        "--days",
        "3",
        "--reason",
        "spam",
        "--remove-days",
        "2",
        "--db",
        db,
    )
    assert done.stdout.startswith("user:ada is banned from misc.test until ")
    assert "0 articles of the last 2 days removed" in done.stdout
    done = moot(
        "ban", "domain:spam.example", "--group", "misc.test", "--days", "3", "--reason", "spam", "--db", db
    )
    assert done.stdout.startswith("domain:spam.example is banned from misc.test until ")
    assert (
        moot("unban", "ada", "--group", "misc.test", "--db", db).stdout
        == "user:ada is no longer banned from misc.test\n"
    )
    refused = moot("unban", "ada", "--group", "misc.test", "--db", db, check=False)
    assert refused.returncode == 2 and "not banned" in refused.stderr
    conn = sqlite3.connect(db)
    try:
        log = conn.execute("SELECT action, actor_id, target FROM modlog ORDER BY id").fetchall()
        left = conn.execute("SELECT author FROM bans").fetchall()
    finally:
        conn.close()
    assert log == [
        ("ban", None, "user:ada"),
        ("ban", None, "domain:spam.example"),
        ("unban", None, "user:ada"),
    ]
    assert left == [("domain:spam.example",)]
