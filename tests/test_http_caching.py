"""Pages cached like the JSON: one shared body per route and role, each
reader's own parts put in per request; ETags, 304s and Cache-Control;
compression; content-digest static files; per-page scripts; and the
X-Forwarded-* headers believed only from configured proxies."""

import gzip
import re

from tests.conftest import PASSWORD, seed


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def withdraw_buttons(html: str) -> list[tuple[str, bool]]:
    """(author, shown) for every Withdraw button on a page."""
    return [
        (m.group(1), m.group(2) is None)
        for m in re.finditer(
            r'href="/a/\d+/withdraw" data-action="cancel" data-id="\d+" data-author="([^"]*)"( hidden)?>',
            html,
        )
    ]


async def test_readers_never_see_each_others_parts(site):
    s = await seed(site)
    carol, dave = await site.client("carol"), await site.client("dave")
    await site.user("carol")
    marks = site.app.state.placeholders
    pages = ["/", "/g/comp.lang.python", f"/t/{s['thread']['id']}", f"/t/{s['thread']['id']}?view=flat"]
    seen: dict[str, set[str]] = {"carol": set(), "dave": set()}
    for _ in range(2):  # the second round is served from the cache
        for path in pages:
            for name, client in (("carol", carol), ("dave", dave)):
                r = await client.get(path)
                assert r.status_code == 200, path
                other = "Dave" if name == "carol" else "Carol"
                assert f'title="Your account: {name} (member)">{name.title()}' in r.text, path
                assert other not in r.text, path
                for mark in (marks.username, marks.display_name, marks.csrf, marks.unread_prefix):
                    assert mark not in r.text, path
                assert r.headers["cache-control"] == "private, no-cache"
                seen[name].add(csrf_of(r.text))
    assert not seen["carol"] & seen["dave"]
    # each token is the reader's own: it signs out that reader and no one else
    r = await carol.post("/logout", data={"csrf": next(iter(seen["dave"]))})
    assert r.status_code == 403
    r = await carol.post("/logout", data={"csrf": next(iter(seen["carol"]))})
    assert r.status_code in (302, 303)


async def test_own_articles_and_moderator_controls(site):
    s = await seed(site)
    url = f"/t/{s['thread']['id']}"
    bob, mod = await site.client("bob"), await site.client("mona", "moderator")
    anon = await site.client()
    for _ in range(2):
        ada_page, bob_page = (await s["ada"].get(url)).text, (await bob.get(url)).text
        mod_page, anon_page = (await mod.get(url)).text, (await anon.get(url)).text
        assert withdraw_buttons(ada_page) == [("ada", True), ("ada", True)]
        assert withdraw_buttons(bob_page) == []  # not even hidden: a text browser would show it
        assert withdraw_buttons(mod_page) == [("ada", True), ("ada", True)]
        assert withdraw_buttons(anon_page) == []
        # the dialog itself comes from /fragment/mod-dialog, fetched by moderate.js
        assert (
            "/moderate.js" in mod_page and "Split from here" in mod_page and 'id="mod-dialog"' not in mod_page
        )
        for page in (ada_page, bob_page, anon_page):
            assert (
                'id="mod-dialog"' not in page and "moderate.js" not in page and "Split from here" not in page
            )
        assert "/thread.js" in anon_page and "/group.js" not in anon_page
    group_page = (await anon.get("/g/comp.lang.python")).text
    assert "/group.js" in group_page and "/thread.js" not in group_page
    dialog = await mod.get("/fragment/mod-dialog")
    assert dialog.status_code == 200 and 'id="mod-dialog"' in dialog.text
    assert '<option value="comp.lang.python">' in dialog.text
    assert (await bob.get("/fragment/mod-dialog")).status_code == 403
    assert (await anon.get("/fragment/mod-dialog")).status_code == 401


async def test_unread_counts_stay_per_reader(site):
    s = await seed(site)
    bob, carol = await site.client("bob"), await site.client("carol")
    assert "new</a>" in (await bob.get("/")).text
    await bob.get("/g/comp.lang.python")  # a group's list marks nothing read
    assert "new</a>" in (await bob.get("/")).text
    await bob.get(f"/t/{s['thread']['id']}")  # the thread page marks what it showed
    await site.site.reads.flush()
    assert "new</a>" not in (await bob.get("/")).text
    assert re.search(r'class="unread" href="/g/comp.lang.python">2 new', (await carol.get("/")).text)
    await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "one more"})
    assert re.search(r'class="unread" href="/g/comp.lang.python">1 new', (await bob.get("/")).text)
    assert re.search(r'class="unread" href="/g/comp.lang.python">3 new', (await carol.get("/")).text)
    assert "new</a>" not in (await (await site.client()).get("/")).text


async def test_anonymous_pages_are_public_and_revalidate(site):
    s = await seed(site)
    anon = await site.client()
    url = f"/t/{s['thread']['id']}"
    r = await anon.get(url)
    assert r.headers["cache-control"].startswith("public, max-age=0, s-maxage=10, stale-while-revalidate=")
    assert "set-cookie" not in r.headers
    assert "Cookie" in r.headers["vary"] and "Accept-Encoding" in r.headers["vary"]
    etag = r.headers["etag"]
    again = await anon.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "news for the cache"})
    fresh = await anon.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and "news for the cache" in fresh.text and fresh.headers["etag"] != etag


