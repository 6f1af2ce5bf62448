"""Pure parsing for NNTP (RFC 3977): command lines, ranges, wildmats, dates and
posted articles. No I/O: every function takes text or bytes and returns a
value or raises Syntax (the session answers 501) or Rejected (441)."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import compat32
from email.utils import parseaddr, parsedate_to_datetime

from ..articles.messages import decode_words, header_text
from ..news import peers
from ..news import wildmat as wildmats
from ..news.wildmat import Wildmat
from ..store import clock, validate

# RFC 3977 §3.1: a command line is at most 512 octets, CRLF included.
LINE_MAX = 512
# RFC 3977 §6.1.1: article numbers fit in 31 bits; we accept up to 2^63-1 and say so.
NUMBER_MAX = 2**63 - 1
_NUMBER = re.compile(r"[0-9]{1,16}\Z")
_RANGE = re.compile(r"([0-9]{1,16})(-([0-9]{0,16}))?\Z")
_DATE = re.compile(r"([0-9]{2}|[0-9]{4})([0-9]{2})([0-9]{2})\Z")
_TIME = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HEADER = re.compile(r"([!-9;-~]+):[ \t]?(.*)\Z", re.S)
# A From of plain atoms, `Name Words <local@domain>` or `local@domain`: read
# here as email.utils.parseaddr reads it, at a fraction of its cost; any other
# form (quotes, comments, groups, encoded words) goes to parseaddr.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"
_PLAIN_FROM = re.compile(rf"((?:{_ATOM}[ \t]+)*?{_ATOM})?[ \t]*<({_ADDR})>\Z|({_ADDR})\Z")


class Syntax(ValueError):
    """A command line the grammar refuses (RFC 3977 §3.2.1: 501)."""


class Rejected(ValueError):
    """A posted article that cannot be accepted (RFC 3977 §6.3.1: 441)."""


@dataclass(frozen=True)
class Command:
    keyword: str  # upper-cased first word
    args: tuple[str, ...]  # the other words
    rest: str  # everything after the keyword, as sent (AUTHINFO passwords may hold spaces)


def command(line: bytes) -> Command:
    """Split one command line (without its CRLF) into keyword and arguments.
    Raises Syntax when it is not UTF-8 or holds control characters."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise Syntax("command lines are UTF-8 (RFC 3977 §3.1)") from None
    if _CONTROL.search(text):
        raise Syntax("control characters in the command line")
    words = text.split()
    if not words:
        raise Syntax("empty command line")
    keyword = words[0].upper()
    rest = text.lstrip(" \t")[len(words[0]) :].lstrip(" \t")
    return Command(keyword, tuple(words[1:]), rest)


def number(text: str) -> int:
    """An article number: 1 to 16 decimal digits."""
    if not _NUMBER.match(text):
        raise Syntax(f"{text[:40]!r} is not an article number")
    return int(text)


def article_range(text: str) -> tuple[int, int]:
    """RFC 3977 §8.3.2 range: `n`, `n-` (to the end) or `n-m`, as (low, high)."""
    m = _RANGE.match(text)
    if not m:
        raise Syntax(f"{text[:40]!r} is not a range (n, n- or n-m)")
    low = int(m[1])
    if m[2] is None:
        return low, low
    return low, int(m[3]) if m[3] else NUMBER_MAX


def is_message_id(text: str) -> bool:
    return text.startswith("<")


# RFC 3977 §3.6: what a command may name as a Message-ID, '@' or not. Articles
# are posted and taken from peers only under RFC 5536 §3.1.3's stricter form
# (validate.message_id), so a lookup of any other finds none and answers 430.
_MESSAGE_ID_ARG = re.compile(r"<[\x21-\x3d\x3f-\x7e]{1,248}>\Z")


def message_id(text: str) -> str:
    """A Message-ID argument (RFC 3977 §3.6), or Syntax."""
    if not _MESSAGE_ID_ARG.match(text):
        raise Syntax(f"{text[:80]!r} is not a Message-ID")
    return text


def wildmat(text: str) -> Wildmat:
    """A wildmat argument (RFC 3977 §4), or Syntax."""
    try:
        return wildmats.parse(text)
    except wildmats.BadWildmat as e:
        raise Syntax(str(e)) from None


MATCH_ALL = wildmat("*")


