"""What remote actors send to an inbox (federation/inbox.py), driven as a
remote server would: actor documents with public keys served by a small HTTP
server on loopback (MOOT_FEDERATION_ALLOW_PRIVATE), requests signed with
signatures.sign, taken by inbox.receive on a real site. The server answers
under two names, 127.0.0.1 and localhost: two origins (and two instances)."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from moot.app import create_app
from moot.federation import html, inbox, keys, objects, signatures
from moot.federation.client import Client
from moot.news import newsreading
from moot.store import validate
from moot.store.config import Config
from moot.store.errors import MootError
from tests.conftest import TestSite, seed
from tests.federation_sink import Sink, add_followers_sql, expanded, followers

PUBLIC = objects.PUBLIC
BASE = "https://moot.test"


KEYS = {name: keys.new_pair() for name in ("bob", "eve", "bob2")}


class Remote:
    """A remote server: documents by path, served as ActivityPub JSON."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                host = (self.headers.get("Host") or "").split(":")[0]
                doc = remote.docs.get(f"{host}{urlsplit(self.path).path}")
                data = json.dumps(doc).encode() if doc is not None else b"{}"
                self.send_response(200 if doc is not None else 404)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def serve(self, url: str, doc: dict) -> None:
        parts = urlsplit(url)
        self.docs[f"{parts.hostname}{parts.path}"] = doc

    def actor(self, name: str, host: str = "127.0.0.1", key: str | None = None) -> str:
        uri = self.url(f"/users/{name}", host)
        self.serve(
            uri,
            {
                "@context": objects.CONTEXT,
                "id": uri,
                "type": "Person",
                "preferredUsername": name,
                "name": name.title(),
                "inbox": uri + "/inbox",
                "url": self.url(f"/@{name}", host),
                "publicKey": {"id": uri + "#main-key", "owner": uri, "publicKeyPem": KEYS[key or name][1]},
            },
        )
        return uri


@pytest.fixture(scope="module")
def remote():
    server = Remote()
    yield server
    server.server.shutdown()
    server.server.server_close()


# Settings the site's background tasks advance on their own: the delivery
# task's place in the events, and the mail digest's last round.
BACKGROUND_SETTINGS = frozenset({"federation.events_cursor", "mail.digest_at"})


async def state(site) -> dict:
    """What an activity may change: every table but the caches of remote actors
    (ap_actors) and of the local keys made on first use (ap_keys), and the
    settings background tasks advance; taken once the delivery task has read
    every event so far (so what it writes for them is written already)."""
    await expanded(site)
    dump = site.snapshot()
    dump["settings"] = [r for r in dump["settings"] if r[0] not in BACKGROUND_SETTINGS]
    return {k: v for k, v in dump.items() if k not in ("ap_actors", "ap_keys")}


