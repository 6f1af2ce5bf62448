"""Split, merge, move, lock, archive, references and policy over HTTP: each
action's result, its moderation-log entry and its outbox event."""

from email import message_from_bytes

from moot.mail import mailformat, mailqueue
from tests.maint_support import build_tree, last_event, tree_of


async def test_split_moves_subtree_leaves_notice_and_logs(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    anon = await site.client()
    tid = t["thread"]["id"]
    r = await mod.post(f"/api/threads/{tid}/split", json={"article_id": t["a2"]["id"], "reason": "new topic"})
    assert r.status_code == 201, r.text
    new = r.json()["thread"]
    assert new["subject"] == "New topic" and new["article_count"] == 2
    assert new["root_article_id"] == t["a2"]["id"]
    assert new["split_from"] == {"thread_id": tid, "article_id": t["a2"]["id"]}
    assert r.json()["source"]["article_count"] == 4  # 5 - 2 moved + the notice

    notice = r.json()["notice"]
    assert notice["status"] == "notice" and notice["author"]["username"] == "marta"
    assert notice["notice"] == {"action": "split", "thread_id": new["id"], "count": 2}
    # The notice sits exactly where a2 was: under a1, before a4.
    assert await tree_of(anon, tid) == [
        (t["root"]["id"], None, 0, "ok"),
        (t["a1"]["id"], t["root"]["id"], 1, "ok"),
        (notice["id"], t["a1"]["id"], 2, "notice"),
        (t["a4"]["id"], t["root"]["id"], 1, "ok"),
    ]
    assert await tree_of(anon, new["id"]) == [
        (t["a2"]["id"], None, 0, "ok"),
        (t["a3"]["id"], t["a2"]["id"], 1, "ok"),
    ]
    # Old Message-IDs still reach the moved articles, numbers unchanged in the same group.
    r = await anon.get(f"/api/articles/{t['a3']['message_id']}")
    moved = r.json()["article"]
    assert moved["thread_id"] == new["id"] and moved["number"] == t["a3"]["number"]
    assert moved["references"] == t["a3"]["references"]

    r = await anon.get("/api/groups/comp.lang.python")
    assert r.json()["group"]["thread_count"] == 3 and r.json()["group"]["article_count"] == 8

    entry = (await anon.get("/api/modlog")).json()["entries"][0]
    assert entry["action"] == "split" and entry["actor"]["username"] == "marta"
    assert entry["reason"] == "new topic" and entry["thread_id"] == tid
    assert entry["other_thread_id"] == new["id"] and entry["article_id"] == t["a2"]["id"]
    assert entry["target"] == t["a2"]["message_id"] and entry["undoable"] is True

    event = last_event(site, "thread.split")
    assert event["thread_id"] == new["id"]
    assert event["topics"] == {"g:comp.lang.python", f"t:{tid}", f"t:{new['id']}"}
    data = event["data"]
    assert data["article_ids"] == [t["a2"]["id"], t["a3"]["id"]]
    assert data["thread"]["id"] == new["id"] and data["source"]["id"] == tid
    assert data["notice"]["id"] == notice["id"] and data["depth_shift"] == -2
    assert data["numbers"] is None and data["entry_id"] == entry["id"]


async def test_split_into_other_group_renumbers_and_copies_follows(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    r = await mod.post(
        f"/api/threads/{t['thread']['id']}/split",
        json={
            "article_id": t["a1"]["id"],
            "group": "comp.lang.misc",
            "subject": "Elsewhere",
            "reason": "off topic here",
        },
    )
    assert r.status_code == 201, r.text
    new = r.json()["thread"]
    assert new["group"] == "comp.lang.misc" and new["subject"] == "Elsewhere"
    anon = await site.client()
    a3 = (await anon.get(f"/api/articles/{t['a3']['id']}")).json()["article"]
    assert a3["group"] == "comp.lang.misc" and a3["number"] in (1, 2, 3)
    misc = (await anon.get("/api/groups/comp.lang.misc")).json()["group"]
    py = (await anon.get("/api/groups/comp.lang.python")).json()["group"]
    assert (misc["thread_count"], misc["article_count"]) == (1, 3)
    assert (py["thread_count"], py["article_count"]) == (2, 7 - 3 + 1)
    event = last_event(site, "thread.split")
    assert "g:comp.lang.misc" in event["topics"] and "g:comp.lang.python" in event["topics"]
    assert sorted(event["data"]["numbers"]) == [1, 2, 3]
    assert {g["name"] for g in event["data"]["groups"]} == {"comp.lang.misc", "comp.lang.python"}
    # Everyone who posted in the thread follows it: they follow the new one too.
    import sqlite3

    conn = sqlite3.connect(site.config.db_path)
    follows = conn.execute(
        "SELECT user_id FROM follows WHERE thread_id = ? ORDER BY 1", (new["id"],)
    ).fetchall()
    source = conn.execute(
        "SELECT user_id FROM follows WHERE thread_id = ? ORDER BY 1", (t["thread"]["id"],)
    ).fetchall()
    conn.close()
    assert follows == source and (site.users["ada"].id,) in follows


async def test_split_off_replies_mail_and_export_their_new_tree_path(site):
    """A reply posted in a split-off thread, though its stored chain goes back
    to the old root, goes out as list mail and in the thread's mbox with
    References from the new root and In-Reply-To its parent; the API keeps
    the stored chain."""
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    r = await mod.post(
        f"/api/threads/{t['thread']['id']}/split", json={"article_id": t["a2"]["id"], "reason": "new topic"}
    )
    assert r.status_code == 201, r.text
    r = await t["bob"].post(f"/api/articles/{t['a3']['id']}/replies", json={"body": "five"})
    assert r.status_code == 201, r.text
    five = r.json()["article"]
    assert five["references"][0] == t["root"]["message_id"]  # the chain it was posted with
    path = [t["a2"]["message_id"], t["a3"]["message_id"]]
    async with site.db.read() as conn:
        row, description = await mailqueue.article_for_mail(conn, five["id"])
    head, _ = mailformat.article_parts(row, description, site.config)
    mail = message_from_bytes(head + b"\r\n")
    assert mail["References"].split() == path and mail["In-Reply-To"] == path[-1]
    r = await (await site.client()).get(f"/api/threads/{r.json()['article']['thread_id']}/mbox")
    exported = [message_from_bytes(m.split(b"\n", 1)[1]) for m in r.content.split(b"\n\nFrom ")]
    refs = {m["Message-ID"]: (m["References"] or "").split() for m in exported}
    assert refs == {path[0]: [], path[1]: path[:1], five["message_id"]: path}


async def test_undo_split_restores_exactly(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    anon = await site.client()
    tid = t["thread"]["id"]
    before = await tree_of(anon, tid)
    group_before = (await anon.get("/api/groups/comp.lang.python")).json()["group"]
    r = await mod.post(
        f"/api/threads/{tid}/split",
        json={"article_id": t["a2"]["id"], "group": "comp.lang.misc", "reason": "x"},
    )
    new, entry = r.json()["thread"], r.json()["entry"]
    r = await mod.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "mistake"})
    assert r.status_code == 200, r.text
    undo = r.json()["entry"]
    assert undo["action"] == "undo" and undo["undoes"] == entry["id"] and undo["reason"] == "mistake"
    assert await tree_of(anon, tid) == before
    group_after = (await anon.get("/api/groups/comp.lang.python")).json()["group"]
    for key in ("thread_count", "article_count", "last_article_at"):
        assert group_after[key] == group_before[key]
    gone = (await anon.get(f"/api/threads/{new['id']}")).json()
    assert gone["thread"]["merged_into"] == tid and gone["articles"] == []
    assert (await anon.get(f"/api/modlog/{entry['id']}")).json()["entry"]["undone_by"] == undo["id"]
    event = last_event(site)
    assert event["type"] == "thread.merged" and event["data"]["undo_of"] == entry["id"]
    assert event["data"]["removed_article_ids"] == [r_id for r_id in [entry["data"]["notice_id"]]]
    assert event["data"]["parent_id"] == t["a1"]["id"] and event["data"]["depth_shift"] == 2
    r = await mod.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "again"})
    assert r.status_code == 409


