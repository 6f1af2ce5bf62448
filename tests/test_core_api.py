"""The core JSON API through the real app on a real database file."""

from tests.conftest import PASSWORD, seed


async def test_register_login_me_logout(site):
    anon = await site.client()
    r = await anon.post("/api/register", json={"username": "first", "password": "long enough pw"})
    assert r.status_code == 201
    assert r.json()["user"]["role"] == "admin"  # the first account of a new site
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert (await anon.get("/api/me")).json()["user"]["username"] == "first"

    other = await site.client()
    r = await other.post(
        "/api/register",
        json={"username": "second", "password": "long enough pw", "display_name": "Second Person"},
    )
    assert r.json()["user"] == {
        "id": 2,
        "username": "second",
        "display_name": "Second Person",
        "role": "member",
    }
    assert (await other.post("/api/logout", json={})).status_code == 204
    assert (await other.get("/api/me")).status_code == 401

    r = await other.post("/api/login", json={"username": "second", "password": "wrong password"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "auth_required"
    r = await other.post("/api/login", json={"username": "second", "password": "long enough pw"})
    assert r.status_code == 200 and r.json()["user"]["username"] == "second"
    assert (await other.get("/api/me")).json()["user"]["role"] == "member"


async def test_login_rotates_session_and_logout_revokes_it(site):
    await site.user("ada")
    client = await site.client()
    r = await client.post("/api/login", json={"username": "ada", "password": PASSWORD})
    first = client.cookies["moot_session"]
    r = await client.post("/api/login", json={"username": "ada", "password": PASSWORD})
    second = client.cookies["moot_session"]
    assert r.status_code == 200 and first != second
    stale = await site.client()
    stale.cookies.set("moot_session", first)
    assert (await stale.get("/api/me")).status_code == 401  # the old session ended at login
    await client.post("/api/logout", json={})
    replay = await site.client()
    replay.cookies.set("moot_session", second)
    assert (await replay.get("/api/me")).status_code == 401  # revoked server-side


async def test_forged_cookie_is_ignored(site):
    client = await site.client()
    client.cookies.set("moot_session", "abc.def.ghi")
    assert (await client.get("/api/me")).status_code == 401


async def test_login_throttled_after_failures(make_site):
    site = await make_site(login_attempts=3)
    await site.user("ada")
    client = await site.client()
    for _ in range(3):
        r = await client.post("/api/login", json={"username": "ada", "password": "not the password"})
        assert r.status_code == 401
    r = await client.post("/api/login", json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) > 0


async def test_posting_rate_limit(make_site):
    site = await make_site(post_rate=1.0, post_burst=2)
    s = await seed(site)  # the seed posts twice as ada: the burst is spent
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "third"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1


async def test_admin_creates_a_read_only_group(site):
    admin = await site.client("root", "admin")
    r = await admin.post(
        "/api/groups", json={"name": "news.announce", "description": "Notices", "status": "n"}
    )
    assert r.status_code == 201 and r.json()["group"]["status"] == "n"


async def test_refused_posts_do_not_spend_the_rate(make_site):
    site = await make_site(post_rate=1.0, post_burst=3)
    s = await seed(site)  # two posts spent, one left
    for _ in range(5):
        r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": ""})
        assert r.status_code == 400
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "lands"})
    assert r.status_code == 201
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "too soon"})
    assert r.status_code == 429