def date_time(args: tuple[str, ...], now: datetime | None = None) -> str:
    """NEWNEWS/NEWGROUPS `date time [GMT]` (RFC 3977 §7.3.2) as Moot's stored time
    form. Times are UTC with or without GMT (the server's clock is UTC); a
    two-digit year is the one nearest the current year."""
    if len(args) not in (2, 3) or (len(args) == 3 and args[2].upper() != "GMT"):
        raise Syntax("expected: yyyymmdd hhmmss [GMT]")
    d, t = _DATE.match(args[0]), _TIME.match(args[1])
    if not d or not t:
        raise Syntax("expected: yyyymmdd hhmmss [GMT]")
    year = int(d[1])
    if len(d[1]) == 2:
        current = (now or datetime.now(UTC)).year
        year += current - current % 100
        if year > current + 50:  # §7.3.2: within 50 years of now, either way
            year -= 100
        elif year <= current - 50:
            year += 100
    try:
        moment = datetime(year, int(d[2]), int(d[3]), int(t[1]), int(t[2]), int(t[3]))
    except ValueError:
        raise Syntax("no such date or time") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Posted:
    """What a posted article asks for."""

    newsgroup: str
    subject: str
    body: str
    references: tuple[str, ...]
    message_id: str | None
    cancels: str | None = None  # `Control: cancel <id>`: withdraw that article, store nothing
    supersedes: str | None = None  # `Supersedes: <id>`: withdraw that article, store this one


def _posted_id(value: str, header: str) -> str:
    """A Message-ID an article's `header` gives, in RFC 5536 §3.1.3's form; Rejected otherwise."""
    try:
        return validate.message_id(value)
    except validate.Invalid:
        raise Rejected(f"{header}: {value[:80]!r} is not a Message-ID of the form <id@domain>") from None


def _fields(data: bytes) -> tuple[dict[str, str], bytes, bytes]:
    """An article's header fields (lower-case names, unfolded), head and body bytes."""
    end = data.find(b"\r\n\r\n")
    # no blank line before the body: the article ends after its headers (or after the blank line)
    head, body_bytes = (data.removesuffix(b"\r\n"), b"") if end < 0 else (data[:end], data[end + 4 :])
    fields: dict[str, str] = {}
    last = None
    for raw in head.split(b"\r\n"):
        line = header_text(raw)
        if line[:1] in (" ", "\t") and last is not None:
            fields[last] += " " + line.strip()  # RFC 5322 §2.2.3 unfolding
            continue
        m = _HEADER.match(line)
        if not m:
            raise Rejected(f"malformed header line {line[:60]!r}")
        last = m[1].lower()
        if last in fields:
            raise Rejected(f"the {m[1]} header appears twice")
        fields[last] = m[2].strip()
    return fields, head, body_bytes


def posted_article(data: bytes) -> Posted:
    """A POSTed article (dot-stuffing already undone, lines joined by CRLF) as
    the fields Moot stores; Rejected with a reason a person can act on."""
    fields, head, body_bytes = _fields(data)
    groups = [g.strip() for g in fields.get("newsgroups", "").split(",") if g.strip()]
    if not groups:
        raise Rejected("the Newsgroups header is missing")
    if len(set(groups)) > 1:
        raise Rejected("cross-posting is not supported: Newsgroups must name exactly one group")
    # a tab is white space in a header (RFC 5322 §2.2.1), not a control character
    subject = decode_words(fields.get("subject", "")).replace("\t", " ")
    if not subject.strip():
        raise Rejected("the Subject header is missing")
    given_id = fields.get("message-id")
    if given_id is not None:
        given_id = _posted_id(given_id, "Message-ID")
    # RFC 5537 §5.3 and §5.4: a reader may cancel, or supersede, an article;
    # the other control messages (groups, checkgroups) are the site's own.
    cancels = supersedes = None
    if "control" in fields:
        verb, *target = fields["control"].split(None, 1) or [""]
        if verb.lower() != "cancel":
            raise Rejected(f"control messages other than cancel are not taken here ({verb[:40]!r})")
        if "supersedes" in fields:
            raise Rejected("a cancel does not supersede: send Control or Supersedes, not both")
        cancels = _posted_id("".join(target).strip(), "Control: cancel")
    elif "supersedes" in fields:
        supersedes = _posted_id(fields["supersedes"], "Supersedes")
    return Posted(
        newsgroup=groups[0],
        subject=subject,
        body=_body(fields, head, body_bytes) if cancels is None else "",
        references=tuple(validate.references(fields.get("references", ""))),
        message_id=given_id,
        cancels=cancels,
        supersedes=supersedes,
    )


