"""PageFront repeats anonymous page answers the response cache still holds:
the same bytes and headers as the first answer, and never a stale page."""

from __future__ import annotations

import asyncio

from moot.web.caching import PageFront
from tests.conftest import seed


def front_of(app) -> PageFront:
    layer = app.middleware_stack
    while not isinstance(layer, PageFront):
        layer = layer.app
    return layer


def kept(headers) -> dict:
    """The headers a repeat must copy: all but the request's own id."""
    return {k: v for k, v in headers.items() if k != "x-request-id"}


async def test_repeats_are_identical_and_follow_events(site):
    s = await seed(site)
    anon = await site.client()
    url = f"/t/{s['thread']['id']}"
    first = await anon.get(url)
    await anon.get("/api/health")
    front = front_of(site.app)
    assert len(front._answers) == 1  # the page, not the JSON
    again = await anon.get(url)
    assert again.content == first.content and kept(again.headers) == kept(first.headers)
    for headers in ({"Accept-Encoding": "gzip"}, {"If-None-Match": first.headers["etag"]}):
        one, two = await anon.get(url, headers=headers), await anon.get(url, headers=headers)
        assert (one.status_code, kept(one.headers), one.content) == (
            two.status_code,
            kept(two.headers),
            two.content,
        )
    assert two.status_code == 304
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "Something new"})
    assert r.status_code == 201
    changed = await anon.get(url)
    assert b"Something new" in changed.content and changed.headers["etag"] != first.headers["etag"]
    assert (await anon.get(url, headers={"If-None-Match": first.headers["etag"]})).status_code == 200


async def test_a_signed_in_reader_is_answered_again_only_while_nothing_changed(site):
    s = await seed(site)
    url = f"/t/{s['thread']['id']}"
    front = front_of(site.app)
    through: list[str] = []
    inner = front.app

    async def counting(scope, receive, send):
        through.append(scope["path"])
        await inner(scope, receive, send)

    front.app = counting

    async def view(client) -> tuple[bool, str]:
        """(whether the request went past PageFront, the page)."""
        before = len(through)
        r = await client.get(url)
        assert r.status_code == 200 and r.headers["cache-control"].startswith("private"), r.text
        return len(through) > before, r.text

    async def settled(client) -> str:
        """View until the answer comes from PageFront: the hub's own look at the
        events a commit wrote may drop kept answers once more just after it."""
        for _ in range(10):
            went, text = await view(client)
            if not went:
                return text
        raise AssertionError("a repeated view was never answered from the kept answer")

    # A long bound while commits are what is tested: a slow request under load must
    # not outlast the usual quarter of a second between two views.
    site.site.recent.ttl = 60
    bruno = await site.client("bruno")
    for client in (s["ada"], bruno):
        await view(client)  # a new CSRF cookie, and the articles noted read: neither is kept
        await view(client)
    await site.site.reads.flush()  # the marks written
    assert 'title="Your account: ada (member)"' in await settled(s["ada"])
    went, other = await view(bruno)  # keyed by the cookie: bruno never gets ada's copy
    assert went and 'title="Your account: bruno (member)"' in other and "@ada (member)" not in other

    # Any commit in this process (here: ada follows the group) makes the next view go through.
    await settled(bruno)
    r = await s["ada"].post(f"/api/groups/{s['thread']['group']}/follow", json={"on": True})
    assert r.status_code in (200, 201), r.text
    assert (await view(bruno))[0] and (await view(s["ada"]))[0]

    # A session ended elsewhere: the old cookie's kept answer is not given again.
    await settled(s["ada"])
    phone = await site.client("ada")
    listed = (await phone.get("/api/me/sessions")).json()["sessions"]
    other_session = next(x for x in listed if not x["current"])
    assert (await phone.delete(f"/api/me/sessions/{other_session['id']}")).status_code == 204
    r = await s["ada"].get(url)
    assert r.status_code == 200 and 'title="Your account: ada' not in r.text

    # And no longer than site.recent's bound, whatever happens.
    await settled(bruno)
    site.site.recent.ttl = 0.05
    await asyncio.sleep(0.1)
    assert (await view(bruno))[0]