class Fed:
    """A site with federation on, its group and thread, and a client."""

    def __init__(self, site, seeded, remote: Remote) -> None:
        self.site, self.seeded, self.remote = site, seeded, remote
        self.client = Client(site.config, site.db)
        self.bob = remote.actor("bob")
        self.group_url = objects.actor_url(BASE, "group:comp.lang.python")
        self.root_url = objects.article_url(BASE, seeded["root"]["message_id"])
        self.n = 0

    def note(self, content: str = "<p>Hello from <em>afar</em></p>", **fields: object) -> dict:
        self.n += 1
        note = {
            "id": self.remote.url(f"/notes/{self.n}"),
            "type": "Note",
            "attributedTo": self.bob,
            "content": content,
            "inReplyTo": self.root_url,
            "to": [PUBLIC],
            "cc": [self.group_url],
        }
        return {**note, **fields}

    def activity(self, kind: str, obj: object, actor: str | None = None, **fields: object) -> dict:
        self.n += 1
        actor = actor or self.bob
        origin = f"{urlsplit(actor).scheme}://{urlsplit(actor).netloc}"
        return {
            "@context": objects.CONTEXT,
            "id": f"{origin}/activities/{self.n}",
            "type": kind,
            "actor": actor,
            "object": obj,
            "to": [PUBLIC],
            **fields,
        }

    def signed(
        self,
        activity: dict | bytes,
        path: str,
        *,
        key: str = "bob",
        actor: str | None = None,
        scheme="cavage",
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a POST of `activity` to `path`, signed with
        `key` as `actor`'s key (bob's by default), as a remote server sends it."""
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        headers = {"Content-Type": "application/activity+json"}
        headers |= signatures.sign(
            "POST",
            BASE + path,
            headers,
            body,
            key_id=(actor or self.bob) + "#main-key",
            private_pem=KEYS[key][0],
            scheme=scheme,
        )
        return body, headers

    async def send(
        self, activity: dict | bytes, *, key: str = "bob", actor: str | None = None, scheme="cavage"
    ):
        """POST `activity` to the shared inbox signed with `key` as `actor`'s key (bob's by default):
        the status, or the MootError raised."""
        body, headers = self.signed(activity, "/inbox", key=key, actor=actor, scheme=scheme)
        try:
            return await self.receive(headers, body)
        except MootError as e:
            return e

    async def receive(self, headers: dict, body: bytes) -> int:
        """A POST of `body` with `headers` to the shared inbox, as it came: its status (MootError raised)."""
        return await inbox.receive(
            self.site.site,
            self.client,
            inbox="/inbox",
            method="POST",
            target="/inbox",
            headers=headers,
            body=body,
        )

    async def post(self, activity: dict, path: str = "/g/comp.lang.python/inbox") -> tuple[int, str]:
        """POST `activity`, signed by bob, through the site's own inbox route: (status, body)."""
        body, headers = self.signed(activity, path)
        r = await (await self.site.client()).post(path, content=body, headers=headers)
        return r.status_code, r.text

    async def thread(self) -> list[dict]:
        r = await (await self.site.client()).get(f"/api/threads/{self.seeded['thread']['id']}")
        assert r.status_code == 200, r.text
        return r.json()["articles"]


@pytest.fixture
async def fed(make_site, remote):
    site = await make_site(federation=True, public_url=BASE, federation_allow_private=True)
    made = Fed(site, await seed(site), remote)
    yield made
    await made.client.aclose()


async def test_a_public_reply_becomes_an_article_in_the_thread_shown_with_its_author(fed):
    note = fed.note('<p>Hi <a href="https://x.example/@ada" class="mention">@<span>ada</span></a></p>')
    assert await fed.post(fed.activity("Create", note)) == (202, "")
    articles = await fed.thread()
    reply = articles[-1]
    assert reply["body"] == "Hi @ada@x.example"
    assert reply["subject"] == "Re: Hello"
    assert reply["parent_id"] == fed.seeded["root"]["id"]
    assert reply["author"]["display_name"] == "bob@127.0.0.1"
    assert reply["author"]["url"] == fed.remote.url("/@bob")
    assert reply["message_id"] == inbox.message_id_of(note["id"])
    assert reply["message_id"].startswith("<ap.") and note["id"] not in reply["message_id"]
    page = await (await fed.site.client()).get(f"/t/{fed.seeded['thread']['id']}")
    assert f'href="{fed.remote.url("/@bob")}"' in page.text and "bob@127.0.0.1" in page.text
    # NNTP readers get it by its Message-ID, as any other article.
    async with fed.site.db.read() as conn:
        found = await newsreading.by_message_id(conn, reply["message_id"])
    assert found is not None


