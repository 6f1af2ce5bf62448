"""Input no client should send: lone surrogates in any one-line field and ids
past SQLite's 64-bit range. Each is a 400 in the error shape, never a 500, and
changes nothing; /live answers an error frame and keeps the connection."""

from __future__ import annotations

import json

import pytest

from moot.people import sessions
from moot.store import validate
from moot.store.errors import AuthRequired, Invalid
from tests.conftest import seed
from tests.live_support import live_site, recv  # noqa: F401
from tests.test_web import form_client

LONE = "\ud800"
BIG = 2**63  # one past the largest SQLite integer; 19 digits

SURROGATE_CASES = [
    ("/api/groups/comp.lang.python/threads", {"subject": "a" + LONE, "body": "b"}),
    ("/api/groups", {"name": "a.b", "description": LONE}),
    ("/api/groups", {"name": "a" + LONE, "description": "x"}),
    ("/api/register", {"username": "zed", "password": "abcdefgh" + LONE}),
    ("/api/register", {"username": "zed" + LONE, "password": "abcdefghi"}),
    ("/api/register", {"username": "zed", "password": "abcdefghi", "display_name": LONE}),
    ("/api/login", {"username": "ada", "password": "abcdefgh" + LONE}),
    ("/api/login", {"username": "ada" + LONE, "password": "abcdefgh"}),
    ("/api/threads/{thread}/lock", {"reason": LONE}),
    ("/api/threads/{thread}/move", {"group": "x" + LONE, "reason": "r"}),
    ("/api/threads/{thread}/split", {"article_id": "{reply}", "reason": "r", "group": "x" + LONE}),
    ("/api/threads/{thread}/split", {"article_id": "{reply}", "reason": "r", "subject": LONE}),
    ("/api/proposals", {"name": "a.b", "description": LONE, "reason": "why"}),
    ("/api/articles/{reply}/cancel", {"reason": LONE}),
    ("/api/users/ada/role", {"role": "moderator", "reason": LONE}),
    ("/api/articles/{reply}/replies", {"body": "fine", LONE: "a key"}),
]


@pytest.mark.parametrize(("path", "body"), SURROGATE_CASES)
async def test_lone_surrogates_are_400(site, path, body):
    s = await seed(site)
    ids = {"thread": s["thread"]["id"], "reply": s["reply"]["id"]}
    path = path.format(**ids)
    body = {k: ids["reply"] if v == "{reply}" else v for k, v in body.items()}
    before = site.snapshot()
    r = await s["admin"].post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid" and "surrogate" in r.json()["error"]["message"]
    assert site.snapshot() == before


@pytest.mark.parametrize(
    "field",
    [
        validate.subject,
        validate.description,
        validate.display_name,
        validate.password,
        validate.username,
        validate.group_name,
        lambda v: validate.reason(v, required=True),
        validate.body,
    ],
)
def test_validators_refuse_lone_surrogates(field):
    with pytest.raises(Invalid, match="surrogate"):
        field("abcdefgh" + LONE)


async def test_sign_in_with_a_lone_surrogate_in_the_username_is_a_plain_refusal(site):
    """Channels without a JSON body (a newsreader's AUTHINFO) reach the session service directly."""
    with pytest.raises(AuthRequired):
        await sessions.authenticate(site.site, "ada" + LONE, "whatever1", address="10.0.0.1")


BIG_GETS = [
    "/api/threads/{big}",
    "/t/{big}",
    "/t/{thread}/fragment/a/{big}",
    "/a/{big}/reply",
    "/api/articles/{big}",
    "/api/modlog?cursor={big}",
    "/api/modlog/{big}",
    "/modlog?cursor={big}",
    "/api/proposals/{big}",
    "/api/threads/{thread}?cursor={big}",
    "/api/groups/comp.lang.python/threads?cursor=2026-01-01T00:00:00.000Z_{big}",
    "/g/comp.lang.python?cursor=2026-01-01T00:00:00.000Z_{big}",
    "/api/groups/comp.lang.python/archive?year=2026&cursor=2026-01-01T00:00:00.000Z_{big}",
    "/g/comp.lang.python/archive/2026/{big}",
    "/g/comp.lang.python/archive/{big}/1",
    "/api/groups/comp.lang.python/archive?year={big}",
    "/api/threads/{big}/mbox",
    "/api/threads/{big}/feed.atom",
    "/api/threads/{big}/split-suggestions",
    "/t/{thread}/fragment/split-preview?article={big}",
    "/search?q=hello&cursor={big}",
    "/api/search?q=hello&cursor={big}",
    "/g/comp.lang.python/new?continued_from={big}",
    "/api/threads/{thread}?limit={big}",
    "/m/{big}",
]


