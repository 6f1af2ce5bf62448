"""Hostile input at the doors, against the real app: Message-IDs of the forms
Moot derives for its own control articles are refused from clients (NNTP 441,
mail 550); search cursors, JSON and MIME nested past a sane depth are clear
4xx, never 500 (fuzzed with hypothesis); names that read like another's, or
hide bidi and zero-width characters, are refused; asking for someone's reset
mail never stops its owner."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import re
import smtplib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.articles import mbox, messages
from moot.news import peers
from moot.people import resets
from moot.stewardship import actions
from moot.store import validate
from moot.store.errors import Invalid
from tests.conftest import ANY_PORT, PASSWORD, seed
from tests.db_support import rows
from tests.mail_support import (
    LIST,
    confirm_address,
    mail_settings,
    message,
    relay,  # noqa: F401  (fixture)
    send,
    subject_of,
)
from tests.nntp_support import nntplib

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def nested_mime(depth: int) -> bytes:
    head = (
        f"From: Bob <bob@example.org>\r\nTo: {LIST}\r\nSubject: deep\r\n"
        "Date: Mon, 1 Jun 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    closing = "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    return (head + opening + "Content-Type: text/plain\r\n\r\nhi\r\n" + closing).encode()


# -- reserved Message-IDs ------------------------------------------------------------


def test_every_derived_form_is_reserved_and_an_ordinary_id_is_not():
    target = "<abc.1@node.test>"
    derived = [
        peers.cancel_message_id(target),
        actions.notice_message_id(target),
        actions._new_message_id("x.test"),
    ]
    derived += [f"<{action}.20260101T000000.ab12.{target[1:]}" for action in peers.STATE_EVENTS]
    assert all(validate.reserved_message_id(m) for m in derived), derived
    for mid in derived:
        with pytest.raises(Invalid):
            validate.chosen_message_id(mid)
    assert validate.chosen_message_id(target) == target
    assert not validate.reserved_message_id("<cancelled.1@x.test>")


async def test_a_member_cannot_squat_a_cancel_id_over_nntp_or_mail(make_site, relay):
    ts = await make_site(nntp_port=ANY_PORT, **mail_settings(relay))
    s = await seed(ts)
    await confirm_address(s["ada"], relay, "ada@example.net")
    # An article from elsewhere (an id of this site's domain would be dropped as a mail loop).
    squat = peers.cancel_message_id("<from.a.peer.1@elsewhere.example>")
    before = rows(ts, "SELECT count(*) FROM articles")

    def nntp_post() -> str:
        with nntplib.NNTP("127.0.0.1", ts.config.nntp_port, user="ada", password=PASSWORD) as n:
            text = f"Newsgroups: comp.lang.python\r\nSubject: mine\r\nMessage-ID: {squat}\r\n\r\nbody\r\n"
            try:
                n.post(io.BytesIO(text.encode()))
            except nntplib.NNTPTemporaryError as e:
                return str(e)
        return "posted"

    assert (await asyncio.to_thread(nntp_post)).startswith("441")
    mail = message("Ada <ada@example.net>", LIST, "by mail", Message_ID=squat)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, ts.config.smtp_port, "ada@example.net", LIST, mail)
    assert refused.value.smtp_code == 550 and b"reserves" in refused.value.smtp_error
    assert rows(ts, "SELECT count(*) FROM articles") == before


# -- cursors, JSON and MIME: a clear 4xx ---------------------------------------------


async def test_the_search_cursor_past_64_bits_is_400_on_the_api_and_the_page(site):
    await seed(site)
    cursor = "WyJyIiwgMTE4MDU5MTYyMDcxNzQxMTMwMzQyNCwgMSwgMF0"
    client = await site.client()
    r = await client.get(f"/api/search?q=python&cursor={cursor}")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid", r.text
    assert (await client.get(f"/search?q=python&cursor={cursor}")).status_code == 400


KEYS = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
)


@FUZZ
@given(
    kind=st.sampled_from(["r", "d", "x"]),
    key=KEYS,
    article=KEYS,
    floor=KEYS,
    path=st.sampled_from(["/api/search?q=python", "/search?q=python", "/api/search?q=python&order=newest"]),
)
async def test_any_search_cursor_is_answered_never_5xx(site, kind, key, article, floor, path):
    client = await site.client()
    r = await client.get(f"{path}&cursor={cursor_of([kind, key, article, floor])}")
    assert r.status_code < 500, (key, article, floor, r.text[:200])


@FUZZ
@given(
    cursor=st.one_of(st.text(max_size=40), st.integers(min_value=-(2**90), max_value=2**90).map(str)),
    path=st.sampled_from(
        [
            "/api/groups/comp.lang.python/threads",
            "/api/users/ada",
            "/api/notifications",
            "/api/modlog",
            "/api/threads/1",
            "/api/search?q=python&",
        ]
    ),
)
async def test_any_cursor_anywhere_is_answered_never_5xx(site, cursor, path):
    client = await site.client("ada")
    r = await client.get(path, params={"cursor": cursor})
    assert r.status_code < 500, (path, cursor, r.text[:200])


async def test_json_nested_too_deep_is_400_before_it_is_parsed(site):
    client = await site.client("ada")
    deep = "[" * 100_000 + "]" * 100_000
    r = await client.post("/api/login", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "deeper" in r.json()["error"]["message"], r.text
    fine = {"username": "ada", "password": PASSWORD, "x": [[[[["]]]]]"]]]]]}
    assert (await client.post("/api/login", json=fine)).status_code == 200


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@FUZZ
@given(
    value=JSON,
    depth=st.integers(min_value=0, max_value=60),
    path=st.sampled_from(["/api/login", "/api/register"]),
)
async def test_any_json_structure_is_answered_never_5xx(site, value, depth, path):
    client = await site.client()
    body = "[" * depth + json.dumps(value) + "]" * depth
    r = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code < 500, (body[:200], r.text[:200])
    assert validate.has_lone_surrogate(body) or r.status_code in (400, 401, 403, 409, 422, 429)


def test_mime_nested_too_deep_is_refused_before_it_is_parsed():
    deep = nested_mime(3000)
    with pytest.raises(Invalid, match="malformed MIME"):
        messages.parse_message(mbox.RawMessage(1, deep, len(deep)))
    shallow = nested_mime(5)
    assert messages.parse_message(mbox.RawMessage(1, shallow, len(shallow))).body == "hi"


async def test_a_mail_of_3000_nested_parts_is_550_malformed_mime(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    await seed(ts)
    before = ts.snapshot()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, ts.config.smtp_port, "bob@example.org", LIST, nested_mime(3000))
    assert refused.value.smtp_code == 550 and b"malformed MIME" in refused.value.smtp_error
    assert ts.snapshot() == before


@FUZZ
@given(
    depth=st.integers(min_value=0, max_value=400),
    kind=st.sampled_from(["multipart/mixed", "multipart/alternative", "message/rfc822"]),
)
def test_any_mime_nesting_is_read_or_refused_as_invalid(depth, kind):
    head = "From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
    opening = "".join(f'Content-Type: {kind}; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    data = (head + opening + "Content-Type: text/plain\r\n\r\nhi\r\n").encode()
    with contextlib.suppress(Invalid):  # the documented refusal; a RecursionError fails the test
        messages.parse_message(mbox.RawMessage(1, data, len(data)))


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"username": "adrnin", "password": "a good password"},  # rn reads as m
        {"username": "zed", "password": "a good password", "display_name": "\u0410dmin"},  # Cyrillic А
        {"username": "zed", "password": "a good password", "display_name": "\u0410da"},  # like ada
        {"username": "zed", "password": "a good password", "display_name": "ad\u200bmin"},
        {"username": "zed", "password": "a good password", "display_name": "Zed \u202egnp.exe"},
    ],
)
async def test_a_lookalike_of_admin_or_of_a_member_cannot_register(site, body):
    await site.user("admin", "admin")
    await site.user("ada")
    before = rows(site, "SELECT count(*) FROM users")
    r = await (await site.client()).post("/api/register", json=body)
    assert r.status_code in (400, 409), r.text
    assert rows(site, "SELECT count(*) FROM users") == before


async def test_a_display_name_change_cannot_take_a_lookalike_and_subjects_refuse_bidi(site):
    s = await seed(site)
    r = await s["ada"].put("/api/me", json={"display_name": "R\u043eot"})  # Cyrillic о
    assert r.status_code in (400, 409), r.text
    r = await s["ada"].post(
        "/api/groups/comp.lang.python/threads", json={"subject": "txt.\u202eexe", "body": "b"}
    )
    assert r.status_code == 400 and "direction" in r.json()["error"]["message"]
    # A joiner an emoji sequence needs stays allowed in a subject.
    r = await s["ada"].post(
        "/api/groups/comp.lang.python/threads",
        json={"subject": "family \U0001f468\u200d\U0001f469", "body": "b"},
    )
    assert r.status_code == 201, r.text


def test_mail_subjects_and_names_keep_their_text_without_invisible_characters():
    data = b"From: Ev\xe2\x80\x8ble <eve@example.org>\nSubject: pay \xe2\x80\xaeinvoice\nDate: Mon, 1 Jun 2026 10:00:00 +0000\nMessage-ID: <m1@x.example>\n\nhi\n"
    parsed = messages.parse_message(mbox.RawMessage(1, data, len(data)))
    assert parsed.subject == "pay invoice" and parsed.author_name == "Evle"


# -- reset mail ---------------------------------------------------------------------------


async def test_others_asking_never_stop_ada_and_links_stay_good(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    await confirm_address(await ts.client("ada"), relay, "ada@example.net")
    strangers = [await ts.client() for _ in range(3)]
    for n, stranger in enumerate(strangers):
        r = await stranger.post("/api/password-reset", json={"username": "ada"})
        assert r.status_code == 202, (n, r.text)
    ada = await ts.client()
    r = await ada.post("/api/password-reset", json={"username": "ada"})
    ghost = await ada.post("/api/password-reset", json={"username": "nobody-here"})
    assert (r.status_code, r.json()) == (ghost.status_code, ghost.json()) == (202, {"status": resets.MAILED})
    [first] = await relay.wait("ada@example.net", where=subject_of("Reset your password"))
    first_link = re.search(rf"{resets.PATH}(\S+)", first.message.get_body(("plain",)).get_content())[1]

    # A window later a new request mails a new link; the first still works.
    async with ts.db.transaction() as conn:  # the window passes
        await conn.execute("UPDATE password_resets SET created_at = '2000-01-01T00:00:00.000Z'")
    assert (await ada.post("/api/password-reset", json={"username": "ada"})).status_code == 202
    await relay.wait("ada@example.net", 2, where=subject_of("Reset your password"))
    assert rows(ts, "SELECT count(*) FROM password_resets WHERE used_at IS NULL") == [(2,)]
    r = await ada.post("/api/reset", json={"token": first_link, "password": "a brand new password"})
    assert r.status_code == 200, r.text
    # Once the password is changed, every link of the account is spent.
    assert rows(ts, "SELECT count(*) FROM password_resets WHERE used_at IS NULL") == [(0,)]