async def test_update_edits_and_delete_withdraws_by_the_same_actor_only(fed, remote):
    note = fed.note("<p>first text</p>")
    assert await fed.send(fed.activity("Create", note)) == 202
    edited = {**note, "content": "<p>second text</p>"}
    assert await fed.send(fed.activity("Update", edited)) == 202
    reply = (await fed.thread())[-1]
    assert reply["body"] == "second text" and reply.get("edited_at")
    history = await (await fed.site.client()).get(f"/api/articles/{reply['id']}/history")
    assert [v["body"] for v in history.json()["versions"]] == ["first text"]
    # eve, on the other origin, can neither edit nor delete bob's note (fetched from its id: bob's).
    remote.serve(note["id"], edited)
    eve = remote.actor("eve", host="localhost")
    forged = {**edited, "attributedTo": eve, "content": "<p>eve was here</p>"}
    refused = await fed.send(fed.activity("Update", forged, actor=eve), key="eve", actor=eve)
    assert isinstance(refused, MootError) and refused.status == 403
    refused = await fed.send(fed.activity("Delete", note["id"], actor=eve), key="eve", actor=eve)
    assert isinstance(refused, MootError) and refused.status == 403
    assert (await fed.thread())[-1]["body"] == "second text"
    tomb = {"id": note["id"], "type": "Tombstone"}
    assert await fed.send(fed.activity("Delete", tomb)) == 202
    reply = (await fed.thread())[-1]
    assert reply["status"] == "cancelled" and "second text" not in reply["body"]


async def test_the_group_announces_its_remote_authors_create_update_and_delete_as_received(fed):
    sink = await Sink().start()
    try:
        await expanded(fed.site)  # the seed's events find no followers
        async with fed.site.db.transaction() as conn:
            for sql, args in add_followers_sql("comp.lang.python", followers(sink.base, 1)):
                await conn.executemany(sql, args)
        note = fed.note("<p>first text</p>")
        sent = [fed.activity("Create", note)]
        sent.append(fed.activity("Update", {**note, "content": "<p>second text</p>"}))
        sent.append(fed.activity("Delete", {"id": note["id"], "type": "Tombstone"}))
        for i, activity in enumerate(sent, 1):
            assert await fed.send(activity) == 202
            got = (await sink.wait_for(i))[-1].activity
            assert got["type"] == "Announce" and got["actor"] == fed.group_url
            assert got["object"] == activity  # the remote actor's own, exactly as it sent it
        # A moderator's removal of a remote article is the group's Delete, with the reason.
        other = fed.note("<p>off topic</p>")
        assert await fed.send(fed.activity("Create", other)) == 202
        await sink.wait_for(4)
        removed = (await fed.thread())[-1]
        r = await fed.seeded["admin"].post(f"/api/articles/{removed['id']}/cancel", json={"reason": "spam"})
        assert r.status_code == 200, r.text
        deleted = (await sink.wait_for(5))[-1].activity["object"]
        assert (deleted["type"], deleted["actor"], deleted["summary"]) == ("Delete", fed.group_url, "spam")
        assert deleted["object"] == {"id": other["id"], "type": "Tombstone", "formerType": "Note"}
        await expanded(fed.site)
        assert len(sink.received) == 5
    finally:
        await sink.stop()


async def test_a_rotated_key_is_fetched_again_once_and_either_scheme_is_taken(fed, remote):
    assert await fed.send(fed.activity("Create", fed.note()), scheme="rfc9421") == 202
    remote.actor("bob", key="bob2")  # bob's server rotates his key; Moot has the old one cached
    try:
        assert await fed.send(fed.activity("Create", fed.note()), key="bob2") == 202
    finally:
        remote.actor("bob")
    assert [a["author"]["display_name"] for a in await fed.thread()][-2:] == ["bob@127.0.0.1"] * 2