@pytest.mark.parametrize("path", BIG_GETS)
async def test_ids_and_cursors_past_64_bits_are_never_500(site, path):
    s = await seed(site)
    r = await s["admin"].get(path.format(big=BIG, thread=s["thread"]["id"]))
    assert r.status_code in (400, 404), (path, r.status_code, r.text[:200])
    if path.startswith("/api/"):
        assert r.json()["error"]["code"] in ("invalid", "not_found")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/articles/{big}/replies", {"body": "x"}),
        ("/api/groups/comp.lang.python/threads", {"subject": "a", "body": "b", "continued_from": BIG}),
        ("/api/threads/{thread}/split", {"article_id": BIG, "reason": "r"}),
        ("/api/threads/{thread}/merge", {"into_article_id": BIG, "reason": "r"}),
        ("/api/threads/{big}/lock", {}),
        ("/api/modlog/{big}/undo", {"reason": "r"}),
        ("/api/proposals/{big}/endorse", {}),
    ],
)
async def test_posted_ids_past_64_bits_are_never_500(site, path, body):
    s = await seed(site)
    before = site.snapshot()
    r = await s["admin"].post(path.format(big=BIG, thread=s["thread"]["id"]), json=body)
    assert r.status_code in (400, 404), r.text
    assert site.snapshot() == before


@pytest.mark.parametrize(
    "request_", [{"threads": [BIG]}, {"groups": ["*"], "since": BIG}, {"threads": [2**64 + 5]}]
)
async def test_live_answers_an_error_frame_for_ids_past_64_bits(live_site, request_):  # noqa: F811
    live = await live_site()
    ws = await live.connect()
    await ws.send(json.dumps({"type": "subscribe", **request_}))
    answer = await recv(ws)
    assert answer["type"] == "error" and answer["code"] == "invalid"
    await ws.send(json.dumps({"type": "ping"}))
    assert (await recv(ws)) == {"type": "pong"}


@pytest.mark.parametrize(
    "body", [b"subject=s&body=\xff\xfebad", b"subject=s&body=%FF%FEbad", b"subject=%C3&body=b"]
)
async def test_form_fields_that_are_not_utf8_are_400_raw_or_percent_escaped(site, body):
    await seed(site)
    ada, token = await form_client(site, "ada")
    before = site.snapshot()
    r = await ada.post(
        "/g/comp.lang.python/new",
        content=body + b"&csrf=" + token.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and "not valid UTF-8" in r.text
    assert site.snapshot() == before


# (path, fields): each form switch, and the thread follow form's `mail`, with a value other than 1 or 0
SWITCH_FORMS = (
    "/t/{thread}/follow",
    "/g/comp.lang.python/follow",
    "/g/comp.lang.python/subscribe",
    "/t/{thread}/mute",
    "/u/ada/mute",
)
SWITCHES = [(path, fields) for path in SWITCH_FORMS for fields in (b"&on=x", b"", b"&on=2")]
SWITCHES.append(("/t/{thread}/follow", b"&on=1&mail=x"))


@pytest.mark.parametrize(("path", "fields"), SWITCHES)
async def test_a_form_switch_other_than_1_or_0_is_400_and_changes_nothing(site, path, fields):
    seeded = await seed(site)
    bob, token = await form_client(site, "bob")
    before = site.snapshot()
    r = await bob.post(
        path.format(thread=seeded["thread"]["id"]),
        content=b"csrf=" + token.encode() + fields,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and "must be 1 or 0" in r.text, (r.status_code, r.text[:300])
    assert site.snapshot() == before
