"""mbox export (mboxrd) as Python's mailbox module reads it, headers that no
input can break, and the splitter the importer reads with."""

import email
import io
import mailbox
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.articles import mbox
from tests.archive_support import TRICKY_BODIES, build_group

HOSTILE = "Evil\r\nBcc: victim@example.org\r\n\r\nInjected body\n\x00\x1b[31m\u2028X-Smuggled: 1"


def row(**changes):
    base = {
        "id": 1,
        "message_id": "<a1@test.moot>",
        "thread_id": 1,
        "group_name": "comp.lang.python",
        "parent_id": None,
        "refs": "",
        "subject": "Hello",
        "body": "Body",
        "username": "ada",
        "author_name": "Ada",
        "author_addr": None,
        "created_at": "2026-01-02T03:04:05.678Z",
        "tree_path": None,
        "split_from": None,
        "utc_offset": 0,
    }
    return {**base, **changes}


def parse(raw: bytes):
    assert raw.startswith(b"From ")
    return email.message_from_bytes(raw.split(b"\n", 1)[1])


def test_headers_are_encoded_and_cannot_be_injected():
    raw = mbox.format_article(
        row(
            subject=HOSTILE,
            author_name=HOSTILE,
            author_addr="x@y\r\nBcc: z@w",
            message_id="<a@b>\r\nBcc: v@w",
            group_name="g\nBcc: q@r",
        ),
        "test.moot",
    )
    head = raw.split(b"\n\n", 1)[0]
    assert head.isascii()
    msg = parse(raw)
    assert sorted(msg.keys()) == sorted(
        [
            "From",
            "Date",
            "Subject",
            "Message-ID",
            "Newsgroups",
            mbox.CREATED_HEADER,
            "MIME-Version",
            "Content-Type",
            "Content-Transfer-Encoding",
        ]
    )
    assert msg.get_payload() == "Body\n\n"  # the blank line that ends an mbox message
    for line in head.split(b"\n")[1:]:
        assert b":" in line.split(b" ", 1)[0] or line.startswith(b" ")  # headers or folds only
    subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
    assert "\n" not in subject and "\r" not in subject and "Evil" in subject and "Bcc" in subject


def test_non_ascii_and_lookalike_headers_use_encoded_words():
    raw = mbox.format_article(
        row(subject="Grüße ☃", author_name="Zoë", author_addr="zoe@example.org"), "test.moot"
    )
    msg = parse(raw)
    assert msg["Subject"].startswith("=?utf-8?") and msg["From"].endswith("<zoe@example.org>")
    decoded = email.header.make_header(email.header.decode_header(msg["Subject"]))
    assert str(decoded) == "Grüße ☃"
    long = parse(mbox.format_article(row(subject="é" * 120 + " and more"), "test.moot"))
    words = re.findall(r"=\?[^?]+\?[bq]\?[^?]*\?=", long["Subject"], re.I)
    assert len(words) > 1 and max(map(len, words)) <= 75  # RFC 2047 §2
    assert (
        str(email.header.make_header(email.header.decode_header(long["Subject"]))) == "é" * 120 + " and more"
    )
    lookalike = parse(mbox.format_article(row(subject="=?utf-8?q?x?="), "test.moot"))
    assert str(email.header.make_header(email.header.decode_header(lookalike["Subject"]))) == "=?utf-8?q?x?="


def test_references_follow_the_current_tree():
    reply = row(parent_id=5, refs="<r@x> <p@x>", tree_path="<r@x> <p@x>")
    assert mbox.references(reply) == ["<r@x>", "<p@x>"]
    moved = row(parent_id=5, refs="<old@x> <was@x>", tree_path="<top@x> <new@x>")
    assert mbox.references(moved) == ["<top@x>", "<new@x>"]  # after a split or merge: the tree, not history
    assert mbox.references(row(refs="<was-parent@x>", split_from=3)) == []  # a split-off root is a root
    # an imported root whose parent was missing carries its link out again
    assert mbox.references(row(refs="<missing@x>")) == ["<missing@x>"]
    # a reply placed under a farther ancestor: the missing ids it named are only in its stored chain
    assert mbox.references(row(parent_id=5, refs="<r@x> <gone@x>", tree_path="<r@x>")) == ["<r@x>"]
    # a deep path of long ids fits one 998-octet header line (and an overview line under
    # 2048 octets, nntplib's limit): the root and the nearest ancestors are kept
    path = [f"<{'x' * 60}.{n}@long.example>" for n in range(40)]
    served = mbox.references(row(parent_id=5, tree_path=" ".join(path)))
    assert served[0] == path[0] and served[-1] == path[-1] and served[1:] == path[-(len(served) - 1) :]
    assert len("References: " + " ".join(served)) <= 998 < len("References: " + " ".join(path))


def test_mboxrd_escape_and_split_round_trip():
    body = "From me\n>From you\n>>From them\nFrom"
    raw = mbox.format_article(row(body=body), "test.moot")
    assert b"\n>From me\n>>From you\n>>>From them\nFrom\n" in raw
    stream = io.BytesIO(raw * 3)
    messages = list(mbox.split(stream))
    assert [m.number for m in messages] == [1, 2, 3]
    assert all(
        m.data.endswith(body.encode() + b"\n") and m.envelope.startswith(b"From ada@test.moot ")
        for m in messages
    )


