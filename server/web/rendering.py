"""Rendering: the page templates, and plain-text article bodies as HTML
(pure functions, no I/O).

Everything from users is escaped; nothing they write is read as markup. The
line structure is kept, quoted lines (`>`, `>>`, `> >`) are grouped into
blocks that carry their level as a class, a signature after the `-- ` line
is set apart, http(s) URLs become links that pass no ranking or opener, and
an `@name` becomes a link to the profile of an account the page names as existing."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Message, Receive, Scope, Send

from ..articles.editing import editable_until
from ..articles.subjects import base_subject
from ..people.notifications import MENTION
from ..stewardship.permissions import can, may_post_in, may_reply, moderates
from ..store import clock

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
    return url, candidate[len(url) :]


def mentions(text: str, accounts: Collection[str] = ()) -> Markup:
    """Escape `text`, making each `@name` of one of the `accounts` a link to its profile."""
    out, pos = [], 0
    for match in MENTION.finditer(text) if accounts else ():
        name = match.group(1).rstrip(".")
        if name.lower() not in accounts:
            continue
        end = match.start() + 1 + len(name)
        out.append(escape(text[pos : match.start()]))
        out.append(Markup('<a class="mention" href="/u/{0}">@{1}</a>').format(name.lower(), name))
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def linkify(text: str, accounts: Collection[str] = ()) -> Markup:
    """Escape `text`, making each http(s) URL in it a safe link and each
    `@name` of one of the `accounts` a link to its profile."""
    out, pos = [], 0
    for match in _URL.finditer(text):
        url, rest = _split_url(match.group(0))
        if len(url) <= len("https://"):
            continue
        out.append(mentions(text[pos : match.start()], accounts))
        out.append(Markup('<a href="{0}" rel="{1}">{0}</a>').format(url, LINK_REL))
        out.append(escape(rest))
        pos = match.end()
    out.append(mentions(text[pos:], accounts))
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


def body_html(body: str, accounts: Collection[str] = ()) -> Markup:
    """An article body as HTML: one <pre> block per run of lines of one kind,
    each saying in `data-line` which line of the body it starts at, so that a
    script can map a selection back to the text as written (quote_for_reply).
    An `@name` of one of the `accounts` links to its profile.

    The newline after each opening <pre> tag is there because an HTML parser
    drops the first newline inside <pre>: without it a block that starts
    with a blank line would lose it."""
    parts, start = [], 0
    for kind, lines in blocks(body):
        css = "t" if kind == "t" else ("sig" if kind == "sig" else f"q {kind}")
        text = Markup("\n").join(linkify(line, accounts) for line in lines)
        parts.append(Markup('<pre class="{0}" data-line="{1}">\n{2}</pre>').format(css, start, text))
        start += len(lines)
    return Markup('<div class="body">{0}</div>').format(Markup("").join(parts))


# Where a quoted passage starts and ends: (line, column) in the body, the end column excluded.
Span = tuple[tuple[int, int], tuple[int, int]]


def _selected(lines: list[str], span: Span) -> list[str]:
    """The lines `span` covers, cut at its ends; a line cut at its start keeps
    its quote marks, so a passage is quoted at the levels it was written at."""
    (first, start), (last, end) = span
    last = min(last, len(lines) - 1)
    if end <= 0 and last > first:  # a selection that ends where the next line begins
        last, end = last - 1, len(lines[last - 1])
    first = max(0, min(first, last))
    chosen = lines[first : last + 1]
    chosen[-1] = chosen[-1][: max(0, end)]
    marks = _QUOTE.match(chosen[0])
    prefix = marks.group(0) if marks else ""
    if start > len(prefix):
        rest = chosen[0][start:].lstrip()
        chosen[0] = f"{prefix} {rest}" if prefix else rest
    return chosen


def quote_for_reply(author_name: str, created_at: str, body: str, span: Span | None = None) -> str:
    """The text a reply starts with: `On DATE, Name wrote:` and the passage
    quoted one level deeper, then a blank line to write in. The passage is the
    `span` of the body as written, or else the body without its quotes of
    earlier articles (and their attributions) and its signature."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if span is not None:
        passage = _selected(lines, span)
    else:
        own = lines[: lines.index(_SIG_SEPARATOR)] if _SIG_SEPARATOR in lines else lines
        # the quotes go, and so does the "… wrote:" line that introduced one
        nested = [bool(quote_level(line)) for line in own] + [False]
        kept = [
            line
            for i, line in enumerate(own)
            if not nested[i] and not (nested[i + 1] and line.rstrip().endswith("wrote:"))
        ]
        # a run of blank lines left where quotes were taken out becomes one
        passage = [line for i, line in enumerate(kept) if line.strip() or (i and kept[i - 1].strip())]
    quoted = []
    for line in passage:
        if quote_level(line):
            quoted.append(">" + line.lstrip(" \t"))
        elif line.strip():
            quoted.append("> " + line)
        else:
            quoted.append(">")
    while quoted and quoted[0] == ">":
        quoted.pop(0)
    while quoted and quoted[-1] == ">":
        quoted.pop()
    return f"On {when(created_at)} UTC, {author_name} wrote:\n" + "\n".join(quoted) + "\n\n"


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


