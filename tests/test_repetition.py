"""Repetition across groups (docs/MODERATION.md): part 1's spam run replayed
from a fresh account through the API, NNTP and mail shows one article and
holds the rest as 'repeat', freezing the account; a member's announcement
in two groups stands, in more than MOOT_REPEAT_MAX_GROUPS it is held; trivial
variations of a text or a link are the same fingerprint; approval publishes
and thaws; a peer's repeated articles are held, and its copies are duplicates."""

from __future__ import annotations

import asyncio
import io
import re
import secrets
import sqlite3
import string
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from moot.articles import repetition
from moot.store import validate
from tests.conftest import ANY_PORT, PASSWORD
from tests.mail_support import LIST, confirm_address, mail_settings, message, relay, send  # noqa: F401
from tests.nntp_support import nntplib
from tests.peering_support import Node, raw_session, wire_article
from tests.peering_support import send as nntp_send
from tests.processes import reserved_port

TEN = (
    "comp.lang.python",
    "rec.music.folk",
    "alt.test",
    "misc.misc",
    "sci.math",
    "news.software.readers",
    "comp.lang.c",
    "rec.arts.books",
    "soc.history",
    "talk.bizarre",
)
LINK = "Cheap watches: http://spam.example/buy-now"


def rows(site, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(site.config.db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def groups_site(make_site, *names: str, **settings):
    # Accounts made here are new, as on a real site (conftest's sites start them as members).
    site = await make_site(**{"trust_new_days": 2.0, "trust_new_posts": 3, **settings})
    admin = await site.client("root", "admin")
    for name in names:
        r = await admin.post("/api/groups", json={"name": name, "description": name})
        assert r.status_code == 201, r.text
    return site, admin


async def seasoned(site, username: str, posts: int = 60) -> object:
    """A signed-in member with a long history (level regular)."""
    client = await site.client(username)
    async with site.db.transaction() as conn:
        await conn.execute(
            "UPDATE users SET created_at = '2020-01-01T00:00:00.000000Z', posts = ? WHERE username = ?",
            (posts, username),
        )
    return client


def frozen(site, username: str) -> bool:
    ((at,),) = rows(site, "SELECT trust_frozen_at FROM users WHERE username = ?", username)
    return at is not None


async def test_the_spam_run_from_a_fresh_account_shows_one_article_and_holds_the_rest(make_site, relay):
    site, _ = await groups_site(make_site, *TEN, nntp_port=ANY_PORT, **mail_settings(relay))
    spammer = await site.client()
    r = await spammer.post("/api/register", json={"username": "spammer", "password": PASSWORD})
    assert r.status_code == 201, r.text
    answers = []
    for group in TEN[:6]:
        r = await spammer.post(f"/api/groups/{group}/threads", json={"subject": "Deal", "body": LINK})
        assert r.status_code in (201, 202), r.text
        answers.append(r.status_code)
    assert answers == [201, 202, 202, 202, 202, 202]

    def over_nntp() -> list[str]:
        with nntplib.NNTP("127.0.0.1", site.config.nntp_port, user="spammer", password=PASSWORD) as n:
            return [
                n.post(io.BytesIO(f"Newsgroups: {g}\r\nSubject: Deal\r\n\r\n{LINK}\r\n".encode()))
                for g in TEN[6:]
            ]

    for reply in await asyncio.to_thread(over_nntp):
        assert reply.startswith("240") and "held for the moderators" in reply, reply
    await confirm_address(spammer, relay, "spammer@example.net")
    mail = message("Spammer <spammer@example.net>", LIST, "Deal", LINK + "\n")
    assert await asyncio.to_thread(send, site.config.smtp_port, "spammer@example.net", LIST, mail) == {}

    (user_id,) = rows(site, "SELECT id FROM users WHERE username = 'spammer'")[0]
    shown = rows(site, "SELECT group_id FROM articles WHERE user_id = ? AND status = 'ok'", user_id)
    assert len(shown) == 1  # the first, in comp.lang.python
    held = rows(site, "SELECT why, channel FROM queue WHERE user_id = ? AND state = 'waiting'", user_id)
    assert sorted(held) == sorted([("repeat", "api")] * 5 + [("repeat", "nntp")] * 4 + [("repeat", "mail")])
    assert frozen(site, "spammer")
    reader = await site.client()
    hits = (await reader.get("/api/search", params={"q": "watches", "limit": 50})).json()["results"]
    assert len(hits) == 1


async def test_a_members_announcement_stands_in_two_groups_and_is_held_past_the_limit(make_site):
    site, _ = await groups_site(make_site, *TEN[:5])
    ann = await seasoned(site, "ann")
    text = "Our Python user group meets on Thursday evening at the library: https://meetup.example/python?utm_source=x"
    codes = []
    for group in TEN[:5]:
        r = await ann.post(f"/api/groups/{group}/threads", json={"subject": "Meeting", "body": text})
        codes.append(r.status_code)
        if r.status_code == 202:
            assert r.json()["held"]["why"] == "repeat"
    assert codes == [201, 201, 201, 202, 202]  # MOOT_REPEAT_MAX_GROUPS is 3
    assert frozen(site, "ann")
    # Another regular sharing the same link once is not the run; the same text, past the limit, is.
    bob = await seasoned(site, "bob")
    r = await bob.post(
        f"/api/groups/{TEN[0]}/threads", json={"subject": "Link", "body": "https://meetup.example/python"}
    )
    assert r.status_code == 201, r.text
    assert not frozen(site, "bob")
    r = await bob.post(f"/api/groups/{TEN[1]}/threads", json={"subject": "Meeting", "body": text.upper()})
    assert r.status_code == 202 and r.json()["held"]["why"] == "repeat"
    # A moderator posting the same everywhere is never held by these rules.
    mona = await site.client("mona", "moderator")
    for group in TEN[:5]:
        r = await mona.post(f"/api/groups/{group}/threads", json={"subject": "Meeting", "body": text})
        assert r.status_code == 201, r.text


async def test_several_new_accounts_variants_and_approval_that_thaws(make_site):
    site, _ = await groups_site(make_site, *TEN[:3])
    one, two = await site.client("one"), await site.client("two")
    text = "Best prices on replica watches, order 12345 today and save! https://www.shop.example/deal/"
    r = await one.post(f"/api/groups/{TEN[0]}/threads", json={"subject": "Deal", "body": text})
    assert r.status_code == 201, r.text
    variant = "> quoted from someone\nBEST  prices on replica-watches,\norder 999 today and save!!\n-- \nsig"
    r = await two.post(f"/api/groups/{TEN[1]}/threads", json={"subject": "Deal", "body": variant})
    assert r.status_code == 202 and r.json()["held"]["why"] == "repeat"  # a second new account, same text
    r = await two.post(
        f"/api/groups/{TEN[2]}/threads",
        json={"subject": "Look", "body": "see http://shop.example/deal?fbclid=7"},
    )
    assert r.status_code == 202  # the same link, tracking stripped
    assert frozen(site, "two") and not frozen(site, "one")
    # Bad input changes nothing: an unknown item, a bad action.
    mona = await site.client("mona", "moderator")
    items = (await mona.get(f"/api/groups/{TEN[1]}/queue")).json()["items"]
    (item,) = items
    assert item["why"] == "repeat" and item["author"]["username"] == "two"
    before = site.snapshot()
    assert (await mona.post(f"/api/groups/{TEN[1]}/queue/99999/approve", json={})).status_code == 404
    assert (await mona.post(f"/api/groups/{TEN[1]}/queue/{item['id']}/maybe", json={})).status_code in (
        400,
        404,
    )
    assert site.snapshot() == before
    r = await mona.post(f"/api/groups/{TEN[1]}/queue/{item['id']}/approve", json={})
    assert r.status_code == 200, r.text
    assert r.json()["article"]["body"] == variant
    assert not frozen(site, "two")


def test_normalisation_catches_trivial_variation():
    base = repetition.digests(
        "Buy now at https://www.spam.example/buy?utm_campaign=9&id=3 — limited offer for everyone reading this group!"
    )
    same = repetition.digests(
        "BUY NOW at http://spam.example/buy/?id=3&utm_source=mail#top  -- limited offer,\nfor everyone reading THIS group!!!\n"
        "> earlier text\n-- \nJoe"
    )
    assert base == same and len(base) == 2
    other = repetition.digests(
        "Buy now at https://spam.example/buy?id=4 - limited offer for everyone reading this group!"
    )
    assert other[0] == base[0] and other[1] != base[1]  # the same text, another link
    assert [d[:2] for d in repetition.digests("thanks!")] == []  # too short to mean anything
    assert repetition.normalise("Order 123 and 4567 NOW") == repetition.normalise("order 9 and 1 now")


async def test_links_urllib_cannot_read_are_fingerprinted_as_written(make_site):
    """'[' outside an IPv6 host, or a port past 65535, made urllib raise, and
    the post carrying such a link failed (500); now each is a link as written."""
    site = await make_site()
    ada = await site.client("ada")
    await (await site.client("root", "admin")).post(
        "/api/groups", json={"name": "misc.test", "description": "t"}
    )
    for link in ("www.example.com[", "http://x.example:99999/", "http://[::1/x"):
        body = f"A text long enough to leave its own fingerprint, and a link: {link} there."
        r = await ada.post("/api/groups/misc.test/threads", json={"subject": "Links", "body": body})
        assert r.status_code == 201, r.text
        assert "l:" + repetition._digest(link.lower()) in repetition.digests(body)


def reference_normalise(body: str) -> str:
    """What repetition.normalise is specified to give, written plainly."""
    body = repetition.SIGNATURE.split(body, maxsplit=1)[0]
    kept = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))
    text = unicodedata.normalize("NFKC", validate.without_links(kept)).casefold()
    return re.sub(r"[\W_]+", "", re.sub(r"\d+", "0", text))