async def test_a_request_signed_with_another_actors_key_is_refused_401(fed, remote):
    eve = remote.actor("eve", host="localhost")
    before = await state(fed.site)
    forged = fed.activity("Create", fed.note(), actor=eve)
    status, _ = await fed.post(forged, "/inbox")  # eve's activity, bob's signature
    assert status == 401
    refused = await fed.send(fed.activity("Create", fed.note()), key="eve", actor=eve)
    assert isinstance(refused, MootError) and refused.status == 401
    assert "not by the activity's actor" in refused.message
    # bob's key id, eve's key: the signature does not verify.
    refused = await fed.send(fed.activity("Create", fed.note()), key="eve")
    assert isinstance(refused, MootError) and refused.status == 401
    unsigned = json.dumps(fed.activity("Create", fed.note())).encode()
    with pytest.raises(signatures.BadSignature):
        await fed.receive({"Content-Type": "application/activity+json"}, unsigned)
    assert await state(fed.site) == before


async def test_an_object_on_another_origin_is_fetched_not_believed(fed, remote):
    eve = remote.actor("eve", host="localhost")
    real = fed.note("<p>what bob really wrote</p>")
    remote.serve(real["id"], real)
    # eve embeds bob's object id with her own text: the real one is fetched, and it is not hers.
    forged = {**real, "content": "<p>words put in bob's mouth</p>", "attributedTo": eve}
    before = await state(fed.site)
    refused = await fed.send(fed.activity("Create", forged, actor=eve), key="eve", actor=eve)
    assert isinstance(refused, MootError) and refused.status == 403
    assert await state(fed.site) == before
    # bob's Create naming his object by id alone: fetched, and taken as served.
    assert await fed.send(fed.activity("Create", real["id"])) == 202
    assert (await fed.thread())[-1]["body"] == "what bob really wrote"


async def test_a_replayed_activity_does_nothing_twice(fed):
    activity = fed.activity("Create", fed.note())
    assert await fed.send(activity) == 202
    before = await state(fed.site)
    assert await fed.send(activity) == 202
    assert await state(fed.site) == before
    # The same object in a new activity is no second article either.
    again = fed.activity("Create", activity["object"])
    assert await fed.send(again) == 202
    assert len(await fed.thread()) == 3


async def test_direct_and_followers_only_replies_are_never_published(fed):
    direct = fed.note(to=[fed.remote.url("/users/ada")], cc=[])
    followers = fed.note(to=[fed.bob + "/followers"], cc=[])
    for note in (direct, followers):
        assert await fed.send(fed.activity("Create", note, to=note["to"])) == 202
    assert len(await fed.thread()) == 2
    async with fed.site.db.read() as conn:
        assert not await conn.execute_fetchall("SELECT 1 FROM ap_objects")


async def test_a_blocked_instance_is_refused_before_anything_is_stored(fed, remote):
    eve = remote.actor("eve", host="localhost")
    async with fed.site.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO ap_blocks (host, reason, created_at) VALUES ('localhost', 'spam', '2026')"
        )
    before = await state(fed.site)
    refused = await fed.send(
        fed.activity("Create", fed.note(attributedTo=eve), actor=eve), key="eve", actor=eve
    )
    assert isinstance(refused, MootError) and refused.status == 403
    assert await state(fed.site) == before


async def test_a_banned_actor_is_refused(fed):
    r = await fed.seeded["admin"].post(
        "/api/groups/comp.lang.python/bans",
        json={"author": f"actor:{fed.bob}", "days": 3, "reason": "trolling"},
    )
    assert r.status_code in (200, 201), r.text
    before = await state(fed.site)
    refused = await fed.send(fed.activity("Create", fed.note()))
    assert isinstance(refused, MootError) and refused.status == 403
    assert await state(fed.site) == before


async def test_a_moderated_group_holds_it_in_the_queue(fed):
    admin = fed.seeded["admin"]
    r = await admin.put("/api/groups/comp.lang.python/policy", json={"status": "m", "reason": "moderated"})
    assert r.status_code == 200, r.text
    assert await fed.send(fed.activity("Create", fed.note("<p>please let me in</p>"))) == 202
    assert len(await fed.thread()) == 2
    queue = (await admin.get("/api/groups/comp.lang.python/queue")).json()["items"]
    assert [(i["why"], i["channel"], i["article"]["body"], i["author"]["display_name"]) for i in queue] == [
        ("moderated", "fediverse", "please let me in", "bob@127.0.0.1")
    ]
    assert queue[0]["author"]["actor"] == fed.bob
    page = await admin.get("/g/comp.lang.python/queue")
    assert (
        "by fediverse" in page.text and f'href="{fed.bob}"' in page.text and "&lt;None&gt;" not in page.text
    )


