"""The search query parser, without a server: every string becomes either a
clean Invalid or an FTS5 expression that SQLite accepts."""

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moot.articles import search
from moot.store.errors import Invalid


def test_words_phrases_prefixes_and_negations():
    q = search.parse('split "reply tree" archiv* -spam')
    assert [(t.text, t.phrase, t.prefix, t.negated) for t in q.terms] == [
        ("split", False, False, False),
        ("reply tree", True, False, False),
        ("archiv", False, True, False),
        ("spam", False, False, True),
    ]
    assert search.match_expression(q) == '("split" AND "reply tree" AND "archiv" *) NOT "spam"'
    assert q.ranked


def test_filters():
    q = search.parse('group:comp.lang.python author:"Ada  Lovelace" after:2024-05 before:2025 is:Archived x')
    assert (q.group, q.author, q.after, q.before, q.state) == (
        "comp.lang.python",
        "Ada Lovelace",
        "2024-05-01T00:00:00.000Z",
        "2025-01-01T00:00:00.000Z",
        "archived",
    )
    assert [t.text for t in q.terms] == ["x"]
    assert search.parse("group:comp.lang.*").group == "comp.lang."
    assert search.parse("is:open").state == "open"
    # Only filters: nothing to rank, results come newest first.
    assert not search.parse("author:ada").ranked
    assert search.match_expression(search.parse("author:ada"), "author_name") == '(author_name : "ada")'


@pytest.mark.parametrize(
    "text",
    [
        "before:yesterday",
        "after:2024-13",
        "after:2023-02-30",
        "group:Not..Valid",
        "is:closed",
        "x" * 501,
        " ".join(["w"] * 17),
    ],
)
def test_unusable_filters_and_oversized_queries_are_invalid(text):
    with pytest.raises(Invalid):
        search.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "AND OR NOT",
        "NEAR(a b, 2)",
        "a:b c:",
        '"',
        '""""',
        "*",
        "-",
        "(((",
        "col : x",
        "^start",
        "x + y",
        "{subject}: z",
        "'; DROP",
        "-group:x",
        "\x00nul\x00",
        "\ue000mark\ue001",
        "http://a.b/c?d=e",
    ],
)
def test_syntax_words_are_only_words(text):
    expr = search.match_expression(search.parse(text), "author_name")
    _run(expr)  # raises if SQLite reads any of it as FTS5 syntax


def test_quote_doubles_quotes():
    assert search.quote('say "hi"') == '"say ""hi"""'


def snip(body: str, query: str) -> str:
    return search.snippet(body, search.parse(query).terms)


def test_snippet_escapes_and_marks_whole_matches():
    assert snip('<script>alert(1)</script> x & "y" then Über', 'alert "x y" uber') == (
        "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt; <mark>x &amp; &quot;y</mark>&quot; then <mark>Über</mark>"
    )
    assert snip("the teapots and a teacup", "tea*") == "the <mark>teapots</mark> and a <mark>teacup</mark>"
    assert snip("walrus \ue000 \x07 walrus", "walrus") == "<mark>walrus</mark> <mark>walrus</mark>"
    assert snip("nothing to find here", "-gone") == "nothing to find here"


def test_snippet_prefers_the_authors_words_to_quotes():
    body = (
        "On 2026-01-02, Ada wrote:\n> > > > Tabs are better than spaces\n> > > > for tabs\n\n"
        "I disagree: spaces line up tabs of every width.\n\n-- \nAda, tabs forever"
    )
    assert snip(body, "tabs") == "I disagree: spaces line up <mark>tabs</mark> of every width."
    # A match only in the quote shows the quote: it is why the article was found.
    assert "&gt; &gt; &gt; &gt; Tabs are <mark>better</mark> than spaces" in snip(body, "better")
    # No match in the body (the subject matched), or no words: the author's opening words.
    assert snip(body, "subjectword") == snip(body, "") == "I disagree: spaces line up tabs of every width."
    assert snip("> only a quote", "") == "&gt; only a quote"


def test_snippet_window_holds_most_terms_and_is_bounded():
    words = [f"w{i}" for i in range(200)]
    words[10], words[150], words[152] = "alpha", "alpha", "beta"
    got = snip(" ".join(words), "alpha beta")
    assert got.startswith("…w146 w147 w148 w149 <mark>alpha</mark> w151 <mark>beta</mark>") and got.endswith(
        "…"
    )
    assert len(got.split()) == search.SNIPPET_TOKENS
    huge = "filler " * 3000 + "needle"
    assert "<mark>" not in snip(huge, "needle")  # past the part a snippet looks at


def test_cursor_round_trip_and_forgeries():
    cursor = search.encode_cursor("r", -1.25, 42)
    assert search.decode_cursor(cursor, "r") == (-1.25, 42, 0)
    assert search.decode_cursor(search.encode_cursor("n", 0, 7, 99), "n") == (0, 7, 99)
    for bad in [
        "",
        "%%%",
        "bm90IGpzb24",
        search.encode_cursor("d", "x" * 24, 1),
        search.encode_cursor("r", "nan", 1),
        search.encode_cursor("r", 1.0, -5),
        search.encode_cursor("r", 1.0, 5, -1),
        "A" * 300,
    ]:
        with pytest.raises(Invalid):
            search.decode_cursor(bad, "r")


def _run(expr):
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(
            "CREATE VIRTUAL TABLE articles_fts USING fts5(subject, body, author_name,"
            " tokenize = 'unicode61 remove_diacritics 2')"
        )
        conn.execute("INSERT INTO articles_fts VALUES ('hello', 'world of words', 'Ada')")
        if expr is not None:
            conn.execute("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?", (expr,)).fetchall()
    finally:
        conn.close()


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120))
def test_any_string_is_invalid_or_safe(text):
    try:
        query = search.parse(text)
    except Invalid:
        return
    _run(search.match_expression(query, "author_name"))
    if any(t.negated for t in query.terms):
        _run(" OR ".join(search.quote(t.text) for t in query.terms if t.negated))


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab \"*-:()^{}group:author:is:after:before:.\\'\x00\ue000"), max_size=60)
)
def test_syntax_heavy_strings_are_invalid_or_safe(text):
    test_any_string_is_invalid_or_safe.hypothesis.inner_test(text)