async def test_signed_in_pages_revalidate_per_reader(site):
    s = await seed(site)
    bob, carol = await site.client("bob"), await site.client("carol")
    url = f"/t/{s['thread']['id']}"
    first = await bob.get(url)
    await bob.get(url)  # now bob's CSRF cookie is set, so the ETag is stable
    r = await bob.get(url)
    etag = r.headers["etag"]
    assert etag.startswith('W/"')
    assert (await bob.get(url, headers={"If-None-Match": etag})).status_code == 304
    assert (await carol.get(url, headers={"If-None-Match": etag})).status_code == 200
    await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "later"})
    assert (await bob.get(url, headers={"If-None-Match": etag})).status_code == 200
    assert first.headers["cache-control"] == "private, no-cache"


async def test_json_has_etags(site):
    s = await seed(site)
    anon = await site.client()
    url = f"/api/threads/{s['thread']['id']}"
    r = await anon.get(url)
    assert r.headers["etag"] and r.headers["cache-control"].startswith("public")
    assert (await anon.get(url, headers={"If-None-Match": r.headers["etag"]})).status_code == 304
    assert (
        await anon.get(url, headers={"If-None-Match": '"other", ' + r.headers["etag"]})
    ).status_code == 304


async def test_compression(site):
    s = await seed(site)
    for n in range(30):
        await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": f"reply {n} " * 40})
    anon = await site.client()
    for url in (
        f"/t/{s['thread']['id']}",
        f"/api/threads/{s['thread']['id']}",
        "/static/moot.css",
        f"/api/threads/{s['thread']['id']}/mbox",
        "/api/groups/comp.lang.python/feed.atom",
    ):
        plain = await anon.get(url, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and "content-encoding" not in plain.headers, url
        for _ in range(2):  # stored compressed on the first, served stored on the second
            packed = await anon.get(url, headers={"Accept-Encoding": "gzip"})
            assert packed.headers["content-encoding"] == "gzip", url
            assert packed.content == plain.content, url  # httpx decodes it
            assert int(packed.headers.get("content-length", 0) or 0) < len(plain.content), url


async def test_gzip_of_a_cached_page_is_stored_once(site):
    s = await seed(site)
    anon = await site.client()
    url = f"/t/{s['thread']['id']}"
    await anon.get(url, headers={"Accept-Encoding": "identity"})  # stored (once no event is pending)
    await anon.get(url, headers={"Accept-Encoding": "identity"})
    for _ in range(3):
        assert (await anon.get(url, headers={"Accept-Encoding": "gzip"})).headers[
            "content-encoding"
        ] == "gzip"
    entries = [entry for _, entry in site.site.responses._entries.values()]
    stored = [e for e in entries if e._gzip is not None]
    assert len(stored) == 1 and gzip.decompress(stored[0]._gzip) == stored[0].body


async def test_static_files_by_digest(site):
    anon = await site.client()
    page = (await anon.get("/")).text
    css = re.search(r'href="(/static/v/([0-9a-f]+)/moot.css)"', page)
    assert css
    r = await anon.get(css.group(1))
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable"
    # modules import one another relatively, so they resolve inside the same version
    assert (await anon.get(f"/static/v/{css.group(2)}/api.js")).status_code == 200
    old = await anon.get("/static/v/0000/moot.css")
    assert old.status_code == 200 and "immutable" not in old.headers.get("cache-control", "")
    plain = await anon.get("/static/moot.css")
    assert plain.status_code == 200 and "immutable" not in plain.headers.get("cache-control", "")
    assert (await anon.get("/static/v/" + css.group(2) + "/nothing.js")).status_code == 404


async def register(client, name: str, headers: dict | None = None) -> int:
    r = await client.post(
        "/api/register", json={"username": name, "password": PASSWORD}, headers=headers or {}
    )
    return r.status_code


async def test_forwarded_headers_ignored_without_trusted_proxies(make_site):
    site = await make_site(register_rate=1.0)
    client = await site.client()
    assert await register(client, "first1", {"X-Forwarded-For": "203.0.113.1"}) == 201
    # a forged address does not escape the limit of the real one
    assert await register(client, "second2", {"X-Forwarded-For": "203.0.113.2"}) == 429
    page = await client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert 'href="http://testserver/"' in page.text


async def test_forwarded_headers_believed_from_trusted_proxies(make_site):
    site = await make_site(register_rate=1.0, trusted_proxies=("127.0.0.0/8",))
    client = await site.client()
    # httpx's ASGI transport presents its requests as coming from 127.0.0.1
    assert await register(client, "first1", {"X-Forwarded-For": "203.0.113.1"}) == 201
    assert await register(client, "second2", {"X-Forwarded-For": "203.0.113.2"}) == 201
    assert await register(client, "third3", {"X-Forwarded-For": "203.0.113.2"}) == 429
    page = await client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert 'href="https://testserver/"' in page.text