async def test_an_approved_post_from_the_fediverse_is_its_actors_and_takes_its_update(fed):
    admin = fed.seeded["admin"]
    r = await admin.put("/api/groups/comp.lang.python/policy", json={"status": "m", "reason": "moderated"})
    assert r.status_code == 200, r.text
    note = fed.note("<p>held words</p>")
    assert await fed.send(fed.activity("Create", note)) == 202
    [item] = (await admin.get("/api/groups/comp.lang.python/queue")).json()["items"]
    r = await admin.post(f"/api/groups/comp.lang.python/queue/{item['id']}/approve", json={})
    assert r.status_code == 200, r.text
    reply = (await fed.thread())[-1]
    assert reply["body"] == "held words" and reply["author"]["display_name"] == "bob@127.0.0.1"
    assert reply["author"]["url"] == fed.remote.url("/@bob")
    assert reply["message_id"] == inbox.message_id_of(note["id"])
    # Its actor's Update edits it (so the ap_objects row names bob), and it is announced as received.
    edited = {**note, "content": "<p>held words, edited</p>"}
    assert await fed.send(fed.activity("Update", edited)) == 202
    assert (await fed.thread())[-1]["body"] == "held words, edited"
    async with fed.site.db.read() as conn:
        rows = await conn.execute_fetchall("SELECT object_id, actor FROM ap_objects")
    assert [tuple(r) for r in rows] == [(note["id"], fed.bob)]


async def test_a_held_post_deleted_by_its_actor_leaves_the_queue_withdrawn(fed, remote):
    admin = fed.seeded["admin"]
    r = await admin.put("/api/groups/comp.lang.python/policy", json={"status": "m", "reason": "moderated"})
    assert r.status_code == 200, r.text
    note = fed.note("<p>second thoughts</p>")
    assert await fed.send(fed.activity("Create", note)) == 202
    # eve, on another origin, cannot take it back for bob.
    eve = remote.actor("eve", host="localhost")
    refused = await fed.send(fed.activity("Delete", note["id"], actor=eve), key="eve", actor=eve)
    assert isinstance(refused, MootError) and refused.status == 403
    assert [i["id"] for i in (await admin.get("/api/groups/comp.lang.python/queue")).json()["items"]]
    assert await fed.send(fed.activity("Delete", {"id": note["id"], "type": "Tombstone"})) == 202
    assert (await admin.get("/api/groups/comp.lang.python/queue")).json()["items"] == []
    [item] = (await admin.get("/api/groups/comp.lang.python/queue?state=rejected")).json()["items"]
    assert item["decided_by"] is None and item["message_id"] == inbox.message_id_of(note["id"])
    entries = (await admin.get("/api/modlog")).json()["entries"]
    assert [(e["action"], e["reason"], e["actor"]) for e in entries][0] == ("reject", inbox.WITHDRAWN, None)
    assert len(await fed.thread()) == 2


async def test_a_new_remote_actors_first_posts_wait_where_new_accounts_posts_do(make_site, remote):
    site = await make_site(federation=True, public_url=BASE, federation_allow_private=True, trust_new_posts=1)
    fed = Fed(site, await seed(site), remote)
    try:
        r = await fed.seeded["admin"].put(
            "/api/groups/comp.lang.python/review-new", json={"review_new": True}
        )
        assert r.status_code == 200, r.text
        assert await fed.send(fed.activity("Create", fed.note("<p>my first words here</p>"))) == 202
        queue = (await fed.seeded["admin"].get("/api/groups/comp.lang.python/queue")).json()["items"]
        assert [i["why"] for i in queue] == ["new"]
        # Too many links from a new actor are refused, as from a new account.
        links = "".join(f'<a href="https://e{i}.example/">https://e{i}.example/</a> ' for i in range(5))
        refused = await fed.send(fed.activity("Create", fed.note(f"<p>{links}</p>")))
        assert isinstance(refused, MootError) and refused.status == 400
    finally:
        await fed.client.aclose()


