"""Rendering: the page templates, and plain-text article bodies as HTML
(pure functions, no I/O).

Everything from users is escaped; nothing they write is read as markup. The
line structure is kept, quoted lines (`>`, `>>`, `> >`) are grouped into
blocks that carry their level as a class, a signature after the `-- ` line
is set apart, and http(s) URLs become links that pass no ranking or opener."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..permissions import can, may_post_in

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE / "templates"
STATIC_DIR = PACKAGE / "static"  # ../static, linked into the package so a wheel carries it

# Levels above this share one style: five nested quotes are already rare.
MAX_QUOTE_CLASS = 4
LINK_REL = "nofollow ugc noopener"

_QUOTE = re.compile(r"[ \t]{0,3}>(?:[ \t]?>)*")
# A URL runs until white space, a quote or an angle bracket; trailing
# punctuation that ends a sentence is trimmed afterwards.
_URL = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?*'\""
# RFC 3676 §4.3: the signature separator is "-- " alone on a line.
_SIG_SEPARATOR = "-- "


def quote_level(line: str) -> int:
    """How many `>` marks open the line (`> > x` and `>> x` are both 2)."""
    match = _QUOTE.match(line)
    return match.group(0).count(">") if match else 0


def _split_url(candidate: str) -> tuple[str, str]:
    """The URL proper and the trailing characters that belong to the sentence."""
    url = candidate
    while url:
        last = url[-1]
        if last in _TRAILING or last == ")" and url.count("(") < url.count(")"):
            url = url[:-1]
        else:
            break
    return url, candidate[len(url):]


def linkify(text: str) -> Markup:
    """Escape `text`, making each http(s) URL in it a safe link."""
    out, pos = [], 0
    for match in _URL.finditer(text):
        url, rest = _split_url(match.group(0))
        if len(url) <= len("https://"):
            continue
        out.append(escape(text[pos:match.start()]))
        out.append(Markup('<a href="{0}" rel="{1}">{0}</a>').format(url, LINK_REL))
        out.append(escape(rest))
        pos = match.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def blocks(body: str) -> list[tuple[str, list[str]]]:
    """Consecutive lines grouped by kind: ('t', lines) text, ('q1'..'q4', lines)
    quotes by level, ('sig', lines) the signature."""
    result: list[tuple[str, list[str]]] = []
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    in_sig = False
    for line in lines:
        if line == _SIG_SEPARATOR:
            in_sig = True
        if in_sig:
            kind = "sig"
        else:
            level = quote_level(line)
            kind = f"q{min(level, MAX_QUOTE_CLASS)}" if level else "t"
        if result and result[-1][0] == kind:
            result[-1][1].append(line)
        else:
            result.append((kind, [line]))
    return result


def body_html(body: str) -> Markup:
    """An article body as HTML: one <pre> block per run of lines of one kind.

    The newline after each opening <pre> tag is there because an HTML parser
    drops the first newline inside <pre>: without it a block that starts
    with a blank line would lose it."""
    parts = []
    for kind, lines in blocks(body):
        css = "t" if kind == "t" else ("sig" if kind == "sig" else f"q {kind}")
        text = Markup("\n").join(linkify(line) for line in lines)
        parts.append(Markup('<pre class="{0}">\n{1}</pre>').format(css, text))
    return Markup('<div class="body">{0}</div>').format(Markup("").join(parts))


def quote_for_reply(author_name: str, body: str) -> str:
    """The text a reply starts with: `Name wrote:` and the body quoted one
    level deeper (without its signature), then a blank line to write in."""
    quoted = []
    for line in body.replace("\r\n", "\n").split("\n"):
        if line == _SIG_SEPARATOR:
            break
        if line.startswith(">"):
            quoted.append(">" + line)
        elif line.strip():
            quoted.append("> " + line)
        else:
            quoted.append(">")
    while quoted and quoted[-1] == ">":
        quoted.pop()
    return f"{author_name} wrote:\n" + "\n".join(quoted) + "\n\n"


def excerpt(body: str, length: int = 160) -> str:
    """The first words of a body outside quotes and signature, for lists and previews."""
    words = []
    for kind, lines in blocks(body):
        if kind == "t":
            words.extend(" ".join(lines).split())
        if sum(len(w) + 1 for w in words) > length:
            break
    text = " ".join(words)
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


_MARK = re.compile(r"(</?mark>)")


def snippet_html(snippet_markup: str) -> Markup:
    """A search snippet given as HTML whose only tags are <mark>: every other
    character is taken as text and escaped again, so only <mark> survives."""
    out, open_ = [], False
    for part in _MARK.split(snippet_markup):
        if part == "<mark>" and not open_:
            out.append(Markup("<mark>"))
            open_ = True
        elif part == "</mark>" and open_:
            out.append(Markup("</mark>"))
            open_ = False
        elif part not in ("<mark>", "</mark>"):
            out.append(escape(html.unescape(part)))
    if open_:
        out.append(Markup("</mark>"))
    return Markup("").join(out)


def when(stamp: str | None) -> str:
    """'2026-11-21T10:00:00.123Z' as '2026-11-21 10:00' (UTC, said once in the footer)."""
    return f"{stamp[:10]} {stamp[11:16]}" if stamp else ""


def message_url(message_id: str) -> str:
    """The permalink path of a Message-ID (angle brackets included, URL-encoded)."""
    return "/m/" + quote(message_id, safe="@!$&'()*+,;=:")


def make_templates() -> Jinja2Templates:
    """The page templates: autoescaped (user text is never markup), with the
    body renderer as the `body` filter and the permission rule as `can`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
        trim_blocks=True, lstrip_blocks=True)
    env.filters.update(body=body_html, when=when, message_url=message_url,
                       excerpt=excerpt, urlpart=lambda s: quote(str(s), safe=""))
    env.globals.update(can=can, may_post_in=may_post_in)
    return Jinja2Templates(env=env)


def static_mount() -> Mount:
    return Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static")
