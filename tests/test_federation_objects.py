"""Groups, members and articles as ActivityPub: WebFinger, NodeInfo, the
actors' JSON, content negotiation at the page URLs (JSON for ActivityPub
clients, the page for everyone else, never one cached for the other), the
collections, moderators answering pending follows, the admins' view and
blocks; and none of it while federation is off."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from moot.federation import follows, objects
from moot.federation.client import RemoteActor
from tests.conftest import seed

BASE = "https://forum.example"
AP = {"Accept": "application/activity+json"}
LD = {"Accept": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'}


@pytest.fixture
async def fed(make_site):
    return await make_site(federation=True, public_url=BASE, metrics_allow=("127.0.0.1",))


def remote(n: int, host: str = "social.example") -> RemoteActor:
    uri = f"https://{host}/users/p{n}"
    return RemoteActor(
        uri=uri,
        host=host,
        inbox=uri + "/inbox",
        shared_inbox=f"https://{host}/inbox",
        key_id=uri + "#main-key",
        public_pem="-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
        handle=f"p{n}@{host}",
        name=f"P {n}",
        url=uri,
    )


async def test_webfinger_finds_groups_and_members_on_the_public_host(fed):
    s = await seed(fed)
    anon = await fed.client()
    r = await anon.get("/.well-known/webfinger", params={"resource": "acct:comp.lang.python@forum.example"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/jrd+json")
    assert r.headers["access-control-allow-origin"] == "*"
    jrd = r.json()
    assert jrd["subject"] == "acct:comp.lang.python@forum.example"
    self_link = next(link for link in jrd["links"] if link["rel"] == "self")
    assert self_link == {
        "rel": "self",
        "type": "application/activity+json",
        "href": f"{BASE}/g/comp.lang.python",
    }
    r = await anon.get("/.well-known/webfinger", params={"resource": "acct:ada@forum.example"})
    assert r.status_code == 200 and r.json()["links"][0]["href"] == f"{BASE}/u/ada"
    r = await anon.get("/.well-known/webfinger", params={"resource": f"{BASE}/g/comp.lang.python"})
    assert r.status_code == 200 and r.json()["subject"] == "acct:comp.lang.python@forum.example"
    malformed = (f"{BASE}:99999/g/comp.lang.python", "https://[forum.example/g/comp.lang.python")
    for wrong in (
        "acct:comp.lang.python@other.example",
        "acct:nobody@forum.example",
        "acct:",
        "mailto:x",
        *malformed,
    ):
        r = await anon.get("/.well-known/webfinger", params={"resource": wrong})
        assert r.status_code == 404, wrong
    assert s["thread"]["id"]


async def test_nodeinfo(fed):
    await seed(fed)
    anon = await fed.client()
    links = (await anon.get("/.well-known/nodeinfo")).json()["links"]
    assert links == [
        {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": f"{BASE}/nodeinfo/2.1"}
    ]
    info = (await anon.get("/nodeinfo/2.1")).json()
    assert info["version"] == "2.1" and info["software"]["name"] == "moot"
    assert info["protocols"] == ["activitypub"]
    assert info["usage"]["localPosts"] == 2 and info["usage"]["users"]["total"] == 2


async def test_actor_documents(fed):
    await seed(fed)
    mod = await fed.client("mona")
    admin = await fed.client("root", "admin")
    r = await admin.post(
        "/api/groups/comp.lang.python/moderators", json={"username": "mona", "reason": "help"}
    )
    assert r.status_code in (200, 201), r.text
    anon = await fed.client()
    r = await anon.get("/g/comp.lang.python", headers=AP)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/activity+json")
    group = r.json()
    assert group["type"] == "Group" and group["id"] == f"{BASE}/g/comp.lang.python"
    assert group["preferredUsername"] == "comp.lang.python" and group["summary"] == "<p>Python</p>"
    assert group["inbox"] == f"{BASE}/g/comp.lang.python/inbox"
    assert group["followers"] == f"{BASE}/g/comp.lang.python/followers"
    assert group["endpoints"]["sharedInbox"] == f"{BASE}/inbox"
    assert group["publicKey"]["id"] == f"{BASE}/g/comp.lang.python#main-key"
    assert group["publicKey"]["owner"] == group["id"]
    assert group["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert group["attributedTo"] == [f"{BASE}/u/mona"]
    assert group["manuallyApprovesFollowers"] is False and group["postingRestrictedToMods"] is False
    again = (await anon.get("/g/comp.lang.python", headers=LD)).json()
    assert again["publicKey"] == group["publicKey"]  # one key, kept
    person = (await anon.get("/u/ada", headers=AP)).json()
    assert person["type"] == "Person" and person["preferredUsername"] == "ada" and person["name"] == "Ada"
    assert person["inbox"] == f"{BASE}/u/ada/inbox"
    assert person["publicKey"]["owner"] == f"{BASE}/u/ada"
    instance = (await anon.get("/actor")).json()
    assert instance["type"] == "Application" and instance["id"] == f"{BASE}/actor"
    assert instance["preferredUsername"] == "forum.example"
    assert (await anon.get("/g/nope", headers=AP)).status_code == 404
    assert (await anon.get("/u/nope", headers=AP)).status_code == 404
    assert mod


async def test_articles_as_page_note_and_tombstone(fed):
    s = await seed(fed)
    anon = await fed.client()
    root_url = objects.article_url(BASE, s["root"]["message_id"])
    r = await anon.get("/m/" + quote(s["root"]["message_id"], safe="@"), headers=AP)
    assert r.status_code == 200  # the object, not the redirect to the thread
    page = r.json()
    assert page["type"] == "Page" and page["id"] == root_url and page["name"] == "Hello"
    assert page["content"] == "<p>First post</p>" and page["mediaType"] == "text/html"
    assert page["source"] == {"content": "First post", "mediaType": "text/plain"}
    assert page["attributedTo"] == f"{BASE}/u/ada"
    assert page["audience"] == f"{BASE}/g/comp.lang.python"
    assert page["to"] == [objects.PUBLIC] and page["cc"] == [f"{BASE}/g/comp.lang.python/followers"]
    assert page["url"] == f"{BASE}/t/{s['thread']['id']}#a{s['root']['id']}"
    thread = (await anon.get(f"/t/{s['thread']['id']}", headers=AP)).json()
    assert thread == page
    note = (await anon.get("/m/" + quote(s["reply"]["message_id"], safe="@"), headers=AP)).json()
    assert note["type"] == "Note" and note["inReplyTo"] == root_url and "name" not in note
    r = await s["ada"].post(f"/api/articles/{s['reply']['id']}/cancel", json={"reason": "oops"})
    assert r.status_code == 200, r.text
    gone = (await anon.get("/m/" + quote(s["reply"]["message_id"], safe="@"), headers=AP)).json()
    assert gone["type"] == "Tombstone" and gone["formerType"] == "Note"
    # The browser still gets the redirect to the thread.
    r = await anon.get("/m/" + quote(s["root"]["message_id"], safe="@"))
    assert r.status_code in (301, 302, 303, 307)


async def test_text_is_escaped_and_authors_without_actors_are_named():
    row = {
        "id": 5, "message_id": "<x@y>", "thread_id": 2, "parent_id": None, "user_id": None,
        "subject": "S", "body": "a <b> & c\nnext\n\nsecond", "author_name": "Mail <Stranger>",
        "created_at": "2026-01-01T00:00:00.000Z", "edited_at": None, "status": "ok", "notice": None,
        "group_name": "g.x", "username": None, "object_id": None, "ap_actor": None, "ap_activity": None,
        "parent_message_id": None, "parent_object_id": None,
    }  # fmt: skip
    made = objects.article_object(BASE, row)
    assert made["attributedTo"] == f"{BASE}/g/g.x"
    assert (
        made["content"]
        == "<p>Mail &lt;Stranger&gt; wrote:</p><p>a &lt;b&gt; &amp; c<br>next</p><p>second</p>"
    )
    reply = {**row, "parent_id": 4, "parent_message_id": "<p@y>", "parent_object_id": "https://o.example/n/1"}
    assert objects.article_object(BASE, reply)["inReplyTo"] == "https://o.example/n/1"


async def test_negotiation_varies_and_never_mixes_the_forms(fed):
    s = await seed(fed)
    anon = await fed.client()
    for path in ("/g/comp.lang.python", f"/t/{s['thread']['id']}", "/u/ada"):
        html = await anon.get(path)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "accept" in [v.strip().lower() for v in html.headers["vary"].split(",")], path
        ap = await anon.get(path, headers=AP)
        assert ap.headers["content-type"].startswith("application/activity+json"), path
        assert "accept" in [v.strip().lower() for v in ap.headers["vary"].split(",")], path
        if "etag" in html.headers:
            assert ap.headers["etag"] != html.headers["etag"], path
        # Asked again (the page now kept by the caches): each form still gets its own.
        assert (await anon.get(path)).headers["content-type"].startswith("text/html")
        assert (await anon.get(path, headers=AP)).json()["id"].startswith(BASE)
        # The JSON's ETag revalidates.
        r = await anon.get(path, headers={**AP, "If-None-Match": ap.headers["etag"]})
        assert r.status_code == 304, path


async def test_collections(fed):
    await seed(fed)
    async with fed.db.transaction() as conn:
        for n in range(25):
            await follows.follow(conn, "comp.lang.python", remote(n), {"id": f"https://social.example/f/{n}",
                                 "object": f"{BASE}/g/comp.lang.python"})  # fmt: skip
    anon = await fed.client()
    top = (await anon.get("/g/comp.lang.python/followers")).json()
    assert top["type"] == "OrderedCollection" and top["totalItems"] == 25
    first = (await anon.get(top["first"].removeprefix(BASE))).json()
    assert len(first["orderedItems"]) == 20 and first["next"].endswith("page=2")
    second = (await anon.get("/g/comp.lang.python/followers?page=2")).json()
    assert len(second["orderedItems"]) == 5 and "next" not in second
    assert (await anon.get("/g/comp.lang.python/followers?page=x")).status_code == 400
    outbox = (await anon.get("/g/comp.lang.python/outbox?page=1")).json()
    assert outbox["totalItems"] == 1
    announce = outbox["orderedItems"][0]
    assert announce["type"] == "Announce" and announce["object"]["type"] == "Create"
    assert announce["object"]["object"]["type"] == "Page"
    # Every Follow was answered with an Accept to the follower's own inbox.
    async with fed.db.read() as conn:
        rows = list(
            await conn.execute_fetchall(
                "SELECT d.inbox FROM ap_deliveries d JOIN ap_activities a ON a.id = d.activity"
                ' WHERE a.body LIKE \'%"type":"Accept"%\''
            )
        )
    assert len(rows) == 25 and all(r[0].startswith("https://social.example/users/p") for r in rows)


async def test_pending_follows_are_decided_by_the_groups_moderators(fed):
    await seed(fed)
    async with fed.db.transaction() as conn:
        await conn.execute("UPDATE groups SET ap_follow_approval = 1")
    anon = await fed.client()
    assert (await anon.get("/g/comp.lang.python", headers=AP)).json()["manuallyApprovesFollowers"] is True
    async with fed.db.transaction() as conn:
        for n in (1, 2):
            follow = {"id": f"https://social.example/f/{n}", "object": f"{BASE}/g/comp.lang.python"}
            assert await follows.follow(conn, "comp.lang.python", remote(n), follow) == "pending"
        assert not list(await conn.execute_fetchall("SELECT 1 FROM ap_deliveries"))
    ada = await fed.client("ada")
    assert (await ada.get("/api/groups/comp.lang.python/followers")).status_code == 403
    admin = await fed.client("root", "admin")
    listed = (await admin.get("/api/groups/comp.lang.python/followers?state=pending")).json()
    assert [f["handle"] for f in listed["followers"]] == ["p1@social.example", "p2@social.example"]
    first, second = (f["actor"] for f in listed["followers"])
    r = await admin.post("/api/groups/comp.lang.python/followers", json={"actor": first, "accept": True})
    assert r.status_code == 200, r.text
    r = await admin.post("/api/groups/comp.lang.python/followers", json={"actor": second, "accept": False})
    assert r.status_code == 200, r.text
    r = await admin.post("/api/groups/comp.lang.python/followers", json={"actor": first, "accept": True})
    assert r.status_code == 409
    r = await admin.post("/api/groups/comp.lang.python/followers", json={"actor": "x", "accept": "yes"})
    assert r.status_code == 400
    async with fed.db.read() as conn:
        bodies = [r[0] for r in await conn.execute_fetchall("SELECT body FROM ap_activities ORDER BY id")]
        state = list(await conn.execute_fetchall("SELECT actor, state FROM ap_followers"))
    assert ['"type":"Accept"' in bodies[0], '"type":"Reject"' in bodies[1]] == [True, True]
    assert [tuple(r) for r in state] == [(first, "accepted")]
    log = (await anon.get("/api/modlog")).json()["entries"]
    assert [e["action"] for e in log[:2]] == ["follower.reject", "follower.accept"]
    async with fed.db.transaction() as conn:
        assert await follows.undo(conn, "comp.lang.python", first) is True
        assert await follows.undo(conn, "comp.lang.python", first) is False


async def test_admin_view_blocks_and_metrics(fed):
    await seed(fed)
    async with fed.db.transaction() as conn:
        for n, host in ((1, "social.example"), (2, "spam.example")):
            follow = {"id": f"https://{host}/f/{n}", "object": f"{BASE}/g/comp.lang.python"}
            await follows.follow(conn, "comp.lang.python", remote(n, host), follow)
    admin = await fed.client("root", "admin")
    ada = await fed.client("ada")
    assert (await ada.get("/api/federation")).status_code == 403
    summary = (await admin.get("/api/federation")).json()
    assert summary["followers"] == [{"group": "comp.lang.python", "accepted": 2, "pending": 0}]
    assert [i["host"] for i in summary["instances"]] == ["social.example", "spam.example"]
    r = await admin.post("/api/federation/blocks", json={"host": "Spam.Example", "reason": "spam"})
    assert r.status_code == 201, r.text
    assert (await admin.post("/api/federation/blocks", json={"host": "spam.example"})).status_code == 409
    assert (await admin.post("/api/federation/blocks", json={"host": "not a host"})).status_code == 400
    summary = (await admin.get("/api/federation")).json()
    assert summary["blocks"][0]["host"] == "spam.example"
    # The block dropped the deliveries to that host.
    async with fed.db.read() as conn:
        inboxes = [r[0] for r in await conn.execute_fetchall("SELECT inbox FROM ap_deliveries")]
    assert inboxes and all(i.startswith("https://social.example/") for i in inboxes)
    page = await admin.get("/admin/federation")
    assert page.status_code == 200 and "spam.example" in page.text
    assert (await ada.get("/admin/federation")).status_code == 403
    # The form needs the CSRF token.
    r = await admin.post("/admin/federation/unblock", data={"host": "spam.example", "csrf": "wrong"})
    assert r.status_code == 403
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    r = await admin.post("/admin/federation/unblock", data={"host": "spam.example", "csrf": csrf})
    assert r.status_code == 303
    assert (await admin.get("/api/federation")).json()["blocks"] == []
    actions = [e["action"] for e in (await admin.get("/api/modlog")).json()["entries"][:2]]
    assert actions == ["instance.unblock", "instance.block"]
    metrics = (await admin.get("/metrics")).text
    assert "moot_federation_followers 2.0" in metrics
    assert 'moot_federation_deliveries{state="pending"}' in metrics
    assert 'moot_federation_deliveries{state="failed"}' in metrics


async def test_everything_is_off_while_federation_is(site):
    s = await seed(site)
    anon = await site.client()
    for path in ("/.well-known/webfinger?resource=acct:ada@test.moot", "/.well-known/nodeinfo", "/nodeinfo/2.1",
                 "/actor", "/g/comp.lang.python/followers", "/g/comp.lang.python/outbox", "/api/federation"):  # fmt: skip
        assert (await anon.get(path)).status_code == 404, path
    assert (await anon.post("/inbox", content=b"{}")).status_code == 404
    page = await anon.get("/g/comp.lang.python", headers=AP)
    assert page.headers["content-type"].startswith("text/html")  # the page, as before
    assert "accept" not in [v.strip().lower() for v in page.headers.get("vary", "").split(",")]
    assert s["thread"]["id"]