TEXT = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "-- ",
                "--",
                "\n",
                "\r",
                "\u2028",
                "> ",
                " >",
                "\t",
                "_",
                "0",
                "00",
                "7",
                "12 3",
                "ﬁ",
                "①",
                "Ä",
                "ß",
            ]
        ),
        st.sampled_from(
            [
                "http://x.example/a?b=1",
                "http://x.example/a/?utm_source=m&b=1",
                "www.y.example",
                "see https://z.example/p.",
                "http://.",
                "https://q.example:8080/?",
                "http://x.example/a?utm_medium=y",
                "http://x.example:99999/",
                "www.z.example[",
            ]
            + [f" http://l{n}.example/" for n in range(12)]
        ),
        st.text(max_size=12),
        st.text(alphabet=string.printable, max_size=20),
    ),
    max_size=25,
).map("".join)


def reference_link_key(link: str) -> str:
    """What repetition.link_key is specified to give, written plainly."""
    link = link.rstrip(".,;:!?)]}")
    try:
        parts = urlsplit(link if "://" in link else "http://" + link)
        port = parts.port
    except ValueError:
        return link.lower()
    host = (parts.hostname or "").removeprefix("www.") + (f":{port}" if port not in (None, 80, 443) else "")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = sorted((k, v) for k, v in pairs if not repetition.TRACKING.match(k))
    return host + parts.path.rstrip("/") + ("?" + urlencode(query) if query else "")


