"""GET /api/search through the real app: ranking, escaped highlights, filters,
keyset pages, the index in step with cancels, splits and moves, and no 500s."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.articles import search as search_module
from tests.conftest import seed


async def post(client, group, subject, body):
    r = await client.post(f"/api/groups/{group}/threads", json={"subject": subject, "body": body})
    assert r.status_code == 201, r.text
    return r.json()


async def search(client, **params):
    r = await client.get("/api/search", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def every_page(client, **params) -> list[dict]:
    """The pages of one search, following next_cursor to the last."""
    pages = [await search(client, **params)]
    while pages[-1]["next_cursor"]:
        pages.append(await search(client, **params, cursor=pages[-1]["next_cursor"]))
    return pages


def article_ids(pages: list[dict]) -> list[int]:
    return [r["article"]["id"] for page in pages for r in page["results"]]


async def test_ranked_with_escaped_highlights(site):
    s = await seed(site)
    ada = s["ada"]
    await post(ada, "comp.lang.python", "Nothing here", "a body that mentions walrus once, <b>bold</b>")
    await post(ada, "comp.lang.python", "The walrus operator", "about := in <script>alert(1)</script>")
    found = await search(await site.client(), q="walrus")
    subjects = [r["article"]["subject"] for r in found["results"]]
    assert subjects == ["The walrus operator", "Nothing here"]  # a subject match weighs more
    snippets = [r["snippet"] for r in found["results"]]
    assert "<mark>walrus</mark>" in snippets[1] and "&lt;b&gt;bold&lt;/b&gt;" in snippets[1]
    assert "<script>" not in snippets[0] and "&lt;script&gt;" in snippets[0]
    assert found["results"][0]["article"]["author"] == {"username": "ada", "display_name": "Ada"}
    assert found["next_cursor"] is None
    phrase = await search(await site.client(), q='"walrus operator"')
    assert [r["article"]["subject"] for r in phrase["results"]] == ["The walrus operator"]
    assert (await search(await site.client(), q="walrus -operator"))["results"][0]["article"][
        "subject"
    ] == "Nothing here"
    assert len((await search(await site.client(), q="walr*"))["results"]) == 2


async def test_filters(site):
    s = await seed(site)
    admin, ada = s["admin"], s["ada"]
    await admin.post("/api/groups", json={"name": "rec.music.folk", "description": "Folk"})
    bob = await site.client("bob")
    await post(bob, "rec.music.folk", "Banjo tuning", "open G for the banjo")
    banjo_py = await post(ada, "comp.lang.python", "Banjo in Python", "a banjo synthesiser")
    anon = await site.client()

    def subjects(page):
        return sorted(r["article"]["subject"] for r in page["results"])

    assert subjects(await search(anon, q="banjo group:rec.music.folk")) == ["Banjo tuning"]
    assert subjects(await search(anon, q="banjo", group="comp.lang.python")) == ["Banjo in Python"]
    assert subjects(await search(anon, q="banjo group:rec.*")) == ["Banjo tuning"]
    assert subjects(await search(anon, q="banjo author:bob")) == ["Banjo tuning"]
    assert subjects(await search(anon, q="author:Bob")) == ["Banjo tuning"]  # filters alone: newest first
    assert subjects(await search(anon, q="banjo after:2000 before:2999")) == [
        "Banjo in Python",
        "Banjo tuning",
    ]
    assert subjects(await search(anon, q="banjo before:2001")) == []
    assert subjects(await search(anon, q="banjo is:archived")) == []
    moderator = await site.client("mod", "moderator")
    r = await moderator.post(f"/api/threads/{banjo_py['thread']['id']}/archive", json={"reason": "done"})
    assert r.status_code == 200, r.text
    assert subjects(await search(anon, q="banjo is:archived")) == ["Banjo in Python"]
    assert subjects(await search(anon, q="banjo", state="open")) == ["Banjo tuning"]
    assert subjects(await search(anon, q="group:nowhere.at.all banjo")) == []
    for bad in ["banjo before:soon", "is:closed"]:
        r = await anon.get("/api/search", params={"q": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid"


async def test_pages_follow_the_cursor_without_gaps_or_repeats(site):
    s = await seed(site)
    for i in range(23):
        await post(s["ada"], "comp.lang.python", f"Kettle {i}", "kettle " * (1 + i % 5) + f"number {i}")
    anon = await site.client()
    for params in ({"q": "kettle"}, {"q": "author:ada"}):
        pages = await every_page(anon, limit=10, **params)
        seen = article_ids(pages)
        assert seen == article_ids([await search(anon, limit=100, **params)])
        assert len(set(seen)) == len(seen) >= 23 and len(pages) == (len(seen) + 9) // 10
    r = await anon.get("/api/search", params={"q": "kettle", "cursor": "forged"})
    assert r.status_code == 400


async def test_ranking_window_and_broad_queries(site, monkeypatch):
    s = await seed(site)
    ids = [
        (await post(s["ada"], "comp.lang.python", f"Teapot {i}", "teapot " * (1 + i % 3)))["article"]["id"]
        for i in range(12)
    ]
    anon = await site.client()
    monkeypatch.setattr(search_module, "WINDOW", 5)
    monkeypatch.setattr(search_module, "BROAD", 2.0)  # never broad: ranked among the newest 5
    pages = await every_page(anon, q="teapot", limit=3)
    assert pages[0]["order"] == "relevance"
    assert sorted(article_ids(pages)) == ids[-5:]
    monkeypatch.setattr(search_module, "BROAD", 0.5)  # every recent article matches: broad
    pages = await every_page(anon, q="teapot", limit=5)
    assert pages[0]["order"] == "newest"
    assert article_ids(pages) == ids[::-1]
    assert all("<mark>teapot</mark>" in r["snippet"] for page in pages for r in page["results"])


async def test_index_follows_cancels_splits_and_moves(site):
    s = await seed(site)
    ada, admin = s["ada"], s["admin"]
    await admin.post("/api/groups", json={"name": "misc.test", "description": "Tests"})
    started = await post(ada, "comp.lang.python", "Zeppelin", "the first zeppelin")
    r = await ada.post(
        f"/api/articles/{started['article']['id']}/replies", json={"body": "airship zeppelin reply"}
    )
    reply = r.json()["article"]
    anon = await site.client()
    assert len((await search(anon, q="zeppelin"))["results"]) == 2

    moderator = await site.client("mod", "moderator")
    r = await moderator.post(
        f"/api/threads/{started['thread']['id']}/split",
        json={"article_id": reply["id"], "reason": "its own topic"},
    )
    assert r.status_code == 201, r.text
    new_thread = r.json()["thread"]["id"]
    hit = (await search(anon, q="airship"))["results"][0]["article"]
    assert hit["thread_id"] == new_thread  # search shows where the article lives now
    r = await moderator.post(
        f"/api/threads/{new_thread}/move", json={"group": "misc.test", "reason": "fits better"}
    )
    assert r.status_code == 200, r.text
    assert [x["article"]["id"] for x in (await search(anon, q="zeppelin group:misc.test"))["results"]] == [
        reply["id"]
    ]

    r = await ada.post(f"/api/articles/{reply['id']}/cancel", json={})
    assert r.status_code == 200
    assert (await search(anon, q="airship"))["results"] == []
    assert (await search(anon, q="author:ada group:misc.test"))["results"] == []  # filter-only too


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    q=st.text(max_size=80),
    extra=st.sampled_from(
        [
            {},
            {"group": "comp.lang.python"},
            {"author": "ada"},
            {"state": "archived"},
            {"limit": "3"},
            {"after": "2020"},
            {"cursor": "eyJ4Ijox"},
            {"author": "x@y"},
        ]
    ),
)
async def test_no_query_string_is_a_server_error(site, q, extra):
    if not getattr(site, "seeded", False):
        s = await seed(site)
        await post(s["ada"], "comp.lang.python", "Fuzz target", 'words "quoted" AND OR NOT * ^ : ( )')
        site.seeded = True
    r = await (await site.client()).get("/api/search", params={"q": q, **extra})
    assert r.status_code in (200, 400), (q, extra, r.text)
