"""Reading an email or news message as the fields of an article (pure).

Plain messages (one text/plain part, 7bit or 8bit, LF or CRLF line ends:
what mbox archives and list mail mostly hold) take a fast path that reads
the header block with a few string operations; anything else (MIME parts,
quoted-printable, base64, stray CRs in the header) goes through the email
package. Both end in the same rules: header
text is decoded (RFC 2047, stray 8-bit bytes as UTF-8 or Latin-1), control
characters never survive into one-line fields, the body is UTF-8 within
validate.body's limits, and a message without a usable Message-ID gets one
derived from its bytes, so the same message always gets the same one."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import parseaddr, parsedate_to_datetime, unquote
from html.parser import HTMLParser

from ..store import clock, validate
from ..store.errors import Invalid, TooLarge
from . import mbox
from .subjects import trim_references

# Message-IDs made up for messages without a usable one: `.invalid` (RFC 2606)
# can never be this site's domain or anyone else's.
DERIVED_DOMAIN = "import.invalid"
NO_SUBJECT = "(no subject)"
NO_AUTHOR = "(unknown)"
CHAIN_MAX = 100
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")
_HEADER_LINE = re.compile(rb"([!-9;-~]+):[ \t]*(.*)\Z", re.S)
_ADDRESS = re.compile(r"[!-~]{1,250}\Z")
_NAME_ADDR = re.compile(r"\s*(.*?)\s*<([^<>]*)>\s*\Z", re.S)
_CHARSET = re.compile(r"charset\s*=\s*\"?([^\";\s]+)", re.I)
# MIME containers (multiparts, each with its boundary, and enclosed messages) a
# message may declare: the email package parses them recursively, so a deeper
# nesting is refused before it is parsed. Real mail nests a few levels.
MIME_CONTAINERS_MAX = 100
_MIME_CONTAINER = re.compile(rb"boundary\s*=|message/(?:rfc822|global)\b", re.I)
_MESSAGE_ID_LINE = re.compile(rb"^Message-ID:[ \t]*(<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>)", re.I | re.M)
# notmuch's strict In-Reply-To: one bracketed id with no space in it, nothing else.
_SOLE_ID = re.compile(r"\s*(<[^<>\s]*>)\s*")
_ENVELOPE_DATE = re.compile(rb"(\w{3}) +(\w{3}) +(\d{1,2}) +(\d\d?):(\d\d):(\d\d) +(\d{4})")
_RFC_DATE = re.compile(
    r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d\d):(\d\d)"
    r"(?::(\d\d))?\s+([+-])(\d\d)(\d\d)\s*(?:\([^()]*\))?\s*\Z"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


@dataclass(frozen=True)
class Parsed:
    """What an imported message becomes: the fields of an article."""

    message_id: str
    parent_id: str | None  # the Message-ID it replies to
    refs: tuple[str, ...]  # its References (else In-Reply-To), as given (trimmed like ours)
    subject: str
    body: str
    author_name: str
    author_addr: str | None
    created_at: str
    derived_id: bool = False  # the Message-ID was missing or unusable and was made up
    utc_offset: int = 0  # minutes east of UTC of its Date (created_at is UTC)
    chain: tuple[str, ...] = ()  # its ancestry, oldest first, its parent last (messages.ancestry)


def header_text(raw: bytes) -> str:
    """Header bytes as text: UTF-8 when they are, else Latin-1 (every byte is one)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded; text that fails to decode is kept as written."""
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError, AssertionError):
        return text


def _line(text: str, limit: int) -> str:
    """One-line text as validate.line wants it: no control characters, trimmed, cut to size."""
    return validate.strip_invisible(_LINE_UNSAFE.sub(" ", text)).strip()[:limit].strip()


class Head:
    """A message's header fields as read, in order: (lower-case name, text with
    the folding undone, raw bytes as header_text reads them). `first` is each
    name's first field."""

    __slots__ = ("fields", "first")

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields
        self.first: dict[str, str] = {}
        for name, value in fields:
            self.first.setdefault(name, value)

    def all(self, name: str) -> list[str]:
        """Every field called `name` (lower case), topmost first."""
        return [value for field, value in self.fields if field == name]