def test_split_is_lenient_and_bounded():
    text = (
        b"stray preamble\n\nFrom a@b Sat Jan  1 00:00:00 2000\r\nSubject: one\r\n\r\nbody\r\n\r\n"
        b"From here on it is prose, not a separator.\n\n"
        b"From a@b Sat Jan  1 00:00:01 2000\nSubject: big\n\n" + b"x" * (3 * 1024 * 1024) + b"\n\n"
        b"From a@b Sat Jan  1 00:00:02 2000\nSubject: three\n\nend\n"
    )
    messages = list(mbox.split(io.BytesIO(text), max_bytes=1024 * 1024))
    assert [m.number for m in messages] == [1, 2, 3, 4]
    assert messages[0].data == b"stray preamble\n" and messages[0].envelope == b""
    assert b"From here on it is prose" in messages[1].data  # not after a blank line of its own
    assert messages[2].too_large and len(messages[2].data) <= 1024 * 1024
    assert messages[3].data == b"Subject: three\n\nend\n" and not messages[3].too_large


LINES = st.sampled_from(
    [
        b"From a@b Sat Jan  1 00:00:00 2000\n",
        b"From x 12:00\r\n",
        b"From here on, prose\n",
        b">From quoted\n",
        b"From ",
        b"\n",
        b"\r\n",
        b"\n\n",
        b"body text\n",
        b"x" * 70_000,  # longer than the splitter's line pieces
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(LINES, max_size=40).map(b"".join), every=st.integers(1, 200), window=st.integers(1, 300))
def test_split_over_ranges_is_split_over_the_whole(monkeypatch, data, every, window):
    monkeypatch.setattr(mbox, "_RANGE_WINDOW", window)  # separators found across windows too
    whole = [(m.offset, m.data, m.size, m.envelope) for m in mbox.split(io.BytesIO(data))]
    pieces = list(mbox.ranges(io.BytesIO(data), every))
    assert [start for start, _ in pieces[1:]] == [end for _, end in pieces[:-1]]
    assert (pieces[0][0], pieces[-1][1]) == (0, len(data)) if data else pieces == []
    assert all(end - start >= every for start, end in pieces[:-1])
    got = [
        (m.offset + start, m.data, m.size, m.envelope)
        for start, end in pieces
        for m in mbox.split(io.BytesIO(data[start:end]))
    ]
    assert got == whole


async def test_mailbox_module_reads_thread_and_group_exports(site, tmp_path):
    made = await build_group(site, threads=2)
    anon = await site.client()
    first = made["threads"][0]
    r = await anon.get(f"/api/threads/{first['id']}/mbox")
    assert r.status_code == 200 and r.headers["content-type"] == "application/mbox"
    assert f'filename="thread-{first["id"]}.mbox"' in r.headers["content-disposition"]
    path = tmp_path / "thread.mbox"
    path.write_bytes(r.content)
    box = mailbox.mbox(str(path), create=False)
    try:
        messages = list(box)
    finally:
        box.close()
    thread_articles = [a for a in made["articles"] if a["thread_id"] == first["id"]]
    assert sorted(m["Message-ID"] for m in messages) == sorted(a["message_id"] for a in thread_articles)
    by_id = {a["message_id"]: a for a in thread_articles}
    for m in messages:
        article = by_id[m["Message-ID"]]
        body = m.get_payload(decode=True).decode("utf-8")
        # mailbox keeps mboxrd's escapes (it reads mboxo); undoing one '>' gives the body back.
        unescaped = "\n".join(
            line[1:] if line.lstrip(">").startswith("From ") else line for line in body.split("\n")
        )
        assert unescaped.rstrip("\n") == article["body"]
        assert m.get_content_type() == "text/plain" and m.get_content_charset() == "utf-8"
        assert m["Newsgroups"] == "comp.lang.python"
        assert (m["In-Reply-To"] is None) == (article["parent_id"] is None)
    assert any(b.startswith("From the start") for b in TRICKY_BODIES)

    r = await anon.get("/api/groups/comp.lang.python/mbox")
    group_path = tmp_path / "group.mbox"
    group_path.write_bytes(r.content)
    box = mailbox.mbox(str(group_path), create=False)
    try:
        assert len(box) == len(made["articles"]) == 12
    finally:
        box.close()


async def test_group_export_date_range_and_errors(site):
    await build_group(site, threads=1)
    anon = await site.client()
    everything = (await anon.get("/api/groups/comp.lang.python/mbox", params={"after": "2000"})).content
    assert everything.count(b"\nMessage-ID: ") == 6
    assert (
        await anon.get("/api/groups/comp.lang.python/mbox", params={"before": "2000-01-01"})
    ).content == b""
    for url, status in [
        ("/api/groups/no.such.group/mbox", 404),
        ("/api/threads/999/mbox", 404),
        ("/api/threads/abc/mbox", 404),
        ("/api/groups/comp.lang.python/mbox?after=last-week", 400),
    ]:
        r = await anon.get(url)
        assert r.status_code == status and r.json()["error"]["code"] in ("not_found", "invalid")


@pytest.mark.parametrize("name", ["Ada", 'Ada "Q" Lovelace', "Zoë ☃", "=?x?=", "a, b <c>"])
def test_author_names_survive_the_from_header(name):
    msg = parse(mbox.format_article(row(author_name=name, author_addr="ada@example.org"), "test.moot"))
    real, addr = email.utils.parseaddr(msg["From"])
    assert addr == "ada@example.org"
    assert str(email.header.make_header(email.header.decode_header(real))) == name
