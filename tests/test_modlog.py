"""The public moderation log: everything maintenance does, newest first,
keyset-paginated, filtered by group (both sides of a move or split)."""

from tests.maint_support import build_tree


async def test_log_lists_every_kind_of_entry_and_paginates(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    admin = await site.client("root", "admin")
    tid = t["thread"]["id"]
    await mod.post(f"/api/articles/{t['a4']['id']}/cancel", json={"reason": "spam"})
    r = await mod.post(f"/api/threads/{tid}/split", json={"article_id": t["a2"]["id"], "reason": "x"})
    split_entry = r.json()["entry"]
    await mod.post(f"/api/modlog/{split_entry['id']}/undo", json={"reason": "oops"})
    await mod.post(f"/api/threads/{tid}/lock", json={"reason": "heated"})
    await mod.post(
        f"/api/threads/{t['other']['id']}/move", json={"group": "comp.lang.misc", "reason": "topic"}
    )
    await admin.post("/api/users/ada/role", json={"role": "moderator"})

    anon = await site.client()
    everything = (await anon.get("/api/modlog")).json()
    actions = [e["action"] for e in everything["entries"]]
    assert actions == [
        "role",
        "move",
        "lock",
        "undo",
        "split",
        "cancel",
        "group.create",
        "group.create",
        "group.create",
    ]
    assert everything["next_cursor"] is None
    split = everything["entries"][4]
    assert split["undone_by"] == everything["entries"][3]["id"] and split["undoable"] is False

    seen, cursor = [], None
    while True:
        page = (
            await anon.get("/api/modlog", params={"limit": 4, **({"cursor": cursor} if cursor else {})})
        ).json()
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in everything["entries"]]

    misc = (await anon.get("/api/modlog", params={"group": "comp.lang.misc"})).json()["entries"]
    assert [e["action"] for e in misc] == ["move", "group.create"]
    python = (await anon.get("/api/modlog", params={"group": "comp.lang.python"})).json()["entries"]
    assert [e["action"] for e in python] == ["move", "lock", "undo", "split", "cancel", "group.create"]

    assert (await anon.get("/api/modlog", params={"group": "no.such"})).status_code == 404
    assert (await anon.get("/api/modlog", params={"cursor": "abc"})).status_code == 400
    assert (await anon.get("/api/modlog", params={"limit": "0"})).status_code == 400
    assert (await anon.get("/api/modlog/99999")).status_code == 404