def plain_message(data: bytes) -> tuple[Head, bytes] | None:
    """(header fields, body bytes) of a plain message (one text/plain part, 7bit
    or 8bit, LF or CRLF line ends), read without the email package; None when
    it needs that package (the slow path)."""
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        head, body = data[:crlf].replace(b"\r\n", b"\n"), data[crlf + 4 :]
    else:
        head, body = (data, b"") if lf < 0 else (data[:lf], data[lf + 2 :])
    if b"\r" in head:
        return None
    pairs: list[list[bytes]] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and pairs:
            pairs[-1][1] += line  # unfolding removes only the line break
            continue
        m = _HEADER_LINE.match(line)
        if m is None:
            return None
        pairs.append([m[1], m[2]])
    found = Head([(name.decode("ascii").lower(), header_text(value)) for name, value in pairs])
    kind = found.first.get("content-type", "text/plain").split(";", 1)[0].strip().lower()
    encoding = found.first.get("content-transfer-encoding", "").strip().lower()
    if kind != "text/plain" or encoding not in ("", "7bit", "8bit", "binary"):
        return None
    return found, body


def head_of(msg: Message) -> Head:
    """The header fields of a message the email package has read (compat32)."""
    fields = []
    for key, value in msg.raw_items():
        text = value.encode("ascii", "surrogateescape") if isinstance(value, str) else b""
        fields.append((key.lower(), _UNFOLD.sub("", header_text(text)) if text else str(value)))
    return Head(fields)


def plain_body(head: Head, payload: bytes) -> str:
    """The text of a plain message's body bytes, in the charset its header names."""
    charset = _CHARSET.search(head.first.get("content-type", ""))
    return _decode_body(payload, charset[1] if charset else None)


def _date(headers: dict, envelope: bytes) -> tuple[str, int]:
    """(the stored UTC time, the Date's offset from UTC in minutes)."""
    stamp, moment = _moment(headers, envelope)
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    return stamp, minutes if -1440 < minutes < 1440 else 0


def _moment(headers: dict, envelope: bytes) -> tuple[str, datetime]:
    value = headers.get("date", "")
    moment = None
    m = _RFC_DATE.match(value)
    if m and m[2].lower() in _MONTHS:
        try:
            offset = timedelta(hours=int(m[8]), minutes=int(m[9])) * (-1 if m[7] == "-" else 1)
            moment = datetime(
                int(m[3]),
                _MONTHS[m[2].lower()],
                int(m[1]),
                int(m[4]),
                int(m[5]),
                int(m[6] or 0),
                tzinfo=timezone(offset),
            )
        except ValueError:
            moment = None
    if moment is None and value:
        try:
            moment = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            moment = None
    if moment is None:
        em = _ENVELOPE_DATE.search(envelope)
        if em:
            try:
                parts = time.strptime(" ".join(x.decode() for x in em.groups()), "%a %b %d %H %M %S %Y")
                moment = datetime(*parts[:6], tzinfo=UTC)
            except (ValueError, UnicodeDecodeError):
                moment = None
    if moment is None:
        raise Invalid("no usable Date header")
    try:
        stamp = clock.stamp(moment)
    except (ValueError, OverflowError):
        raise Invalid("the Date is out of range") from None
    if len(stamp) != 24 or not "1900" <= stamp[:4] <= "9999":
        raise Invalid("the Date is out of range")
    exact = headers.get(mbox.CREATED_HEADER.lower(), "").strip()
    # Trusted only to add the milliseconds to the very second Date gives.
    if len(exact) == 24 and exact[:19] == stamp[:19]:
        try:
            clock.parse(exact)
            return exact, moment
        except ValueError:
            pass
    return stamp, moment


def _author(headers: dict) -> tuple[str, str | None]:
    value = headers.get("from", "")
    # `name <addr>` is split at the last angle brackets before the name is
    # decoded, so an encoded word holding ':' or ',' cannot confuse the parse.
    m = _NAME_ADDR.match(value)
    if m:
        name, addr = m[1], m[2]
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = unquote(name)
    else:
        name, addr = parseaddr(value)
    name = _line(decode_words(name), validate.DISPLAY_NAME_MAX)
    addr = addr.strip()
    addr = addr if "@" in addr and _ADDRESS.match(addr) and addr.lower() != mbox.UNKNOWN_ADDRESS else None
    return name or addr or NO_AUTHOR, addr


def _text_part(msg: Message) -> Message | None:
    if not msg.is_multipart():
        return msg if msg.get_content_maintype() == "text" else None
    first_text = None
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if (part.get("Content-Disposition") or "").lower().startswith("attachment"):
            continue
        if part.get_content_subtype() == "plain":
            return part
        first_text = first_text or part
    return first_text


def _decode_body(payload: bytes, charset: str | None) -> str:
    try:
        text = payload.decode("utf-8")  # us-ascii and most undeclared 8-bit text is UTF-8
    except UnicodeDecodeError:
        try:
            text = payload.decode(charset or "utf-8", "replace")
        except LookupError:
            text = payload.decode("utf-8", "replace")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    return validate.body(_CONTROLS.sub("", text), allow_empty=True)