async def test_a_follow_of_a_group_is_recorded_and_undone(fed):
    follow = fed.activity("Follow", fed.group_url)
    assert await fed.send(follow) == 202
    async with fed.site.db.read() as conn:
        rows = await conn.execute_fetchall("SELECT actor, state FROM ap_followers")
    assert [tuple(r) for r in rows] == [(fed.bob, "accepted")]
    assert await fed.send(fed.activity("Undo", follow)) == 202
    async with fed.site.db.read() as conn:
        assert not await conn.execute_fetchall("SELECT 1 FROM ap_followers")


async def test_a_group_that_asks_approval_keeps_a_follow_pending_until_a_moderator_answers(fed):
    admin, ada = fed.seeded["admin"], fed.seeded["ada"]
    url = "/api/groups/comp.lang.python/follow-approval"
    assert (await ada.put(url, json={"follow_approval": True})).status_code == 403
    assert (await admin.put(url, json={"follow_approval": "yes"})).status_code == 400
    r = await admin.put(url, json={"follow_approval": True, "reason": "we know our readers"})
    assert r.status_code == 200 and r.json()["entry"], r.text
    assert (await admin.put(url, json={"follow_approval": True})).json()["entry"] is None
    [entry] = [
        e for e in (await admin.get("/api/modlog")).json()["entries"] if e["action"] == "follow_approval"
    ]
    assert (entry["data"], entry["reason"]) == ({"from": False, "to": True}, "we know our readers")
    actor = await (await fed.site.client()).get(
        "/g/comp.lang.python", headers={"Accept": "application/activity+json"}
    )
    assert actor.json()["manuallyApprovesFollowers"] is True
    assert await fed.send(fed.activity("Follow", fed.group_url)) == 202
    listed = (await admin.get("/api/groups/comp.lang.python/followers")).json()
    assert listed["approval"] is True and [(f["actor"], f["state"]) for f in listed["followers"]] == [
        (fed.bob, "pending")
    ]
    async with fed.site.db.read() as conn:  # no Accept queued for a follow that waits
        assert not await conn.execute_fetchall("SELECT 1 FROM ap_activities WHERE body LIKE '%Accept%'")
    # The queue page's form turns it off: the waiting follow is accepted, and answered.
    page = await admin.get("/g/comp.lang.python/queue")
    assert 'action="/g/comp.lang.python/follow-approval"' in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    r = await admin.post("/g/comp.lang.python/follow-approval", data={"csrf": csrf, "follow_approval": "0"})
    assert r.status_code == 303, r.text
    listed = (await admin.get("/api/groups/comp.lang.python/followers")).json()
    assert [(f["actor"], f["state"]) for f in listed["followers"]] == [(fed.bob, "accepted")]
    async with fed.site.db.read() as conn:
        [(body,)] = await conn.execute_fetchall("SELECT body FROM ap_activities")
    assert json.loads(body)["type"] == "Accept" and json.loads(body)["object"]["actor"] == fed.bob


async def test_a_wrong_media_type_or_a_deep_body_is_refused(fed):
    refused = await fed.send(b"[" * 100 + b"]" * 100)
    assert isinstance(refused, MootError) and refused.status == 400
    too_big = await fed.send(b" " * (inbox.BODY_MAX + 1))
    assert isinstance(too_big, MootError) and too_big.status == 413
    with pytest.raises(MootError) as e:
        await fed.receive({"Content-Type": "text/html"}, b"{}")
    assert e.value.status == 415


# -- anything an actor could send --------------------------------------------------

JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from([PUBLIC, "Public", "https://moot.test/g/comp.lang.python", "Note", "Page", "Create"]),
)
JSON_ANY = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = (
    "type",
    "object",
    "to",
    "cc",
    "audience",
    "inReplyTo",
    "content",
    "name",
    "attributedTo",
    "id",
    "summary",
)


@st.composite
def mutations(draw):
    """A Create, Update, Delete or Follow of bob's with some fields replaced by anything JSON holds."""
    kind = draw(st.sampled_from(["Create", "Update", "Delete", "Follow", "Undo", "Like"]))
    changes = draw(st.lists(st.tuples(st.booleans(), st.sampled_from(FIELDS), JSON_ANY), max_size=4))
    huge = draw(st.booleans())
    return kind, changes, huge


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=mutations())
def test_any_json_an_actor_sends_is_taken_or_refused_with_a_4xx_never_half_stored(fed_for_properties, case):
    fed = fed_for_properties
    kind, changes, huge = case

    async def run():
        note = fed.note("<p>" + "x" * (300_000 if huge else 10) + "</p>")
        activity = fed.activity(kind, note)
        for on_object, field, value in changes:
            target = activity["object"] if on_object and isinstance(activity["object"], dict) else activity
            target[field] = copy.deepcopy(value)
        before = await state(fed.site)
        result = await fed.send(activity)
        if isinstance(result, MootError):
            assert 400 <= result.status < 500, (result.status, result.message)
            assert await state(fed.site) == before
        else:
            assert result == 202

    fed.loop.run_until_complete(run())


# Header values as a client may send them (HTTP/1.1 carries Latin-1 at most);
# URLs that name no host to look up (a refused port, a malformed host).
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
)
URLISH = st.builds(
    "{}{}".format,
    st.sampled_from(["http://[", "http://127.0.0.1:1/", "https://127.0.0.1:99999/", "mailto:", ""]),
    HEADER_TEXT,
)
NUMBERS = st.sampled_from(["0", "-1", "1e9", "9" * 5000, "\u00b2", "1" * 12, "99999999999999999999"])
SIGNATURE_HEADERS = {
    "Signature": st.one_of(
        HEADER_TEXT,
        st.builds(
            'keyId="{}",algorithm="{}",headers="{}",signature="{}",created={},expires="{}"'.format,
            URLISH,
            st.sampled_from(["rsa-sha256", "hs2019", "ed25519", ""]),
            st.sampled_from(["(request-target) host date digest", "(created) (expires)", "", "host"]),
            HEADER_TEXT,
            NUMBERS,
            NUMBERS,
        ),
        st.builds("sig1=:{}:".format, HEADER_TEXT),
    ),
    "Signature-Input": st.one_of(
        HEADER_TEXT,
        st.builds(
            'sig1=("@method" "@target-uri" "content-digest");created={};keyid={};alg="rsa-v1_5-sha256"'.format,
            NUMBERS,
            st.one_of(st.builds('"{}"'.format, URLISH), NUMBERS, st.just("?1"), st.just("tok")),
        ),
    ),
    "Digest": st.one_of(HEADER_TEXT, st.builds("SHA-256={}".format, HEADER_TEXT)),
    "Content-Digest": st.one_of(HEADER_TEXT, st.builds("sha-256=:{}:".format, HEADER_TEXT)),
    "Date": st.one_of(
        HEADER_TEXT, st.sampled_from(["Thu, 01 Jan 1970 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"])
    ),
    "Host": st.one_of(HEADER_TEXT, URLISH),
    "Content-Type": st.one_of(
        HEADER_TEXT,
        st.sampled_from(
            [
                "application/activity+json; charset=utf-8",
                'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
                "application/json",
                "text/html",
                "multipart/form-data; boundary=x",
            ]
        ),
    ),
}


