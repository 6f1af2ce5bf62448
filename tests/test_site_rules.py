"""Smaller safety rules: quiet client hang-ups, HTML 500 pages, the host
list, an owner-only database file, who may endorse, names that cannot pass
for someone else, and bounded anonymous group downloads."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat

import httpx

from tests.conftest import seed


async def test_a_client_that_leaves_mid_body_is_not_an_error(site, caplog):
    messages = iter(
        [{"type": "http.request", "body": b'{"username": "a', "more_body": True}, {"type": "http.disconnect"}]
    )
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/login",
        "raw_path": b"/api/login",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"500"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "app": site.app,
    }
    with caplog.at_level(logging.DEBUG):
        await site.app(scope, receive, send)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert sent[0]["type"] == "http.response.start"


async def test_server_faults_on_pages_answer_an_html_page(site):
    await seed(site)
    conn = sqlite3.connect(site.config.db_path)
    conn.execute("ALTER TABLE threads RENAME TO threads_lost")  # the database is broken under us
    conn.commit()
    conn.close()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=site.app, raise_app_exceptions=False), base_url="http://testserver"
    )
    try:
        r = await client.get("/g/comp.lang.python")
        assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
        assert "<html" in r.text.lower() and "went wrong" in r.text
        r = await client.get("/api/groups/comp.lang.python/threads")
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal"
    finally:
        await client.aclose()


async def test_allowed_hosts_refuse_other_host_headers_and_their_origins(make_site):
    site = await make_site(allowed_hosts=("moot.example", "*.moot.example"))
    client = await site.client()
    assert (await client.get("/api/groups", headers={"host": "moot.example"})).status_code == 200
    assert (await client.get("/api/groups", headers={"host": "news.moot.example:8080"})).status_code == 200
    r = await client.get("/api/groups", headers={"host": "evil.example"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid"
    # A forged Host cannot make a foreign Origin look like this site's own.
    r = await client.post(
        "/api/login",
        json={"username": "ada", "password": "whatever!"},
        headers={"host": "moot.example", "origin": "http://evil.example"},
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/login",
        json={"username": "ada", "password": "whatever!"},
        headers={"host": "moot.example", "origin": "http://moot.example"},
    )
    assert r.status_code == 401


async def test_without_allowed_hosts_any_host_is_served(site):
    client = await site.client()
    assert (await client.get("/api/groups", headers={"host": "anything.example"})).status_code == 200


async def test_the_database_files_are_owner_only(make_site, tmp_path):
    site = await make_site(db_path=str(tmp_path / "new.db"))  # made by Moot, not copied by the tests
    await seed(site)
    path = site.config.db_path
    for name in (path, path + "-wal", path + "-shm"):
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o600, name


async def test_endorsements_count_only_from_accounts_that_posted(make_site):
    site = await make_site(proposal_threshold=2, endorse_min_posts=1)
    s = await seed(site)  # ada has posted
    fresh = await site.client("fresh")
    r = await s["ada"].post("/api/proposals", json={"name": "rec.knots", "description": "Knots"})
    proposal = r.json()["proposal"]
    assert proposal["endorsements"] == 1
    r = await fresh.post(f"/api/proposals/{proposal['id']}/endorse", json={})
    assert r.json()["proposal"]["status"] == "open" and r.json()["proposal"]["endorsements"] == 1
    r = await fresh.post("/api/groups/comp.lang.python/threads", json={"subject": "Hi", "body": "Hello"})
    assert r.status_code == 201
    r = await fresh.post(f"/api/proposals/{proposal['id']}/endorse", json={})
    assert r.json()["proposal"]["status"] == "created"
    assert (await fresh.get("/api/groups/rec.knots")).status_code == 200


async def test_endorsements_from_new_accounts_do_not_count(make_site):
    site = await make_site(proposal_threshold=1, endorse_min_age_days=1)
    s = await seed(site)
    r = await s["ada"].post("/api/proposals", json={"name": "rec.knots", "description": "Knots"})
    assert r.json()["proposal"]["endorsements"] == 0 and r.json()["proposal"]["status"] == "open"
    # the proposals page says whose endorsements count, so a new member knows why theirs does not
    assert "Endorsements count from accounts at least 1 day old." in (await s["ada"].get("/proposals")).text
    conn = sqlite3.connect(site.config.db_path)
    conn.execute("UPDATE users SET created_at = '2020-01-01T00:00:00.000Z' WHERE username = 'ada'")
    conn.commit()
    conn.close()
    r = await s["ada"].post(f"/api/proposals/{r.json()['proposal']['id']}/endorse", json={})
    assert r.json()["proposal"]["status"] == "created"


async def register(client, username: str, display_name: str) -> httpx.Response:
    return await client.post(
        "/api/register", json={"username": username, "password": "long enough", "display_name": display_name}
    )


async def test_display_names_cannot_pass_for_someone_else_or_for_staff(site):
    await site.user("ada")  # display name "Ada"
    client = await site.client()
    for taken in ("ada", "ADA", "A.d.a", "Ａｄａ"):
        r = await register(client, "mallory", taken)
        assert r.status_code == 409 and "too close" in r.json()["error"]["message"], taken
    for role in ("admin", "Site Admin", "moderator", "Moder-ator", "SYSOP"):
        r = await register(client, "mallory", role)
        assert r.status_code == 400 and "role" in r.json()["error"]["message"], role
    r = await register(client, "mallory", "Mallory")
    assert r.status_code == 201
    r = await register(client, "mallory2", "mallory")  # another's username, as a display name
    assert r.status_code == 409


async def test_pages_show_the_username_beside_the_display_name(site):
    s = await seed(site)
    r = await s["ada"].get(f"/t/{s['thread']['id']}")
    assert 'Ada</a> <span class="handle">@ada</span>' in r.text


async def test_anonymous_group_downloads_are_bounded_per_address(make_site):
    site = await make_site(export_rate=4.0)  # bursts of one
    s = await seed(site)
    anonymous = await site.client()
    assert (await anonymous.get("/api/groups/comp.lang.python/mbox")).status_code == 200
    r = await anonymous.get("/api/groups/comp.lang.python/mbox")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert (await anonymous.get("/api/groups/no.such.group/mbox")).status_code == 404
    assert (await anonymous.get(f"/api/threads/{s['thread']['id']}/mbox")).status_code == 200
    for _ in range(3):  # signed in, downloads are not counted
        assert (await s["ada"].get("/api/groups/comp.lang.python/mbox")).status_code == 200
