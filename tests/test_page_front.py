"""PageFront repeats anonymous page answers the response cache still holds:
the same bytes and headers as the first answer, and never a stale page."""

from __future__ import annotations

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


async def test_signed_in_readers_go_the_whole_way(site):
    s = await seed(site)
    url = f"/t/{s['thread']['id']}"
    for _ in range(2):
        page = await s["ada"].get(url)
        assert page.status_code == 200 and page.headers["cache-control"].startswith("private")
    assert front_of(site.app)._answers == {}
