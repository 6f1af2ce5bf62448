"""One home node per group (docs/PEERING.md): the refusals on a node that is
not the home, and how received x-moot-action articles that cannot be applied
as they are (a bad body, a stranger's, a lost article) change nothing or,
after the orphan wait, let the group's sequence move on. The real app on a real
database; received articles go through the real transit parser and delivery."""

from __future__ import annotations

from email.utils import format_datetime

from moot.articles import groups, mbox
from moot.news import intake, newsreading, peers
from moot.nntp import parse
from moot.stewardship import actions
from moot.store import clock
from moot.store.db import fetch_all, fetch_one

HOME = "h.test"
GROUP, OTHER = "comp.lang.python", "rec.music.folk"


async def _thread(site, mod) -> tuple[dict, dict]:
    r = await mod.post(f"/api/groups/{GROUP}/threads", json={"subject": "Root", "body": "root"})
    root = r.json()["article"]
    r = await mod.post(f"/api/articles/{root['id']}/replies", json={"body": "a reply"})
    assert r.status_code == 201, r.text
    return root, r.json()["article"]


async def test_an_action_touching_a_group_homed_elsewhere_is_refused_whole(make_site):
    site = await make_site()
    mod = await site.client("marta", "moderator")
    member = await site.client("ada")
    async with site.db.transaction() as conn:
        for name in (GROUP, OTHER):
            await groups.create_group(conn, None, name)
        await actions.set_home(conn, None, OTHER, HOME, "h keeps the music")
    root, reply = await _thread(site, mod)
    r = await mod.post(f"/api/groups/{OTHER}/threads", json={"subject": "Music", "body": "tunes"})
    music = r.json()["article"]
    before = site.snapshot()
    thread = root["thread_id"]
    refused = [
        (f"/api/threads/{thread}/split", {"article_id": reply["id"], "group": OTHER, "reason": "x"}),
        (f"/api/threads/{thread}/move", {"group": OTHER, "reason": "x"}),
        (f"/api/threads/{thread}/merge", {"into_article_id": music["id"], "reason": "x"}),
        (f"/api/threads/{music['thread_id']}/move", {"group": GROUP, "reason": "x"}),
    ]
    for path, body in refused:
        r = await mod.post(path, json=body)
        assert r.status_code == 409, (path, r.text)
        error = r.json()["error"]
        assert (error["code"], error["group"], error["home"]) == ("not_home", OTHER, HOME)
        assert HOME in error["message"]
        assert (await member.post(path, json=body)).status_code == 403  # the role is checked first
    assert site.snapshot() == before
    # Within the group homed here the same split is made, and queued for no one (no peers).
    r = await mod.post(f"/api/threads/{thread}/split", json={"article_id": reply["id"], "reason": "x"})
    assert r.status_code == 201, r.text
    await site.close()