async def test_groups_threads_and_tree(site):
    s = await seed(site)
    ada, bob = s["ada"], await site.client("bob")
    r = await bob.post(f"/api/articles/{s['reply']['id']}/replies", json={"body": "Deeper"})
    deep = r.json()["article"]
    assert deep["depth"] == 2 and deep["parent_id"] == s["reply"]["id"]
    assert deep["subject"] == "Re: Hello"
    assert deep["references"] == [s["root"]["message_id"], s["reply"]["message_id"]]
    assert deep["author"] == {"username": "bob", "display_name": "Bob"}
    r = await ada.post(
        f"/api/articles/{s['root']['id']}/replies", json={"body": "Second branch", "subject": "New angle"}
    )
    second = r.json()["article"]

    page = (await bob.get(f"/api/threads/{s['thread']['id']}")).json()
    assert [a["id"] for a in page["articles"]] == [
        s["root"]["id"],
        s["reply"]["id"],
        deep["id"],
        second["id"],
    ]
    assert [a["depth"] for a in page["articles"]] == [0, 1, 2, 1]
    assert page["thread"]["article_count"] == 4 and page["next_cursor"] is None

    # keyset pagination walks the same order
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await bob.get(f"/api/threads/{s['thread']['id']}", params=params)).json()
        seen += [a["id"] for a in page["articles"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [s["root"]["id"], s["reply"]["id"], deep["id"], second["id"]]

    group = (await bob.get("/api/groups/comp.lang.python")).json()["group"]
    assert group["thread_count"] == 1 and group["article_count"] == 4
    assert "owner" not in group
    assert [g["name"] for g in (await bob.get("/api/groups")).json()["groups"]] == ["comp.lang.python"]
    numbers = [a["number"] for a in (await bob.get(f"/api/threads/{s['thread']['id']}")).json()["articles"]]
    assert sorted(numbers) == [1, 2, 3, 4]


async def test_thread_list_newest_activity_first_with_cursor(site):
    s = await seed(site)
    ada = s["ada"]
    ids = [s["thread"]["id"]]
    for n in range(4):
        r = await ada.post("/api/groups/comp.lang.python/threads", json={"subject": f"T{n}", "body": "x"})
        ids.append(r.json()["thread"]["id"])
    # activity in the first thread brings it back to the top
    await ada.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "bump"})
    listed, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await ada.get("/api/groups/comp.lang.python/threads", params=params)).json()
        listed += [t["id"] for t in page["threads"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(listed) == sorted(ids) and len(listed) == len(set(listed))
    assert listed[0] == s["thread"]["id"]
    archived = (await ada.get("/api/groups/comp.lang.python/threads?state=archived")).json()
    assert archived == {"threads": [], "next_cursor": None}


async def test_article_by_id_and_message_id(site):
    s = await seed(site)
    anon = await site.client()
    mid = s["reply"]["message_id"]
    assert mid.startswith("<") and mid.endswith("@test.moot>")
    by_id = (await anon.get(f"/api/articles/{s['reply']['id']}")).json()["article"]
    by_mid = (await anon.get("/api/articles/" + mid.replace("<", "%3C").replace(">", "%3E"))).json()[
        "article"
    ]
    assert by_id == by_mid and by_id["body"] == "A reply"


async def test_cancel_keeps_place_and_writes_event(site):
    s = await seed(site)
    r = await s["ada"].post(f"/api/articles/{s['reply']['id']}/cancel", json={"reason": "typo"})
    assert r.status_code == 200
    article = r.json()["article"]
    assert article["status"] == "cancelled" and "withdrawn" in article["body"]
    page = (await s["ada"].get(f"/api/threads/{s['thread']['id']}")).json()
    assert [a["id"] for a in page["articles"]] == [s["root"]["id"], s["reply"]["id"]]
    async with site.db.read() as conn:
        rows = await (await conn.execute("SELECT type, thread_id FROM events ORDER BY id")).fetchall()
        hits = await (
            await conn.execute("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'reply'")
        ).fetchall()
    assert [tuple(r) for r in rows][-1] == ("article.cancelled", s["thread"]["id"])
    assert hits == []  # cancelled text leaves the search index

    # a moderator may cancel anyone's article, and that is logged publicly
    mod = await site.client("mod", "moderator")
    r = await mod.post(f"/api/articles/{s['root']['id']}/cancel", json={"reason": "spam"})
    assert r.status_code == 200 and "moderator" in r.json()["article"]["body"]
    async with site.db.read() as conn:
        log = await (
            await conn.execute("SELECT action, reason, article_id FROM modlog WHERE action = 'cancel'")
        ).fetchall()
    assert [tuple(r) for r in log] == [("cancel", "spam", s["root"]["id"])]


async def test_every_change_writes_an_event(site):
    s = await seed(site)
    async with site.db.read() as conn:
        rows = await (
            await conn.execute("SELECT id, type, group_name, thread_id, data FROM events ORDER BY id")
        ).fetchall()
    assert [r["type"] for r in rows] == ["group.created", "thread.created", "article.created"]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    import json

    assert json.loads(rows[2]["data"]) == s["reply"]  # same shape as the API's article


async def test_restart_keeps_articles(tmp_path, make_site):
    path = str(tmp_path / "keep.db")
    first = await make_site(db_path=path)
    s = await seed(first)
    mid = s["reply"]["message_id"]
    before = (await (await first.client()).get(f"/api/articles/{s['reply']['id']}")).json()
    second = await make_site(db_path=path)
    after = (await (await second.client()).get("/api/articles/" + mid)).json()
    assert before == after