@st.composite
def hostile_headers(draw):
    """A scheme, and some of a signed request's headers replaced by anything a client could send."""
    scheme = draw(st.sampled_from(["cavage", "rfc9421"]))
    names = draw(st.lists(st.sampled_from(sorted(SIGNATURE_HEADERS)), min_size=1, max_size=4, unique=True))
    return scheme, {name: draw(SIGNATURE_HEADERS[name]) for name in names}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=hostile_headers())
@example(case=("cavage", {"Host": "["}))
@example(case=("rfc9421", {"Host": "x:99999"}))
@example(case=("cavage", {"Signature": 'keyId="http://[x",signature="AA=="'}))
@example(case=("cavage", {"Signature": 'keyId="k",headers="(created)",created="\u00b2",signature="AA=="'}))
@example(
    case=("cavage", {"Signature": f'keyId="k",headers="(created)",created="{"9" * 5000}",signature="AA=="'})
)
@example(case=("rfc9421", {"Signature-Input": 'sig1=("@method");created=1;keyid=?1'}))
@example(case=("cavage", {"Content-Digest": "sha-256=:AAAA:"}))
def test_hostile_signature_headers_get_a_4xx_never_a_5xx_and_store_nothing(fed_for_properties, case):
    fed = fed_for_properties
    scheme, replaced = case

    async def run():
        path = "/g/comp.lang.python/inbox"
        body, headers = fed.signed(fed.activity("Create", fed.note()), path, scheme=scheme)
        changed = {name: value for name, value in replaced.items() if headers.get(name) != value}
        if not changed:
            return  # nothing replaced: the request is bob's own, and taken
        headers |= changed
        before = await state(fed.site)
        r = await (await fed.site.client()).post(
            path, content=body, headers={k: v.encode("latin-1") for k, v in headers.items()}
        )
        assert 400 <= r.status_code < 500, (r.status_code, r.text, changed)
        assert await state(fed.site) == before

    fed.loop.run_until_complete(run())


@pytest.fixture(scope="module")
def fed_for_properties(tmp_path_factory, remote):
    """One site for every example (a new site per example costs too much)."""
    loop = asyncio.new_event_loop()
    tmp = tmp_path_factory.mktemp("props")
    config = Config(
        db_path=str(tmp / "moot.db"),
        domain="test.moot",
        nntp_port=0,
        post_rate=100000.0,
        post_burst=100000,
        register_rate=100000.0,
        http_max_per_address=0,
        live_max_per_address=0,
        trust_new_days=0.0,
        trust_new_posts=0,
        federation=True,
        public_url=BASE,
        federation_allow_private=True,
        read_connections=2,
    ).checked()
    app = create_app(config, {})
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    site = TestSite(app, config)
    made = Fed(site, loop.run_until_complete(seed(site)), remote)
    made.loop = loop
    yield made
    loop.run_until_complete(made.client.aclose())
    loop.run_until_complete(site.close())
    loop.run_until_complete(lifespan.__aexit__(None, None, None))
    loop.close()


# -- remote HTML -------------------------------------------------------------------


def test_html_keeps_what_the_allowlist_means_and_drops_the_rest():
    text = html.to_text(
        '<p>See <a href="https://e.org/a">this</a> &amp; <strong>that</strong></p>'
        "<script>alert(1)</script><style>p{}</style>"
        "<blockquote><p>quoted</p></blockquote><ul><li>one</li><li>two</li></ul>"
        '<pre>a\n  b</pre><p><a href="javascript:x()">click</a></p>'
    )
    assert text == "See this <https://e.org/a> & *that*\n\n> quoted\n\n- one\n- two\n\na\n  b\n\nclick"


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("<>/=\"' &;#abpliquoterscnxy\n\u202e\x00")) | st.characters(),
        max_size=400,
    )
)
def test_any_html_gives_bounded_text_a_body_may_hold(markup):
    text = html.to_text(markup)
    assert isinstance(text, str) and len(text) <= html.TEXT_MAX
    assert "\x00" not in text and "\u202e" not in text
    if text.strip():
        validate.body(text)
