"""Every bad request gets its documented status and code, and changes nothing."""

import pytest

from tests.conftest import seed

BIG = "x" * (64 * 1024 + 1)

# (who, method, path, body, expected status, expected code)
# `body` is a dict (sent as JSON), bytes (sent raw as JSON), or (content-type, bytes).
CASES = [
    # not signed in / wrong role
    (None, "POST", "/api/groups/{group}/threads", {"subject": "s", "body": "b"}, 401, "auth_required"),
    (None, "POST", "/api/articles/{root}/replies", {"body": "b"}, 401, "auth_required"),
    (None, "POST", "/api/articles/{root}/cancel", {}, 401, "auth_required"),
    ("bob", "POST", "/api/articles/{root}/cancel", {}, 403, "forbidden"),
    ("bob", "POST", "/api/groups", {"name": "new.group", "description": "d"}, 403, "forbidden"),
    ("mod", "POST", "/api/groups", {"name": "new.group", "description": "d"}, 403, "forbidden"),
    (None, "GET", "/api/me", None, 401, "auth_required"),
    # malformed, wrong type, oversized bodies
    ("bob", "POST", "/api/articles/{root}/replies", b"{not json", 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", b"[1, 2]", 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", b"\xff\xfe", 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", b"[" * 100000 + b"]" * 100000, 400, "invalid"),
    (
        "bob",
        "POST",
        "/api/articles/{root}/replies",
        b'{"body": "' + b"x" * (1024 * 1024) + b'"}',
        413,
        "too_large",
    ),
    ("bob", "POST", "/api/articles/{root}/replies", {"body": BIG}, 413, "too_large"),
    ("bob", "POST", "/api/articles/{root}/replies", {"body": 12}, 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", {"body": ["x"]}, 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", {"body": None}, 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", {}, 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", {"body": "   \n  "}, 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", {"body": "nul \x00 byte"}, 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", {"body": "escape \x1b[2J"}, 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", {"body": "ok", "subject": "a\r\nb"}, 400, "invalid"),
    ("bob", "POST", "/api/articles/{root}/replies", {"body": "ok", "subject": "x" * 251}, 400, "invalid"),
    ("bob", "POST", "/api/groups/{group}/threads", {"subject": "", "body": "b"}, 400, "invalid"),
    ("bob", "POST", "/api/groups/{group}/threads", {"subject": "s"}, 400, "invalid"),
    ("bob", "POST", "/api/groups/{group}/threads", {"subject": {"a": 1}, "body": "b"}, 400, "invalid"),
    (
        "bob",
        "POST",
        "/api/groups/{group}/threads",
        {"subject": "s", "body": "b", "continued_from": "x"},
        404,
        "not_found",
    ),
    ("root", "POST", "/api/groups", {"name": "Bad..Name", "description": "d"}, 400, "invalid"),
    # a killfile pattern repeating more often than the regex engine can count
    (
        "bob",
        "POST",
        "/api/rules",
        {"field": "subject", "pattern": "x{0,4294967296}", "regex": True, "score": 1},
        400,
        "invalid",
    ),
    ("root", "POST", "/api/groups", {"name": "x" * 81, "description": "d"}, 400, "invalid"),
    ("root", "POST", "/api/groups", {"name": "ok.name", "description": "line\nbreak"}, 400, "invalid"),
    ("root", "POST", "/api/groups", {"name": "{group}", "description": "again"}, 409, "conflict"),
    ("root", "POST", "/api/groups", {"name": 17}, 400, "invalid"),
    ("root", "POST", "/api/groups", {"name": "ok.name", "status": "x"}, 400, "invalid"),
    ("root", "POST", "/api/groups", {"name": "ok.name", "status": ["y"]}, 400, "invalid"),
    # content type: a cross-site form cannot send application/json
    (
        "bob",
        "POST",
        "/api/articles/{root}/replies",
        ("text/plain", b'{"body": "x"}'),
        415,
        "unsupported_media_type",
    ),
    (
        "bob",
        "POST",
        "/api/articles/{root}/replies",
        ("application/x-www-form-urlencoded", b"body=x"),
        415,
        "unsupported_media_type",
    ),
    (
        "bob",
        "POST",
        "/api/articles/{root}/replies",
        ("multipart/form-data; boundary=x", b"--x--"),
        415,
        "unsupported_media_type",
    ),
    (
        None,
        "POST",
        "/api/register",
        ("text/plain", b'{"username": "eve", "password": "xxxxxxxxxx"}'),
        415,
        "unsupported_media_type",
    ),
    # unknown ids and names
    ("bob", "POST", "/api/articles/999999/replies", {"body": "b"}, 404, "not_found"),
    ("bob", "POST", "/api/articles/abc/replies", {"body": "b"}, 404, "not_found"),
    ("bob", "POST", "/api/articles/%3Cnope@x%3E/replies", {"body": "b"}, 404, "not_found"),
    ("bob", "POST", "/api/groups/no.such.group/threads", {"subject": "s", "body": "b"}, 404, "not_found"),
    (None, "GET", "/api/groups/no.such.group", None, 404, "not_found"),
    (None, "GET", "/api/groups/no.such.group/threads", None, 404, "not_found"),
    (None, "GET", "/api/threads/999999", None, 404, "not_found"),
    (None, "GET", "/api/threads/-1", None, 404, "not_found"),
    # digits that are not ASCII, and more than an id holds: no thread, for either reader
    (None, "GET", "/api/threads/%C2%B2", None, 404, "not_found"),
    ("bob", "GET", "/api/threads/%C2%B2/outline", None, 404, "not_found"),
    (None, "GET", "/api/threads/%C2%B2/outline", None, 404, "not_found"),
    (None, "GET", "/api/threads/" + "9" * 5000 + "/outline", None, 404, "not_found"),
    ("bob", "GET", "/api/people?prefix=" + "a" * 5000, None, 400, "invalid"),
    ("bob", "GET", "/api/people?prefix=%C2%B2", None, 400, "invalid"),
    (None, "GET", "/api/people?prefix=ad", None, 401, "auth_required"),
    (None, "GET", "/api/articles/999999", None, 404, "not_found"),
    (None, "GET", "/api/articles/%3Cnope@x%3E", None, 404, "not_found"),
    (None, "GET", "/api/no/such/endpoint", None, 404, "not_found"),
    # bad paging
    (None, "GET", "/api/threads/{thread}?limit=0", None, 400, "invalid"),
    (None, "GET", "/api/threads/{thread}?limit=1000", None, 400, "invalid"),
    (None, "GET", "/api/threads/{thread}?limit=ten", None, 400, "invalid"),
    (None, "GET", "/api/threads/{thread}?cursor=%27%20OR%201=1", None, 400, "invalid"),
    (None, "GET", "/api/groups/{group}/threads?cursor=garbage", None, 400, "invalid"),
    (None, "GET", "/api/groups/{group}/threads?state=deleted", None, 400, "invalid"),
    # accounts
    (None, "POST", "/api/register", {"username": "ab", "password": "long enough"}, 400, "invalid"),
    (None, "POST", "/api/register", {"username": "Eve", "password": "long enough"}, 400, "invalid"),
    (None, "POST", "/api/register", {"username": "eve", "password": "short"}, 400, "invalid"),
    (None, "POST", "/api/register", {"username": "eve", "password": "x" * 257}, 400, "invalid"),
    (None, "POST", "/api/register", {"username": "bob", "password": "long enough"}, 409, "conflict"),
    (
        None,
        "POST",
        "/api/register",
        {"username": "eve", "password": "long enough", "display_name": "a\x07"},
        400,
        "invalid",
    ),
    (None, "POST", "/api/login", {"username": "bob", "password": "wrong password"}, 401, "auth_required"),
    (None, "POST", "/api/login", {"username": ["bob"], "password": {}}, 401, "auth_required"),
    # method not allowed
    (None, "DELETE", "/api/groups", None, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(
    "who,method,path,body,status,code", CASES, ids=[f"{c[1]} {c[2][:40]} {c[4]}" for c in CASES]
)
async def test_bad_request_changes_nothing(site, who, method, path, body, status, code):
    s = await seed(site)
    await site.user("bob")
    await site.user("mod", "moderator")
    client = await site.client(who) if who else await site.client()
    path = path.format(group="comp.lang.python", root=s["root"]["id"], thread=s["thread"]["id"])
    if isinstance(body, dict) and "name" in body and isinstance(body["name"], str):
        body = {**body, "name": body["name"].format(group="comp.lang.python")}
    before = site.snapshot()
    if body is None:
        r = await client.request(method, path)
    elif isinstance(body, dict):
        r = await client.request(method, path, json=body)
    elif isinstance(body, bytes):
        r = await client.request(method, path, content=body, headers={"content-type": "application/json"})
    else:
        r = await client.request(method, path, content=body[1], headers={"content-type": body[0]})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    assert site.snapshot() == before


async def test_cross_origin_state_change_refused(site):
    s = await seed(site)
    before = site.snapshot()
    r = await s["ada"].post(
        f"/api/articles/{s['root']['id']}/replies",
        json={"body": "x"},
        headers={"origin": "https://evil.example"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert site.snapshot() == before
    r = await s["ada"].post(
        f"/api/articles/{s['root']['id']}/replies",
        json={"body": "x"},
        headers={"origin": "http://testserver"},
    )
    assert r.status_code == 201


async def test_read_only_and_moderated_groups(site):
    s = await seed(site)
    async with site.db.transaction() as conn:
        await conn.execute("UPDATE groups SET status = 'n' WHERE name = 'comp.lang.python'")
    before = site.snapshot()
    r = await s["ada"].post("/api/groups/comp.lang.python/threads", json={"subject": "s", "body": "b"})
    assert r.status_code == 403 and site.snapshot() == before
    async with site.db.transaction() as conn:
        await conn.execute("UPDATE groups SET status = 'm' WHERE name = 'comp.lang.python'")
    before = site.snapshot()["articles"]
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "b"})
    assert r.status_code == 202 and r.json()["held"]["why"] == "moderated"  # waits for a moderator
    assert site.snapshot()["articles"] == before
    mod = await site.client("mod", "moderator")
    r = await mod.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "b"})
    assert r.status_code == 201


async def test_archived_and_locked_threads_refuse_replies(site):
    s = await seed(site)
    tid = s["thread"]["id"]
    before = site.snapshot()
    r = await s["ada"].post(  # only an archived thread is continued in a new one
        "/api/groups/comp.lang.python/threads",
        json={"subject": "Too soon", "body": "b", "continued_from": s["thread"]["id"]},
    )
    assert r.status_code == 400 and "archived" in r.json()["error"]["message"]
    assert (await s["ada"].get(f"/g/comp.lang.python/new?continued_from={tid}")).status_code == 400
    assert site.snapshot() == before
    async with site.db.transaction() as conn:
        await conn.execute("UPDATE threads SET state = 'archived' WHERE id = ?", (tid,))
    before = site.snapshot()
    assert (await s["ada"].get(f"/g/comp.lang.python/new?continued_from={tid}")).status_code == 200
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "late"})
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "archived"
    assert error["follow_up"] == {"group": "comp.lang.python", "continued_from": tid}
    assert site.snapshot() == before
    r = await s["ada"].post(
        "/api/groups/comp.lang.python/threads",
        json={"subject": "Follow-up", "body": "b", "continued_from": tid},
    )
    assert r.status_code == 201 and r.json()["thread"]["continued_from"] == tid

    async with site.db.transaction() as conn:
        await conn.execute("UPDATE threads SET state = 'locked' WHERE id = ?", (tid,))
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "late"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "locked"
