"""Atom feeds as a real feed reader (feedparser) sees them."""

import xml.etree.ElementTree as ET

import feedparser

from moot.articles import feeds
from tests.archive_support import build_group


async def test_group_feed_lists_new_threads(site):
    made = await build_group(site, threads=3)
    r = await (await site.client()).get("/api/groups/comp.lang.python/feed.atom")
    assert r.status_code == 200 and r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    ET.fromstring(r.content)  # well-formed XML
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title.startswith("comp.lang.python")
    assert feed.feed.id.startswith("tag:test.moot,")
    roots = {a["message_id"]: a for a in made["articles"] if a["parent_id"] is None}
    assert len(feed.entries) == 3
    for entry in feed.entries:
        mid = "<" + entry.id.removeprefix("mid:").replace("%3C", "<") + ">"
        root = roots[mid]
        assert entry.title == root["subject"]
        assert entry.author == root["author"]["display_name"]
        assert entry.content[0].value == root["body"]
        assert entry.link == f"http://testserver/t/{root['thread_id']}"
        assert entry.published == root["created_at"]


async def test_thread_feed_has_every_article_with_stable_ids(site):
    made = await build_group(site, threads=1)
    thread = made["threads"][0]
    anon = await site.client()
    r = await anon.get(f"/api/threads/{thread['id']}/feed.atom")
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.bozo_exception
    assert sorted(e.id for e in feed.entries) == sorted(
        feeds.mid_uri(a["message_id"]) for a in made["articles"]
    )
    assert {e.content[0].value for e in feed.entries} == {a["body"] for a in made["articles"]}
    # A split moves an article to a new thread; its entry id stays the same.
    moved = made["articles"][3]
    moderator = await site.client("mod", "moderator")
    r = await moderator.post(
        f"/api/threads/{thread['id']}/split", json={"article_id": moved["id"], "reason": "new topic"}
    )
    assert r.status_code == 201, r.text
    r = await anon.get(f"/api/threads/{r.json()['thread']['id']}/feed.atom")
    ids = [e.id for e in feedparser.parse(r.content).entries]
    assert feeds.mid_uri(moved["message_id"]) in ids


async def test_feed_errors_and_hostile_text(site):
    anon = await site.client()
    assert (await anon.get("/api/groups/nope/feed.atom")).status_code == 404
    assert (await anon.get("/api/threads/12345/feed.atom")).status_code == 404
    xml = feeds.thread_feed(
        {"id": 1, "subject": "]]> <x> & \ufffe", "created_at": "2026-01-01T00:00:00.000Z", "group_name": "g"},
        [
            {
                "message_id": "<a/b%c@d>",
                "subject": "<script>",
                "author_name": "A & B",
                "body": "</content><evil/>\x0c",
                "created_at": "2026-01-01T00:00:00.000Z",
            }
        ],
        base_url="http://x/",
        domain="test.moot",
        site_name="Moot",
    )
    feed = feedparser.parse(xml)
    assert not feed.bozo
    assert feed.entries[0].content[0].value == "</content><evil/>"
    assert feed.entries[0].title == "<script>" and feed.entries[0].id == "mid:a%2Fb%25c@d"


def test_the_characters_feeds_drop_are_exactly_those_xml_refuses():
    allowed = ((0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF))

    def xml_char(c: int) -> bool:  # XML 1.0 §2.2, Char
        return any(low <= c <= high for low, high in allowed)

    edges = {e + d for low, high in allowed for e in (low, high) for d in (-1, 0, 1)}
    edges |= set(range(0x30)) | {0xD800, 0xDBFF, 0xDC00, 0xDFFF}
    for c in sorted(edges - {-1, 0x110000}):
        assert (feeds.xml_text(chr(c)) == chr(c)) == xml_char(c), hex(c)
