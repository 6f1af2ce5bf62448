"""Remote HTML (an ActivityPub object's `content`) as Moot's plain text,
through an allowlist; nothing of the markup survives but what it means:

- p, div, headings: paragraphs; br: a line break;
- a: its label followed by " <URL>" (only http and https URLs; the URL alone
  when the label is the URL, as Mastodon writes links); a mention's link
  (class "mention", or a label "@name"): "@name@host"; a hashtag's: its label;
- blockquote: "> " lines (nested quotes "> > "); pre: kept as it is, line by
  line; code: its text;
- ul, ol, li: "- " lines, indented by nesting;
- em, i, strong, b: *text*;
- script, style and the like: dropped with their content; any other tag:
  dropped, its text kept. Entities are decoded.

`to_text` never raises and its output is bounded (TEXT_MAX characters):
whatever the input, the result is text `validate.body` takes (no control
characters, no invisible or direction-changing ones)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from ..store import validate

# Characters of text kept: an article's body holds at most 64 KiB of UTF-8.
TEXT_MAX = validate.BODY_MAX_BYTES // 2
# Characters of HTML read: past this the rest is not looked at.
HTML_MAX = 512 * 1024
# Elements dropped together with everything inside them.
OPAQUE = frozenset(
    {
        "script",
        "style",
        "template",
        "head",
        "title",
        "noscript",
        "iframe",
        "object",
        "svg",
        "math",
        "textarea",
        "select",
    }
)
BLOCKS = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
        "table",
        "tr",
        "hr",
        "figure",
    }
)
EMPHASIS = frozenset({"em", "i", "strong", "b"})
LISTS = frozenset({"ul", "ol"})
VOID = frozenset(
    {"br", "hr", "img", "input", "meta", "link", "wbr", "area", "base", "col", "embed", "source", "track"}
)
# Nesting followed: deeper lists and quotes are written as the deepest one.
NEST_MAX = 8
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


class _Text(HTMLParser):
    """The parser behind `to_text`: writes lines, each with the quote and list
    prefix in force when it began."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line = ""  # the line being written (its prefix included once it has text)
        self.start = 0  # where the text of that line begins, after its prefix
        self.open = False  # a line is being written
        self.blank = False  # an empty line goes before the next one
        self.last_quotes = 0  # the quote depth of the last line written
        self.size = 0
        self.opaque = 0  # depth inside dropped elements
        self.quotes = 0
        self.lists = 0
        self.pre = 0
        self.item = False  # the next text starts a list item ("- ")
        self.links: list[
            tuple[str, dict[str, str], tuple[int, int | None]]
        ] = []  # (href, attributes, where its label starts)
        self.full = False

    # -- writing

    def _prefix(self) -> str:
        prefix = "> " * min(self.quotes, NEST_MAX)
        if self.lists:
            prefix += "  " * (min(self.lists, NEST_MAX) - 1) + ("- " if self.item else "  ")
        return prefix

    def write(self, text: str) -> None:
        if self.full or not text:
            return
        if not self.open:
            if not self.pre:
                text = text.lstrip(" ")
                if not text:
                    return
            if self.blank and self.lines:
                self._append("> " * min(self.quotes, self.last_quotes, NEST_MAX))
            self.blank = False
            self.line, self.open = self._prefix(), True
            self.start = len(self.line)
            self.item = False
        room = TEXT_MAX - self.size - len(self.line)
        if len(text) > room:
            text, self.full = text[: max(room, 0)], True
        self.line += text

    def newline(self, blank: bool = False) -> None:
        """End the line being written (if any); `blank`: an empty line before the next one."""
        if self.open:
            self._append(self.line)
            self.last_quotes = self.quotes
            self.line, self.open = "", False
        self.blank = self.blank or blank

    def _append(self, line: str) -> None:
        line = line.rstrip()
        self.lines.append(line)
        self.size += len(line) + 1

    # -- HTMLParser's callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in OPAQUE:
            if tag not in VOID:
                self.opaque += 1
            return
        if self.opaque:
            return
        if tag == "br":
            if self.pre:
                self.write("\n")
            self.newline()
        elif tag == "blockquote":
            self.newline(blank=True)
            self.quotes += 1
        elif tag in BLOCKS or tag == "pre":
            self.newline(blank=True)
            self.pre += tag == "pre"
        elif tag in LISTS:
            self.newline(blank=not self.lists)
            self.lists += 1
        elif tag == "li":
            self.newline()
            self.item = True
        elif tag in EMPHASIS:
            self.write("*")
        elif tag == "a":
            given = {k: v or "" for k, v in attrs}
            self.links.append((given.get("href", ""), given, self._mark()))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in OPAQUE:
            self.opaque = max(0, self.opaque - 1)
            return
        if self.opaque:
            return
        if tag == "blockquote" and self.quotes:
            self.newline()
            self.quotes -= 1
            self.newline(blank=True)
        elif (tag in BLOCKS or tag == "pre") and tag != "hr":
            self.pre -= tag == "pre" and self.pre > 0
            self.newline(blank=True)
        elif tag in LISTS and self.lists:
            self.newline()
            self.lists -= 1
            if not self.lists:
                self.newline(blank=True)
        elif tag == "li":
            self.newline()
        elif tag in EMPHASIS:
            self.write("*")
        elif tag == "a" and self.links:
            self._end_link(*self.links.pop())

    def handle_data(self, data: str) -> None:
        if self.opaque:
            return
        data = _CONTROLS.sub("", data.replace("\r\n", "\n").replace("\r", "\n") if self.pre else data)
        if self.pre:
            first, *rest = data.split("\n")
            self.write(first)
            for part in rest:
                if not self.open:  # an empty line inside pre is kept
                    self.write(" ")
                self.newline()
                self.write(part)
        else:
            self.write(_SPACES.sub(" ", data))

    # -- links

    def _mark(self) -> tuple[int, int | None]:
        """Where a link's label starts: the line, and the column (None: where that line's text will)."""
        return len(self.lines), len(self.line) if self.open else None

    def _end_link(self, href: str, attrs: dict[str, str], start: tuple[int, int | None]) -> None:
        lines_at, column = start
        if column is None:
            column = self.start
        label = self.line[column:].strip() if lines_at == len(self.lines) else ""
        try:
            parts = urlsplit(href.strip()) if href else None
            web = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # a malformed host: not a link to keep
            parts, web = None, False
        classes = attrs.get("class", "").split()
        if not web or not label:
            if web and not label:
                self.write(href.strip())
            return
        assert parts is not None
        if "hashtag" in classes or label.startswith("#"):
            return
        if "mention" in classes or (label.startswith("@") and "@" not in label[1:]):
            name = label.lstrip("@")
            host = (parts.hostname or "").lower()
            if name and "@" not in name:
                self.line = self.line[:column] + f"@{name}@{host}"
            return
        if label.rstrip("/…") in (href, href.split("://", 1)[-1]) or href.startswith(label.rstrip("…")):
            self.line = self.line[:column] + href.strip()
        else:
            self.write(f" <{href.strip()}>")


def to_text(html: object) -> str:
    """Remote HTML as plain text (see the module's docstring): at most
    TEXT_MAX characters, never raising; anything that is not a string is ''."""
    if not isinstance(html, str):
        return ""
    parser = _Text()
    try:
        parser.feed(html[:HTML_MAX])
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser on hostile input: keep what was read
        pass
    parser.newline()
    text = "\n".join(parser.lines)
    text = validate.strip_invisible(_CONTROLS.sub("", text))
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    return text[:TEXT_MAX]
