"""Writing a reply: the quote the reply form starts with (the whole article
without its own quotes, or a passage as written) and the preview endpoint."""

from html import unescape

from moot.store.validate import BODY_MAX_BYTES
from moot.web.rendering import when
from moot.web.security import JSON_MAX_BYTES
from tests.conftest import seed

BODY = "Ann wrote:\n> tabs are fine\n>> older\n\nI disagree: https://e.org/spaces\n\n-- \nBob"


async def posted(site) -> dict:
    s = await seed(site)
    bob = await site.client("bob")
    r = await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": BODY})
    return r.json()["article"]


def textarea(html: str) -> str:
    return unescape(html.split("</textarea>")[0].rsplit(">", 1)[1])


async def test_the_reply_form_quotes_the_article_without_its_quotes_under_a_dated_attribution(site):
    article = await posted(site)
    ada = await site.client("ada")
    head = f"On {when(article['created_at'])} UTC, Bob wrote:\n"
    for path in (f"/a/{article['id']}/reply", f"/a/{article['id']}/reply?fragment=1"):
        r = await ada.get(path)
        assert r.status_code == 200
        assert textarea(r.text) == head + "> I disagree: https://e.org/spaces\n\n"


async def test_the_reply_form_quotes_a_passage_as_written(site):
    article = await posted(site)
    ada = await site.client("ada")
    # rendered blocks say where they start, so a selection maps back to these lines
    page = (await ada.get(f"/t/{article['thread_id']}")).text
    assert '<pre class="q q1" data-line="1">' in page and '<pre class="t" data-line="3">' in page
    r = await ada.get(f"/a/{article['id']}/reply?fragment=1&from=1.11&to=4.10")
    assert textarea(r.text).split("\n", 1)[1] == ">> fine\n>>> older\n>\n> I disagree\n\n"
    before = site.snapshot()
    for query in ("from=1.7", "from=1&to=2", "from=a.b&to=1.1", "from=3.0&to=1.0", "from=99999999.0&to=1.0"):
        r = await ada.get(f"/a/{article['id']}/reply?fragment=1&{query}")
        assert r.status_code == 400, query
    assert site.snapshot() == before


async def test_preview_renders_as_the_page_does(site):
    article = await posted(site)
    ada = await site.client("ada")
    r = await ada.post("/api/preview", json={"body": BODY})
    assert r.status_code == 200
    page = (await ada.get(f"/t/{article['thread_id']}")).text
    assert r.json()["html"] in page
    r = await ada.post("/api/preview", json={"body": "<b>x</b> > y"})
    assert "&lt;b&gt;" in r.json()["html"] and "<b>" not in r.json()["html"]


async def test_preview_refuses_bad_input(site):
    await seed(site)
    ada = await site.client("ada")
    before = site.snapshot()
    assert (await ada.post("/api/preview", json={"body": ""})).status_code == 400
    assert (await ada.post("/api/preview", json={"body": 3})).status_code == 400
    assert (await ada.post("/api/preview", json={"body": "x\x00"})).status_code == 400
    assert (await ada.post("/api/preview", json={"body": "x" * (BODY_MAX_BYTES + 1)})).status_code == 413
    assert (await ada.post("/api/preview", json={"body": "x" * JSON_MAX_BYTES})).status_code == 413
    # a cross-site form cannot send JSON, another origin is refused, and readers must sign in
    r = await ada.post(
        "/api/preview", content="body=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 415
    r = await ada.post("/api/preview", json={"body": "x"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert (await (await site.client()).post("/api/preview", json={"body": "x"})).status_code == 401
    assert site.snapshot() == before