def _body(fields: dict[str, str], head: bytes, body: bytes) -> str:
    kind = fields.get("content-type", "text/plain")
    if not kind.lower().startswith("text/plain"):
        raise Rejected("Moot stores plain text only (Content-Type: text/plain)")
    charset = re.search(r"charset\s*=\s*\"?([^\";\s]+)", kind, re.I)
    encoding = fields.get("content-transfer-encoding", "8bit").lower()
    if encoding == "base64":  # strictly: a body that is not base64 is not what its header says
        try:
            body = binascii.a2b_base64(b"".join(body.split()), strict_mode=True)
        except binascii.Error:
            raise Rejected("the body is not valid base64, as its Content-Transfer-Encoding says") from None
    elif encoding == "quoted-printable":
        payload = message_from_bytes(head + b"\r\n\r\n" + body, policy=compat32).get_payload(decode=True)
        body = payload if isinstance(payload, bytes) else b""
    elif encoding not in ("7bit", "8bit", "binary"):
        raise Rejected(f"unknown Content-Transfer-Encoding {encoding[:40]!r}")
    name = charset[1] if charset else "utf-8"
    try:
        return body.decode(name)
    except LookupError:
        raise Rejected(f"unknown charset {name[:40]!r}") from None
    except UnicodeDecodeError:
        raise Rejected("the body is not valid in its declared charset") from None


def transit_article(data: bytes, offered_id: str) -> peers.Incoming:
    """An article a peer sends with IHAVE or TAKETHIS (RFC 3977 §6.3.2, RFC 4644
    §2.5) as peers.Incoming; Rejected when it lacks what RFC 5536 §3.1
    requires (Message-ID matching the offer, Newsgroups, Path, From) or is not plain text."""
    fields, head, body_bytes = _fields(data)
    mid = fields.get("message-id", "")
    if mid != offered_id:
        raise Rejected(f"the Message-ID header {mid[:80]!r} is not the one offered")
    _posted_id(mid, "Message-ID")  # RFC 5536 §3.1.3's form, which every id stored here has
    groups = tuple(g.strip() for g in fields.get("newsgroups", "").split(",") if g.strip())
    if not groups:
        raise Rejected("the Newsgroups header is missing")
    for name in ("path", "from"):
        if not fields.get(name):
            raise Rejected(f"the {name.title()} header is missing")
    name, address = from_address(fields["from"])
    try:
        when = parsedate_to_datetime(fields.get("date", ""))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        date = clock.stamp(when)
    except (TypeError, ValueError, IndexError):
        date = clock.now()
    control = fields.get("control")
    body = "" if control is not None and "content-type" not in fields else None
    if body is None:
        body = _body(fields, head, body_bytes).replace("\r\n", "\n")
    return peers.Incoming(
        message_id=mid,
        newsgroups=groups,
        subject=decode_words(fields.get("subject", "")),
        body=body,
        from_name=name,
        from_addr=address,
        date=date,
        references=tuple(validate.references(fields.get("references", ""))),
        path=fields["path"],
        control=control,
        text=data.decode("utf-8", "replace").replace("\r\n", "\n"),
        sequence=_sequence(fields.get("x-moot-sequence")),
        approved=decode_words(fields["approved"]) if fields.get("approved") else None,
        cancel_key=fields.get("cancel-key"),
    )


def from_address(value: str) -> tuple[str, str]:
    """(display name, address) of a From header's value, as parseaddr reads it
    after its encoded words are decoded (the plain forms without either)."""
    m = _PLAIN_FROM.match(value)
    if m is None or "=?" in value:
        return parseaddr(decode_words(value))
    if m[3] is not None:
        return "", m[3]
    return " ".join((m[1] or "").split()), m[2]


def _sequence(value: str | None) -> int | None:
    """An X-Moot-Sequence header's number (docs/PEERING.md); None when absent or not one."""
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) <= 18 else None
