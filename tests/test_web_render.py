"""server/render.py: plain-text bodies as HTML, tested without I/O."""

from functools import partial
from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from moot.web import rendering as render


class Tags(HTMLParser):
    """Collects the start tags and the text of a fragment."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser


def test_markup_is_text():
    html = render.body_html('<script>window.__xss=1</script> <img src=x onerror="alert(1)"> & "q"')
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "&amp; &#34;q&#34;" in html
    assert [t for t, _ in parse(html).tags] == ["div", "pre"]


def test_line_structure_and_quote_levels():
    body = "Ada wrote:\n> first\n>> deeper\n> > also deeper\n\nmy answer\n  indented"
    assert render.blocks(body) == [
        ("t", ["Ada wrote:"]),
        ("q1", ["> first"]),
        ("q2", [">> deeper", "> > also deeper"]),
        ("t", ["", "my answer", "  indented"]),
    ]
    html = render.body_html(body)
    assert '<pre class="q q2" data-line="2">\n&gt;&gt; deeper\n&gt; &gt; also deeper</pre>' in html
    # the newline after <pre> is eaten by the parser: a leading blank line survives
    assert '<pre class="t" data-line="4">\n\nmy answer\n  indented</pre>' in html


def test_deep_quotes_share_the_top_class():
    assert render.blocks(">>>>>> very deep") == [("q4", [">>>>>> very deep"])]
    assert render.quote_level("   > x") == 1 and render.quote_level("    > x") == 0
    assert render.quote_level("a > b") == 0


def test_signature_is_set_apart():
    assert render.blocks("text\n-- \nAda\nhttps://ada.example") == [
        ("t", ["text"]),
        ("sig", ["-- ", "Ada", "https://ada.example"]),
    ]
    assert render.blocks("text\n--\nnot a sig")[0] == ("t", ["text", "--", "not a sig"])


def test_urls_become_safe_links():
    html = render.linkify("see https://example.org/a?b=1&c=2. and (http://x.org/p_(q)) ok")
    links = [a for t, a in parse(html).tags if t == "a"]
    assert [a["href"] for a in links] == ["https://example.org/a?b=1&c=2", "http://x.org/p_(q)"]
    assert all(a["rel"] == "nofollow ugc noopener" for a in links)
    assert html.endswith("</a>) ok")


def test_only_http_urls_are_links():
    for text in ("javascript:alert(1)", "data:text/html,<b>x</b>", "https://", "ftp://x.org"):
        assert "<a " not in render.linkify(text)


def test_url_cannot_break_out_of_the_attribute():
    html = render.linkify('https://e.org/"onmouseover="alert(1) https://e.org/<b>')
    links = [a for t, a in parse(html).tags if t == "a"]
    assert [a["href"] for a in links] == ["https://e.org/", "https://e.org/"]
    assert "onmouseover" not in [k for _, a in parse(html).tags for k in a]


WHEN = "2026-11-21T10:05:09.123Z"


def test_quote_for_reply_is_dated_and_leaves_out_earlier_quotes_and_the_signature():
    body = "Ann wrote:\n> earlier\n>> older\n\nHello\n\n> more\n\n\nthanks\n\n-- \nBob"
    assert render.quote_for_reply("Bob Jones", WHEN, body) == (
        "On 2026-11-21 10:05 UTC, Bob Jones wrote:\n> Hello\n>\n> thanks\n\n"
    )
    assert (
        render.quote_for_reply("Bob", WHEN, "> only a quote") == "On 2026-11-21 10:05 UTC, Bob wrote:\n\n\n"
    )


def test_quote_for_reply_of_a_span_keeps_the_text_as_written():
    body = "Ann wrote:\n> tabs are fine https://e.org/x\n>> older\nI disagree, spaces.\n  code()\n"
    quote = partial(render.quote_for_reply, "Bob", WHEN, body)
    head = "On 2026-11-21 10:05 UTC, Bob wrote:\n"
    # a phrase inside one line
    assert quote(((3, 2), (3, 10))) == head + "> disagree\n\n"
    # from the middle of a quoted line into plain text: quote marks and link kept
    assert quote(((1, 11), (3, 10))) == head + ">> fine https://e.org/x\n>>> older\n> I disagree\n\n"
    # ending where the next line begins leaves that line out; indentation kept
    assert quote(((4, 0), (5, 0))) == head + ">   code()\n\n"
    # out of range is clamped to the text
    assert quote(((9, 9), (99, 999))) == head + "\n\n"


def test_excerpt_skips_quotes():
    assert render.excerpt("> quoted\nmine is here\n-- \nsig") == "mine is here"
    assert render.excerpt("word " * 100, 20).endswith("…")


@given(st.text())
def test_any_text_round_trips_as_text(text):
    text = text.replace("\r", "")
    html = render.body_html(text)
    parsed = parse(html)
    assert {t for t, _ in parsed.tags} <= {"div", "pre", "a"}
    # every <pre> starts with the newline the parser removes; the text is the body
    assert "".join(parsed.text).replace("\n", "") == text.replace("\n", "")


def test_snippet_keeps_only_mark():
    html = render.snippet_html("a <mark>b</mark> &lt;script&gt; <b>x</b> <mark>open")
    assert html == "a <mark>b</mark> &lt;script&gt; &lt;b&gt;x&lt;/b&gt; <mark>open</mark>"