def read_body(msg: Message) -> str:
    """The text of a message the email package has read: its first text/plain
    part (else its first text part), decoded; an HTML part as its text
    (html_to_text), as a mail client shows it without markup. Invalid when it
    has no text part."""
    part = _text_part(msg)
    if part is None:
        raise Invalid("no text part")
    payload = part.get_payload(decode=True)
    text = _decode_body(payload if isinstance(payload, bytes) else b"", part.get_content_charset())
    return html_to_text(text) if part.get_content_subtype() == "html" else text


_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "table",
    "hr",
}


class _Text(HTMLParser):
    """HTML as plain text: the words, a line break per block, scripts and styles left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (no markup survives)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def mime_problem(data: bytes) -> str | None:
    """Why a message's MIME structure is refused before it is parsed (more than
    MIME_CONTAINERS_MAX containers, which bounds its nesting), or None."""
    for found, _ in enumerate(_MIME_CONTAINER.finditer(data), 1):
        if found > MIME_CONTAINERS_MAX:
            return f"malformed MIME: more than {MIME_CONTAINERS_MAX} nested parts"
    return None


def guess_message_id(data: bytes) -> str | None:
    """The Message-ID of a message that could not be read, to name it in the report."""
    m = _MESSAGE_ID_LINE.search(data, 0, 64 * 1024)
    return m[1].decode("ascii") if m else None


def ancestry(refs: list[str], in_reply_to: str, message_id: str) -> tuple[str, ...]:
    """A message's ancestry, oldest first, its parent last, as notmuch 0.37
    chooses the parent (lib/add-message.cc): the In-Reply-To when it is one
    well-formed Message-ID and nothing else, else the last of `refs` (its
    References, else the first id In-Reply-To names)."""
    m = _SOLE_ID.fullmatch(in_reply_to)
    parent = m[1] if m and validate.references(m[1]) == [m[1]] and m[1] != message_id else None
    return tuple(dict.fromkeys([r for r in refs if r != parent] + ([parent] if parent else [])))


def derived_message_id(data: bytes) -> str:
    """A stable made-up Message-ID: the same message bytes always give the same one."""
    return f"<{hashlib.sha256(data).hexdigest()[:40]}@{DERIVED_DOMAIN}>"


def parse_message(raw: mbox.RawMessage) -> Parsed:
    """A raw message as article fields, or Invalid / TooLarge with the reason."""
    if raw.too_large:
        raise TooLarge(f"the message is {raw.size} bytes; the limit is {mbox.MESSAGE_MAX_BYTES}")
    plain = plain_message(raw.data)
    if plain is not None:
        head, payload = plain
        body = plain_body(head, payload)
    else:
        problem = mime_problem(raw.data)
        if problem is not None:
            raise Invalid(problem)
        msg = message_from_bytes(raw.data, policy=compat32)
        head = head_of(msg)
        if not head.fields:
            raise Invalid("no headers: this is not an email message")
        body = read_body(msg)
    return _fields(head.first, body, raw.data, raw.envelope)


def parse_read(head: Head, body: str, data: bytes) -> Parsed:
    """parse_message for a message read already (its header fields and text,
    by plain_message and plain_body, or by the email package with head_of)
    from `data`: the same fields without reading the bytes again. Invalid
    when it has no usable Date."""
    return _fields(head.first, body, data, b"")


def _fields(headers: dict[str, str], body: str, data: bytes, envelope: bytes) -> Parsed:
    """The article fields of a message's decoded `headers` (lower-case names) and text."""
    derived = False
    try:
        message_id = validate.message_id(headers.get("message-id", ""))
    except Invalid:
        message_id, derived = derived_message_id(data), True
    refs = [r for r in validate.references(headers.get("references", "")) if r != message_id]
    if not refs:  # JWZ: without References, the first id In-Reply-To names is the parent
        refs = [r for r in validate.references(headers.get("in-reply-to", "")) if r != message_id][:1]
    # The walk for a present ancestor looks this far back (RFC 5537 lets the middle go anyway).
    chain = ancestry(refs, headers.get("in-reply-to", ""), message_id)[-CHAIN_MAX:]
    parent = chain[-1] if chain else None
    refs = trim_references(refs)
    subject = _line(decode_words(headers.get("subject", "")), validate.SUBJECT_MAX)
    name, addr = _author(headers)
    created_at, utc_offset = _date(headers, envelope)
    return Parsed(
        message_id=message_id,
        parent_id=parent,
        refs=tuple(refs),
        subject=subject or NO_SUBJECT,
        body=body,
        author_name=name,
        author_addr=addr,
        created_at=created_at,
        derived_id=derived,
        chain=chain,
        utc_offset=utc_offset,
    )