def local_when(stamp: str | None, utc_offset: int) -> str:
    """The time of day where it was written, with the offset: '11:30 +0130'."""
    if not stamp:
        return ""
    moment = datetime.strptime(stamp[:16], "%Y-%m-%dT%H:%M") + timedelta(minutes=utc_offset)
    sign, minutes = ("-" if utc_offset < 0 else "+"), abs(utc_offset)
    return f"{moment:%H:%M} {sign}{minutes // 60:02d}{minutes % 60:02d}"


def message_url(message_id: str) -> str:
    """The permalink path of a Message-ID (angle brackets included, URL-encoded)."""
    return "/m/" + quote(message_id, safe="@!$&'()*+,;=:")


def static_version(directory: Path = STATIC_DIR) -> str:
    """A digest of every file's name and content under `directory`: changes when any does."""
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class _Compiled(jinja2.BytecodeCache):
    """Each template's compiled code, kept for this process by its name and
    its source's checksum. Every environment make_templates makes is alike, so
    an app built again in the same process (`moot get`, each test's site)
    takes the code instead of compiling every template again (~6 ms each)."""

    def __init__(self) -> None:
        self.code: dict[str, tuple[str, object]] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        checksum, code = self.code.get(bucket.key, (None, None))
        if checksum == bucket.checksum:
            bucket.code = code  # type: ignore[assignment]

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = (bucket.checksum, bucket.code)


_COMPILED = _Compiled()


def make_templates(edit_grace_minutes: int = 0) -> Jinja2Templates:
    """The page templates: autoescaped (user text is never markup), with the
    body renderer as the `body` filter, the permission rule as `can` and
    `static_url(name)` naming a static file by the digest of the static files."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_COMPILED,
    )
    env.filters.update(
        # `@name` links to the accounts a page's `mentioned` names
        body=jinja2.pass_context(lambda context, text: body_html(text, context.get("mentioned", ()))),
        when=when,
        local_when=local_when,
        message_url=message_url,
        excerpt=excerpt,
        topic=base_subject,  # a subject without "Re:" and "(was: ...)"
        urlpart=lambda s: quote(str(s), safe=""),
    )
    version = static_version()
    env.globals.update(
        can=can,
        moderates=moderates,
        may_post_in=may_post_in,
        may_reply=may_reply,
        static_version=version,
        static_url=lambda name: f"/static/v/{version}/{name}",
        # whether an article's author may still edit it (a page cached past
        # the moment still offers it; the server then answers 409)
        editable=lambda created_at: (
            edit_grace_minutes > 0 and clock.now() < editable_until(created_at, edit_grace_minutes)
        ),
    )
    return Jinja2Templates(env=env)


# A year: the longest lifetime RFC 9111 caches are expected to honour.
IMMUTABLE = b"public, max-age=31536000, immutable"


class VersionedStatic:
    """/static/v/<version>/<file>: the current file, cacheable for a year when
    <version> is the current digest. Because the digest covers every file, an
    ES module's relative imports resolve inside the same version."""

    def __init__(self, version: str):
        self.version = version
        self.files = StaticFiles(directory=STATIC_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")  # Mount leaves the full path and extends root_path
        version = scope["path"][len(root) :].lstrip("/").partition("/")[0]
        inner = {**scope, "root_path": f"{root}/{version}"}
        current = version == self.version

        async def send_cached(message: Message) -> None:
            if current and message["type"] == "http.response.start" and message["status"] == 200:
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", IMMUTABLE)]}
            await send(message)

        await self.files(inner, receive, send_cached)


def static_mounts(version: str) -> list[Mount]:
    """Versioned static files, and the plain /static/<file> paths (revalidated with an ETag)."""
    return [
        Mount("/static/v", app=VersionedStatic(version)),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
