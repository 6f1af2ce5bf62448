"""NNTP parsing is pure: command lines, ranges, wildmats, dates and posted articles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moot.nntp import parse
from moot.nntp.parse import Rejected, Syntax


def test_command_lines_split_into_keyword_arguments_and_rest():
    cmd = parse.command(b"authinfo  PASS correct horse battery")
    assert cmd.keyword == "AUTHINFO"
    assert cmd.args == ("PASS", "correct", "horse", "battery")
    assert cmd.rest == "PASS correct horse battery"
    assert parse.command(b"\tlist active comp.*").args == ("active", "comp.*")


@pytest.mark.parametrize("line", [b"", b"   ", b"GROUP \xff\xfe", b"GROUP a\x00b", b"LIST\x1b[2J"])
def test_bad_command_lines_are_syntax_errors(line):
    with pytest.raises(Syntax):
        parse.command(line)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("5", (5, 5)),
        ("5-", (5, parse.NUMBER_MAX)),
        ("3-9", (3, 9)),
        ("9-3", (9, 3)),
        ("0-0", (0, 0)),
    ],
)
def test_ranges(text, expected):
    assert parse.article_range(text) == expected


@pytest.mark.parametrize("text", ["", "-", "-5", "a", "1-2-3", "1 -2", "12345678901234567", "1-x"])
def test_bad_ranges(text):
    with pytest.raises(Syntax):
        parse.article_range(text)


def test_numbers_and_message_ids():
    assert parse.number("42") == 42
    with pytest.raises(Syntax):
        parse.number("4x")
    assert parse.message_id("<a.b@c.d>") == "<a.b@c.d>"
    assert parse.message_id("<nope>") == "<nope>"  # RFC 3977 §3.6 asks for no '@': it names no article here
    for bad in ("<a b@c>", "a@b", "<" + "x" * 300 + "@y>", "<a>b>", "<>", "<é@x>"):
        with pytest.raises(Syntax):
            parse.message_id(bad)


def test_wildmats_last_matching_pattern_decides():
    match = parse.wildmat("comp.*,!comp.lang.*,comp.lang.python")
    assert match("comp.os.linux")
    assert not match("comp.lang.c")
    assert match("comp.lang.python")
    assert not match("rec.music")
    assert parse.wildmat("c?mp.*")("comp.x") and not parse.wildmat("c?mp.*")("cmp.x")
    assert parse.MATCH_ALL("anything.at.all")
    assert parse.wildmat("a.b")("a.b") and not parse.wildmat("a.b")("aXb")  # '.' is literal


@pytest.mark.parametrize("text", ["", ",", "a,,b", "!", "a[bc]", "a\\b", "a b", ",".join("x" * 40)])
def test_bad_wildmats(text):
    with pytest.raises(Syntax):
        parse.wildmat(text)


def test_dates_four_and_two_digit_years():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert parse.date_time(("20261130", "235959", "GMT"), now) == "2026-11-30T23:59:59.000Z"
    assert parse.date_time(("261130", "000000"), now) == "2026-11-30T00:00:00.000Z"
    assert parse.date_time(("991231", "000000"), now) == "1999-12-31T00:00:00.000Z"
    assert parse.date_time(("700101", "000000"), now) == "2070-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("20261130",),
        ("20261330", "000000"),
        ("20261130", "250000"),
        ("2026113", "000000"),
        ("20261130", "000000", "UTC"),
        ("20261130", "000000", "GMT", "x"),
    ],
)
def test_bad_dates(args):
    with pytest.raises(Syntax):
        parse.date_time(args)


def _article(*headers: str, body: str = "Hello") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")


def test_posted_article_fields():
    posted = parse.posted_article(
        _article(
            "From: someone@example.org",
            "Newsgroups: comp.lang.python",
            "Subject: =?UTF-8?Q?caf=C3=A9?= time",
            "References: <a@x> junk",
            " <b@x>",
            "Message-ID: <mine@example.org>",
            body="line 1\r\n.line 2",
        )
    )
    assert posted.newsgroup == "comp.lang.python"
    assert posted.subject == "café time"
    assert posted.references == ("<a@x>", "<b@x>")
    assert posted.message_id == "<mine@example.org>"
    assert posted.body == "line 1\r\n.line 2"


def test_posted_article_quoted_printable_and_charset():
    posted = parse.posted_article(
        _article(
            "Newsgroups: a.b",
            "Subject: s",
            "Content-Type: text/plain; charset=iso-8859-1",
            "Content-Transfer-Encoding: quoted-printable",
            body="caf=E9",
        )
    )
    assert posted.body == "café"
    tabbed = parse.posted_article(_article("Newsgroups: a.b", "Subject: one\ttwo"))
    assert tabbed.subject == "one two"
    folded = _article(
        "Newsgroups: a.b", "Subject: s", "Content-Transfer-Encoding: base64", body="Y2Fm\r\nw6k="
    )
    assert parse.posted_article(folded).body == "café"
    with pytest.raises(Rejected, match="not valid base64"):
        parse.posted_article(
            _article(
                "Newsgroups: a.b", "Subject: s", "Content-Transfer-Encoding: base64", body="!!!!notbase64@@@"
            )
        )


@pytest.mark.parametrize(
    "headers,reason",
    [
        (("Subject: s",), "Newsgroups"),
        (("Newsgroups: a.b, c.d", "Subject: s"), "cross-posting"),
        (("Newsgroups: a.b",), "Subject"),
        (("Newsgroups: a.b", "Subject: s", "Message-ID: <bad>"), "Message-ID"),
        (("Newsgroups: a.b", "Subject: s", "Content-Type: text/html"), "plain text"),
        (("Newsgroups: a.b", "Subject: s", "Content-Transfer-Encoding: x-uuencode"), "Transfer-Encoding"),
        (("Newsgroups: a.b", "Subject: s", "Content-Type: text/plain; charset=nope"), "charset"),
        (("Newsgroups: a.b", "Subject: s", "Subject: t"), "twice"),
        (("Newsgroups a.b",), "malformed"),
        (("Newsgroups: a.b", "Subject: s", "Control: newgroup a.c"), "other than cancel"),
        (("Newsgroups: a.b", "Subject: s", "Control: cancel <a@b>", "Supersedes: <c@d>"), "not both"),
        (("Newsgroups: a.b", "Subject: s", "Control: cancel nope"), "Control: cancel"),
        (("Newsgroups: a.b", "Subject: s", "Supersedes: <nope>"), "Supersedes"),
    ],
)
def test_posted_articles_refused_with_reason(headers, reason):
    with pytest.raises(Rejected, match=reason):
        parse.posted_article(_article(*headers))


def test_an_article_with_an_empty_body_is_read_as_one():
    # A POST's lines joined by CRLF: the blank line after the headers ends the article.
    posted = parse.posted_article(b"\r\n".join([b"Newsgroups: a.b", b"Subject: s", b""]))
    assert (posted.newsgroup, posted.subject, posted.body) == ("a.b", "s", "")


def test_same_group_twice_is_not_a_cross_post():
    assert parse.posted_article(_article("Newsgroups: a.b,a.b", "Subject: s")).newsgroup == "a.b"


@pytest.mark.parametrize(
    "value",
    [
        "Bench <bench@bench.test>",
        "bench@bench.test",
        "Ada  Lovelace\t<ada.l+news@example.org>",
        "<only@address.test>",
        "O'Neil-Smith <o_neil@x.y.z>",
        '"Quoted, Name" <q@example.org>',
        "a@b (A Comment)",
        "J. Doe <j@example.org>",
        "a..b@example.org",
        "Name <broken@",
        "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= <g@example.org>",
        "",
    ],
)
def test_a_from_reads_as_parseaddr_reads_it(value):
    from email.utils import parseaddr

    from moot.articles.messages import decode_words

    assert parse.from_address(value) == parseaddr(decode_words(value))


def _transit(*headers: str, body: str = "text") -> bytes:
    head = ["Path: peer.example!not-for-mail", "From: A <a@peer.example>", "Newsgroups: a.b", "Subject: s"]
    return ("\r\n".join([*head, *headers]) + "\r\n\r\n" + body).encode()


def test_a_peers_article_is_refused_for_a_message_id_or_body_not_of_its_form():
    assert parse.transit_article(_transit("Message-ID: <p@peer.example>"), "<p@peer.example>").message_id
    # RFC 3977 lets a command name <p> (a lookup answers 430), but no article here has such an id
    with pytest.raises(Rejected, match="Message-ID"):
        parse.transit_article(_transit("Message-ID: <p>"), "<p>")
    with pytest.raises(Rejected, match="not valid base64"):
        bad = _transit("Message-ID: <q@peer.example>", "Content-Transfer-Encoding: base64", body="!!!!")
        parse.transit_article(bad, "<q@peer.example>")
