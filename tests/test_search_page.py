"""The search page and API as a reader meets them: a form whose fields are
labelled and typed, snippets in the author's own words, a best match / newest
switch whose cursors page both orders, and plain error texts."""

import re
from html.parser import HTMLParser

from tests.conftest import seed

QUOTING = "On 2026-01-02, Ada wrote:\n> > > > Tabs are the one true indent\n\nSpaces line up; tabs drift.\n"


class Tags(HTMLParser):
    """Start tags with their attributes, and the text inside elements with an id."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


async def post(client, subject, body):
    r = await client.post("/api/groups/comp.lang.python/threads", json={"subject": subject, "body": body})
    assert r.status_code == 201, r.text
    return r.json()["article"]["id"]


async def every_page(client, **params) -> tuple[list[int], list[str]]:
    """Article ids over every page of one search, and each page's order."""
    ids, orders, cursor = [], [], None
    while True:
        r = await client.get("/api/search", params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        found = r.json()
        ids += [x["article"]["id"] for x in found["results"]]
        orders.append(found["order"])
        if not (cursor := found["next_cursor"]):
            return ids, orders


async def test_the_form_has_named_landmarks_typed_dates_and_a_sort(site):
    await seed(site)
    page = Tags(
        (await (await site.client()).get("/search", params={"after": "2026-01", "before": "2027"})).text
    )
    landmarks = [a.get("aria-label") for t, a in page.tags if a.get("role") == "search"]
    assert len(landmarks) == 2 and all(landmarks) and len(set(landmarks)) == 2
    # A date field shows the day its period starts, which filters the same.
    assert page.find("input", id="after")[0] | {} == {
        "id": "after",
        "name": "after",
        "type": "date",
        "min": "1000-01-01",
        "value": "2026-01-01",
        "placeholder": "YYYY-MM-DD",
    }
    assert page.find("input", id="before")[0]["value"] == "2027-01-01"
    assert [a["value"] for a in page.find("option") if "selected" in a] == ["", "relevance"]
    for field in ("q", "group", "author", "after", "before", "state", "sort"):
        assert page.find("label", **{"for": field}), field
    # The fields sit in their own grid cells, not in the row of the words box.
    css = (await (await site.client()).get("/static/moot.css")).text
    assert ".searchform input { grid-row" not in css and "minmax(min(12rem, 100%), 1fr)" in css


async def test_snippets_show_the_authors_words_not_the_quote(site):
    s = await seed(site)
    await post(s["ada"], "Indentation", QUOTING)
    anon = await site.client()
    for params in ({"q": "tabs"}, {"q": "tabs", "sort": "newest"}, {"q": "tab*"}):
        (hit,) = (await anon.get("/api/search", params=params)).json()["results"]
        assert hit["snippet"] == "Spaces line up; <mark>tabs</mark> drift.", params
    (hit,) = (await anon.get("/api/search", params={"q": "indentation"})).json()["results"]
    assert hit["snippet"] == "Spaces line up; tabs drift."  # a subject match: the author's opening words
    page = (await anon.get("/search", params={"q": "tabs"})).text
    assert '<p class="snippet">Spaces line up; <mark>tabs</mark> drift.</p>' in page
    assert "&gt; &gt;" not in page


async def test_relevance_and_newest_orders_page_with_their_own_cursors(site):
    s = await seed(site)
    strong = await post(s["ada"], "Kettle kettle kettle", "kettle")
    weak = [await post(s["ada"], f"Note {i}", f"about the kettle and {i} other things") for i in range(4)]
    anon = await site.client()
    ids, orders = await every_page(anon, q="kettle", limit=2)
    assert ids[0] == strong and sorted(ids) == sorted([strong, *weak]) and set(orders) == {"relevance"}
    for sort in ("newest", "relevance"):
        assert (await every_page(anon, q="kettle", limit=2, sort=sort))[0] == (
            ids if sort == "relevance" else [*weak[::-1], strong]
        )
    assert set((await every_page(anon, q="kettle", limit=2, sort="newest"))[1]) == {"newest"}
    # A ranked cursor given to newest is refused (relevance may fall back to newest, so the reverse is not).
    first = (await anon.get("/api/search", params={"q": "kettle", "limit": 2})).json()["next_cursor"]
    r = await anon.get("/api/search", params={"q": "kettle", "cursor": first, "sort": "newest"})
    assert r.status_code == 400 and "cursor is not one this server issued" in r.text
    for bad in ("oldest", "NEWEST", "x" * 300):
        r = await anon.get("/api/search", params={"q": "kettle", "sort": bad})
        assert r.status_code == 400 and "sort takes relevance or newest" in r.text
        assert (await anon.get("/search", params={"q": "kettle", "sort": bad})).status_code == 400


async def test_the_page_switches_order_and_keeps_it_across_pages(site, monkeypatch):
    from moot.web import search as search_page

    monkeypatch.setattr(search_page, "RESULTS_PAGE", 2)
    s = await seed(site)
    for i in range(3):
        await post(s["ada"], f"Pot {i}", "teapot " * (i + 1))
    anon = await site.client()
    ranked = (await anon.get("/search", params={"q": "teapot"})).text
    switch = re.search(r'<p class="sort-switch" id="sort-switch">(.*?)</p>', ranked, re.S)[1]
    assert (
        "<strong>best match first</strong>" in switch and 'href="/search?q=teapot&amp;sort=newest"' in switch
    )
    newest = (await anon.get("/search", params={"q": "teapot", "sort": "newest"})).text
    assert re.findall(r'class="tsubj" href="[^"]+">([^<]+)<', newest) == ["Pot 2", "Pot 1"]
    assert (
        "<strong>newest first</strong>" in newest and 'href="/search?q=teapot&amp;sort=relevance"' in newest
    )
    more = re.search(r'<a rel="next" href="/search(\?[^"]+)"', newest)[1].replace("&amp;", "&")
    assert "sort=newest" in more
    rest = (await anon.get("/search" + more)).text
    assert re.findall(r'class="tsubj" href="[^"]+">([^<]+)<', rest) == ["Pot 0"]
    assert 'value="newest" selected' in rest


async def test_bad_dates_say_which_filter_once(site):
    await seed(site)
    anon = await site.client()
    cases = {
        ("q", "kettle before:2025-13"): "the before date 2025-13 is not a real date",
        ("before", "2025-13"): "the before date 2025-13 is not a real date",
        ("q", "after:2023-02-30"): "the after date 2023-02-30 is not a real date",
        ("after", "soon"): "the after date must be written YYYY, YYYY-MM or YYYY-MM-DD",
        ("q", "before:0999"): "the before date must be in the year 1000 or later",
    }
    for (name, value), text in cases.items():
        r = await anon.get("/api/search", params={name: value})
        assert r.status_code == 400 and text in r.text, r.text
        page = await anon.get("/search", params={name: value})
        assert page.status_code == 400 and f"That search cannot run: {text}</p>" in page.text
        assert "::" not in page.text.split('id="search-error"')[1].split("</p>")[0]


async def test_a_query_with_no_word_in_it_says_so_rather_than_listing_everything(site):
    await seed(site)
    anon = await site.client()
    for q in ('"', "( )", "-", "*"):
        page = await anon.get("/search", params={"q": q})
        assert page.status_code == 400 and "has no word to search for" in page.text, q
        assert "articles match" not in page.text and "article matches" not in page.text
    # filters alone still list what they select, newest first
    page = await anon.get("/search", params={"q": "author:ada"})
    assert page.status_code == 200 and "2 articles match" in page.text


async def test_the_group_field_takes_any_case_and_a_star_for_every_group(site):
    await seed(site)
    anon = await site.client()
    for group in ("Comp.Lang.Python", " comp.lang.* ", "*"):
        page = await anon.get("/search", params={"q": "first", "group": group})
        assert page.status_code == 200 and "1 article matches" in page.text, group
    assert (await anon.get("/search", params={"q": "first group:*"})).status_code == 200