def reference_digests(body: str) -> list[str]:
    """What repetition.digests is specified to give, written plainly."""
    found = []
    text = reference_normalise(body)
    if len(text) >= repetition.MIN_BODY:
        found.append("b:" + repetition._digest(text))
    links = dict.fromkeys(reference_link_key(link) for link in validate.links(body))
    return found + ["l:" + repetition._digest(key) for key in list(links)[: repetition.LINKS_MAX] if key]


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_normalise_and_digests_give_what_their_plain_definitions_give(body):
    assert repetition.normalise(body) == reference_normalise(body)
    assert repetition.digests(body) == reference_digests(body)


def test_a_peers_repeated_articles_are_held_and_its_copies_are_duplicates(tmp_path):
    b = Node(tmp_path, "b.test")
    secret = secrets.token_hex(12)
    try:
        b.start(repeat_max_groups=1)
        with reserved_port() as nowhere:
            b.peer("a.test", secret=secret, port=nowhere)
            peer = raw_session(b, secret)
            try:
                body = "Peer spam: https://spam.example/from-afar for everyone who reads news today"
                first, second = "<rep.1@a.test>", "<rep.2@a.test>"
                for mid, group in ((first, "comp.lang.python"), (second, "rec.music.folk")):
                    assert nntp_send(peer, f"IHAVE {mid}").startswith("335")
                    assert nntp_send(peer, wire_article(mid, group, "a.test", body=body)).startswith("235")
                assert nntp_send(peer, f"IHAVE {second}").startswith("435")  # taken: held, not wanted again
            finally:
                peer.close()
        assert b.article(first) is not None and b.article(second) is None
        with b.signed_in("marta") as marta:
            (item,) = marta.get("/api/groups/rec.music.folk/queue").json()["items"]
            assert item["why"] == "repeat" and item["channel"] == "peer"
            assert item["author"]["address"] == "poster@peer.test"
            r = marta.post(f"/api/groups/rec.music.folk/queue/{item['id']}/approve", json={})
            assert r.status_code == 200, r.text
        assert b.article(second)["body"].strip() == body
    finally:
        b.stop()