async def test_merge_and_undo(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    anon = await site.client()
    tid, oid = t["thread"]["id"], t["other"]["id"]
    before = await tree_of(anon, oid)
    r = await mod.post(
        f"/api/threads/{oid}/merge", json={"into_article_id": t["a4"]["id"], "reason": "same topic"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["thread"]["id"] == tid and r.json()["thread"]["article_count"] == 5 + 2 + 1
    notice = r.json()["notice"]
    assert notice["notice"] == {"action": "merge", "thread_id": oid, "count": 2}
    rows = await tree_of(anon, tid)
    assert rows[-3:] == [
        (t["other_root"]["id"], t["a4"]["id"], 2, "ok"),
        (t["other_reply"]["id"], t["other_root"]["id"], 3, "ok"),
        (notice["id"], t["a4"]["id"], 2, "notice"),
    ]
    merged = (await anon.get(f"/api/threads/{oid}")).json()["thread"]
    assert merged["merged_into"] == tid
    listed = (await anon.get("/api/groups/comp.lang.python/threads")).json()["threads"]
    assert [th["id"] for th in listed] == [tid]
    entry = (await anon.get("/api/modlog")).json()["entries"][0]
    assert entry["action"] == "merge" and entry["thread_id"] == oid and entry["other_thread_id"] == tid
    event = last_event(site, "thread.merged")
    assert event["thread_id"] == tid and f"t:{oid}" in event["topics"]
    assert event["data"]["parent_id"] == t["a4"]["id"] and event["data"]["depth_shift"] == 2
    assert event["data"]["article_ids"] == [t["other_root"]["id"], t["other_reply"]["id"]]

    r = await mod.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "not the same"})
    assert r.status_code == 200, r.text
    assert await tree_of(anon, oid) == before
    assert (await anon.get(f"/api/threads/{oid}")).json()["thread"].get("merged_into") is None
    event = last_event(site)
    assert event["type"] == "thread.split" and event["data"]["undo_of"] == entry["id"]
    assert (await anon.get("/api/groups/comp.lang.python")).json()["group"]["thread_count"] == 2


async def test_move_renumbers_and_routes_event_to_both_groups(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    anon = await site.client()
    r = await mod.post(
        f"/api/threads/{t['other']['id']}/move", json={"group": "comp.lang.misc", "reason": "wrong group"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["thread"]["group"] == "comp.lang.misc"
    reply = (await anon.get(f"/api/articles/{t['other_reply']['id']}")).json()["article"]
    assert reply["group"] == "comp.lang.misc" and reply["number"] == 2
    py = (await anon.get("/api/groups/comp.lang.python")).json()["group"]
    assert (py["thread_count"], py["article_count"]) == (1, 5)
    entry = r.json()["entry"]
    assert entry["action"] == "move" and entry["group"] == "comp.lang.python"
    assert entry["other_group"] == "comp.lang.misc"
    misc_log = (await anon.get("/api/modlog", params={"group": "comp.lang.misc"})).json()["entries"]
    assert [(e["id"], e["action"]) for e in misc_log] == [(entry["id"], "move"), (2, "group.create")]
    event = last_event(site, "thread.moved")
    assert event["topics"] >= {"g:comp.lang.misc", "g:comp.lang.python"}
    assert event["data"]["from_group"] == "comp.lang.python" and event["data"]["numbers"] == [1, 2]
    # A later post in the old group does not reuse the moved numbers.
    r = await t["ada"].post(f"/api/articles/{t['root']['id']}/replies", json={"body": "more"})
    assert r.json()["article"]["number"] == 8


async def test_lock_archive_and_their_replies(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    tid = t["thread"]["id"]
    for action, state, event_type in [
        ("lock", "locked", "thread.locked"),
        ("unlock", "open", "thread.unlocked"),
        ("archive", "archived", "thread.archived"),
    ]:
        r = await mod.post(f"/api/threads/{tid}/{action}", json={"reason": f"{action} it"})
        assert r.status_code == 200, r.text
        assert r.json()["thread"]["state"] == state
        assert r.json()["entry"]["action"] == action and r.json()["entry"]["reason"] == f"{action} it"
        event = last_event(site)
        assert event["type"] == event_type and event["data"]["thread"]["state"] == state
    assert (await mod.post(f"/api/threads/{tid}/archive", json={})).json()["entry"] is None  # no-op
    r = await t["bob"].post(f"/api/articles/{t['a3']['id']}/replies", json={"body": "late"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "archived"
    follow_up = r.json()["error"]["follow_up"]
    r = await t["bob"].post(
        f"/api/groups/{follow_up['group']}/threads",
        json={"subject": "Hello, continued", "body": "go on", "continued_from": follow_up["continued_from"]},
    )
    assert r.json()["thread"]["continued_from"] == tid
    r = await mod.post(f"/api/threads/{tid}/lock", json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "archived"
    r = await mod.post(f"/api/threads/{tid}/unarchive", json={})
    assert r.json()["thread"]["state"] == "open" and r.json()["thread"]["archived_at"] is None
    assert last_event(site)["type"] == "thread.unarchived"
    await mod.post(f"/api/threads/{tid}/lock", json={})
    r = await t["bob"].post(f"/api/articles/{t['a3']['id']}/replies", json={"body": "late"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "locked"


async def test_reference_and_policy(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    r = await mod.post(f"/api/threads/{t['thread']['id']}/reference", json={"on": True})
    assert r.status_code == 200 and r.json()["thread"]["is_reference"] is True
    assert r.json()["entry"]["action"] == "reference"
    assert last_event(site)["type"] == "thread.updated"
    r = await mod.post(f"/api/threads/{t['thread']['id']}/reference", json={"on": "yes"})
    assert r.status_code == 400
    r = await mod.put(
        "/api/groups/comp.lang.python/policy",
        json={"archive_after_days": 30, "archive_after_articles": 0, "reason": "busy"},
    )
    assert r.status_code == 200, r.text
    group = r.json()["group"]
    assert (group["archive_after_days"], group["archive_after_articles"]) == (30, 0)
    entry = r.json()["entry"]
    assert entry["action"] == "policy" and entry["data"]["previous"]["archive_after_days"] is None
    event = last_event(site)
    assert event["type"] == "group.updated" and event["data"]["group"]["archive_after_days"] == 30
    r = await mod.put("/api/groups/comp.lang.python/policy", json={"archive_after_days": -1})
    assert r.status_code == 400


async def test_split_suggestions(site):
    t = await build_tree(site)
    anon = await site.client()
    r = await anon.get(f"/api/threads/{t['thread']['id']}/split-suggestions")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 5
    by_id = {s["article_id"]: s for s in body["suggestions"]}
    assert by_id[t["a2"]["id"]]["reasons"][0] == "subject_changed"
    assert by_id[t["a2"]["id"]]["size"] == 2 and by_id[t["a2"]["id"]]["was"] == "Hello"
    assert by_id[t["a1"]["id"]]["size"] == 3 and by_id[t["a1"]["id"]]["reasons"] == ["large_subtree"]
    # the real drift first, then the branch that is merely long; each row says who wrote it, when and what
    assert [s["article_id"] for s in body["suggestions"]] == [t["a2"]["id"], t["a1"]["id"]]
    assert {s["branch"] for s in body["suggestions"]} == {t["a1"]["id"]}
    first = body["suggestions"][0]
    assert (
        first["drift"] > 1 and first["excerpt"] == "two" and first["author"] == "Ada" and first["created_at"]
    )


async def test_roles_endpoint_and_last_admin(site):
    await site.user("ada")
    admin = await site.client("root", "admin")
    r = await admin.post("/api/users/ada/role", json={"role": "moderator", "reason": "helps"})
    assert r.status_code == 200 and r.json()["user"]["role"] == "moderator"
    entry = (await admin.get("/api/modlog")).json()["entries"][0]
    assert entry["action"] == "role" and entry["data"] == {
        "username": "ada",
        "from": "member",
        "to": "moderator",
    }
    assert entry["actor"]["username"] == "root"
    # the last admin stepping down, an unknown user, an unknown role
    for username, role, status in [("root", "member", 409), ("nobody", "member", 404), ("ada", "king", 400)]:
        r = await admin.post(f"/api/users/{username}/role", json={"role": role})
        assert r.status_code == status, (username, role, r.text)


async def test_article_ids_are_never_reused_after_an_undo(site):
    """An undone split deletes its notice; the next article still gets a fresh id."""
    from tests.conftest import seed

    s = await seed(site)
    mod = await site.client("keeper", "moderator")
    r = await mod.post(
        f"/api/threads/{s['thread']['id']}/split",
        json={"article_id": s["reply"]["id"], "reason": "own topic"},
    )
    assert r.status_code == 201, r.text
    async with site.db.read() as conn:
        notice_id, entry = await (
            await conn.execute(
                "SELECT (SELECT max(id) FROM articles WHERE status = 'notice'), (SELECT max(id) FROM modlog)"
            )
        ).fetchone()
    r = await mod.post(f"/api/modlog/{entry}/undo", json={"reason": "changed my mind"})
    assert r.status_code == 200, r.text
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "later"})
    assert r.json()["article"]["id"] > notice_id
