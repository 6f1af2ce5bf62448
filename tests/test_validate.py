"""Pure input rules, tested without a socket or a database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moot.articles.subjects import child_references, reply_subject
from moot.store import validate
from moot.store.errors import Invalid, TooLarge


@pytest.mark.parametrize(
    "name", ["comp.lang.python", "a", "rec.music.folk", "alt.c++", "x" * 80, "de.comp.os_2", "0day.news-x"]
)
def test_good_group_names(name):
    assert validate.group_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Comp.lang",
        "comp..lang",
        ".comp",
        "comp.",
        "-x",
        "comp.+x",
        "x" * 81,
        "comp lang",
        "comp/lang",
        "comp.läng",
        42,
        None,
    ],
)
def test_bad_group_names(name):
    with pytest.raises(Invalid):
        validate.group_name(name)


def test_subject_rules():
    assert validate.subject("  Hello  ") == "Hello"
    for bad in ["", "   ", "x" * 251, "a\nb", "a\x00b", "a\x1bb", "a\u2028b", 5, None]:
        with pytest.raises(Invalid):
            validate.subject(bad)
    assert validate.subject("x" * 250) == "x" * 250


def test_body_rules():
    assert validate.body("a\r\nb\rc\n\n") == "a\nb\nc"
    assert validate.body("tab\there") == "tab\there"
    for bad in ["", " \n\t ", "nul\x00", "esc\x1b[31m", "del\x7f", "c1\x85", b"bytes", None, ["x"]]:
        with pytest.raises(Invalid):
            validate.body(bad)
    with pytest.raises(TooLarge):
        validate.body("x" * (64 * 1024 + 1))
    assert len(validate.body("é" * (32 * 1024))) == 32 * 1024  # 64 KiB of UTF-8 exactly
    with pytest.raises(TooLarge):
        validate.body("é" * (32 * 1024) + "x")
    with pytest.raises(Invalid):
        validate.body("lone \ud800 surrogate")


def test_usernames_and_passwords():
    assert validate.username("ada.l_1-x") == "ada.l_1-x"
    for bad in ["ab", "x" * 33, "Ada", "ada lovelace", "ada@x", "", 7]:
        with pytest.raises(Invalid):
            validate.username(bad)
    assert validate.password("x" * 8) and validate.password("x" * 256)
    for bad in ["x" * 7, "x" * 257, None, 12345678]:
        with pytest.raises(Invalid):
            validate.password(bad)


def test_message_ids_and_references():
    assert validate.message_id("<abc.123@example.org>") == "<abc.123@example.org>"
    for bad in ["abc@example.org", "<abc>", "<a b@c>", "<a@b>\r\nX-Injected: 1", "<>", "<@>", "<a@b", ""]:
        with pytest.raises(Invalid):
            validate.message_id(bad)
    assert validate.references("<a@b> junk <c@d>\r\n\t<e f@g> <h@i>") == ["<a@b>", "<c@d>", "<h@i>"]


def test_integers_and_limits():
    assert validate.integer("12", "id") == 12 and validate.integer(12, "id") == 12
    for bad in [True, "1.5", "-1", "", "0x10", 0, 2**63, None, 1.0]:
        with pytest.raises(Invalid):
            validate.integer(bad, "id")
    assert validate.limit(None) == 50 and validate.limit("200") == 200
    with pytest.raises(Invalid):
        validate.limit("201")


def test_reply_subjects_and_references():
    assert reply_subject("Hello") == "Re: Hello"
    assert reply_subject("Re: Re: RE: Hello") == "Re: Hello"
    refs = " ".join(f"<{n}@x>" for n in range(60))
    trimmed = child_references(refs, "<p@x>").split()
    assert len(trimmed) == 40 and trimmed[0] == "<0@x>" and trimmed[-1] == "<p@x>"


@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                ["http://", "HTTPS://", "ftp://", "www.", "WwW.", "://", ".", " ", "\n", "<", '"']
            ),
            st.text(max_size=8),
        ),
        max_size=12,
    ).map("".join)
)
def test_links_are_what_the_link_pattern_finds_whatever_the_text(text):
    """The pre-check that spares most texts the link scan never loses a link."""
    assert validate.links(text) == validate.LINK.findall(text)
    assert validate.without_links(text) == validate.LINK.sub(" ", text)