def _action(mid: str, kind: str, sequence: int | None, body: str, origin: str = HOME) -> peers.Incoming:
    head = [
        f"Path: {origin}!not-for-mail",
        "From: moderators <moderators@h.test>",
        f"Newsgroups: {GROUP}",
        f"Subject: cmsg x-moot-action {kind}",
        f"Control: x-moot-action {kind}",
        f"Message-ID: {mid}",
        f"Date: {format_datetime(clock.parse(clock.now()))}",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if sequence is not None:
        head.append(f"X-Moot-Sequence: {sequence}")
    return parse.transit_article(("\r\n".join(head) + "\r\n\r\n" + body).encode(), mid)


async def test_received_actions_that_cannot_apply_change_nothing_or_fail_in_turn(make_site):
    site = await make_site()
    mod = await site.client("marta", "moderator")
    async with site.db.transaction() as conn:
        await groups.create_group(conn, None, GROUP)
        await actions.set_home(conn, None, GROUP, HOME)
    root, reply = await _thread(site, mod)
    split = f"Article: {reply['message_id']}\nSubject: Off\nGroup: {GROUP}\nBy: Marta\nReason: own topic"
    lost = "<never.1@h.test>"
    offers = [
        _action("<bad.1@h.test>", "split", 1, "Article: <x@h.test>\nReason: no subject"),
        _action("<bad.2@h.test>", "split", 1, split + "\nColour: blue"),
        _action("<bad.3@h.test>", "split", None, split),
        _action("<bad.4@z.test>", "split", 1, split, origin="z.test"),
        # The real first action names an article that never comes; the second waits behind it.
        _action("<first@h.test>", "move", 1, f"Thread: {lost}\nGroup: {GROUP}\nBy: Marta\nReason: x"),
        _action("<second@h.test>", "split", 2, split),
    ]
    before = site.snapshot()
    for item in offers:
        async with site.db.transaction() as conn:
            assert (await intake.receive(conn, intake.Node(site.config.domain), item))["applied"] is False
    async with site.db.read() as conn:
        rows = {
            r["message_id"]: (r["status"], r["error"])
            for r in await fetch_all(conn, "SELECT * FROM group_actions")
        }
    assert rows["<bad.1@h.test>"] == ("ignored", "a split names its subject")
    assert rows["<bad.2@h.test>"][0] == "ignored" and "Colour" in rows["<bad.2@h.test>"][1]
    assert rows["<bad.3@h.test>"] == ("ignored", "it has no X-Moot-Sequence")
    assert rows["<bad.4@z.test>"] == ("ignored", f"it does not come from the group's home, {HOME}")
    assert rows["<first@h.test>"] == rows["<second@h.test>"] == ("pending", "")
    after = site.snapshot()
    assert after["articles"] == before["articles"] and after["threads"] == before["threads"]
    async with site.db.read() as conn:
        assert not await intake.overdue(conn)
    # The admins see what waits and what was ignored, with why.
    admin = await site.client("root", "admin")
    shown = {a["message_id"]: a for a in (await admin.get("/api/peers")).json()["actions"]}
    assert shown["<first@h.test>"]["why"] == "waits for the articles it names"
    assert shown["<second@h.test>"]["why"] == "waits for action 1 of the group"
    assert (shown["<bad.3@h.test>"]["status"], shown["<bad.3@h.test>"]["why"]) == (
        "ignored",
        "it has no X-Moot-Sequence",
    )
    assert len(shown) == len(offers)
    assert "waits for action 1 of the group" in (await admin.get("/admin/peers")).text
    assert (await mod.get("/api/peers")).status_code == 403

    # The orphan wait passes: the first is tried as it is and fails, and the second applies.
    async with site.db.transaction() as conn:
        await conn.execute(
            "UPDATE group_actions SET received_at = ? WHERE status = 'pending'",
            (clock.ago(seconds=peers.ORPHAN_WAIT + 1),),
        )
    async with site.db.read() as conn:
        assert await intake.overdue(conn)
    async with site.db.transaction() as conn:
        await intake.settle(conn, intake.Node(site.config.domain))
    async with site.db.read() as conn:
        rows = {
            r["message_id"]: (r["status"], r["error"])
            for r in await fetch_all(conn, "SELECT * FROM group_actions")
        }
        moved = await fetch_one(
            conn,
            "SELECT t.subject, t.root_article_id, a.id FROM articles a JOIN threads t ON t.id = a.thread_id"
            " WHERE a.message_id = ?",
            (reply["message_id"],),
        )
        sequence = await fetch_one(conn, "SELECT action_sequence FROM groups WHERE name = ?", (GROUP,))
    assert rows["<first@h.test>"] == ("failed", f"the article {lost} is not here")
    assert rows["<second@h.test>"] == ("applied", "")
    assert (moved["subject"], moved["root_article_id"]) == ("Off", moved["id"])
    assert sequence[0] == 2
    shown = {a["message_id"]: a for a in (await admin.get("/api/peers")).json()["actions"]}
    assert "<second@h.test>" not in shown and shown["<first@h.test>"]["status"] == "failed"
    # A late copy of a number already used is ignored; the same Message-ID again is a duplicate.
    late = _action("<late@h.test>", "split", 2, split)
    async with site.db.transaction() as conn:
        assert (await intake.receive(conn, intake.Node(site.config.domain), late))["applied"] is False
        status = await fetch_one(conn, "SELECT status FROM group_actions WHERE message_id = '<late@h.test>'")
        assert status[0] == "ignored"
    try:
        async with site.db.transaction() as conn:
            await intake.receive(conn, intake.Node(site.config.domain), late)
        raise AssertionError("a second copy was taken")
    except intake.Duplicate:
        pass
    await site.close()


async def test_a_held_article_whose_parent_never_comes_starts_a_thread_after_the_wait(make_site):
    site = await make_site()
    async with site.db.transaction() as conn:
        await groups.create_group(conn, None, GROUP)
    mid = "<orphan.1@h.test>"
    text = (
        f"Path: {HOME}!not-for-mail\r\nFrom: Someone <someone@h.test>\r\nNewsgroups: {GROUP}\r\n"
        f"Subject: Re: Lost\r\nMessage-ID: {mid}\r\nReferences: <lost@h.test>\r\n"
        f"Date: {format_datetime(clock.parse(clock.now()))}\r\n\r\nAn answer to nothing here."
    ).encode()
    async with site.db.transaction() as conn:
        assert await intake.take(conn, intake.Node(site.config.domain), parse.transit_article(text, mid)) == {
            "held": "<lost@h.test>"
        }
        assert await intake.known(conn, mid)
        assert not await intake.overdue(conn)
        await conn.execute("UPDATE peer_held SET due_at = ?", (clock.ago(seconds=1),))
    async with site.db.transaction() as conn:
        assert await intake.settle(conn, intake.Node(site.config.domain)) == 1
    reader = await site.client()
    article = (await reader.get(f"/api/articles/{mid}")).json()["article"]
    assert article["parent_id"] is None and article["body"] == "An answer to nothing here."
    async with site.db.read() as conn:
        assert not await fetch_all(conn, "SELECT 1 FROM peer_held")
    await site.close()


async def test_replies_split_off_by_the_home_are_served_from_their_new_root(make_site):
    site = await make_site()
    mod = await site.client("marta", "moderator")
    async with site.db.transaction() as conn:
        await groups.create_group(conn, None, GROUP)
        await actions.set_home(conn, None, GROUP, HOME)
    root, reply = await _thread(site, mod)
    r = await mod.post(f"/api/articles/{reply['id']}/replies", json={"body": "below"})
    below = r.json()["article"]
    split = f"Article: {reply['message_id']}\nSubject: Off\nGroup: {GROUP}\nBy: Marta\nReason: own topic"
    async with site.db.transaction() as conn:
        received = _action("<split.1@h.test>", "split", 1, split)
        assert (await intake.receive(conn, intake.Node(site.config.domain), received))["applied"] is True
    async with site.db.read() as conn:
        served = {
            a["message_id"]: mbox.references(await newsreading.by_message_id(conn, a["message_id"]))
            for a in (root, reply, below)
        }
    assert served == {
        root["message_id"]: [],
        reply["message_id"]: [],
        below["message_id"]: [reply["message_id"]],
    }
    await site.close()
