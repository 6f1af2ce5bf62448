"""Pure input rules. Each function takes untrusted input and returns the clean
value or raises Invalid (or TooLarge) with a message a person can act on.
No I/O here: these are tested without a socket or a database."""

from __future__ import annotations

import json
import re
from itertools import accumulate

from .confusables import name_skeleton
from .errors import Invalid, TooLarge

GROUP_NAME_MAX = 80
SUBJECT_MAX = 250
BODY_MAX_BYTES = 64 * 1024
DESCRIPTION_MAX = 300
CHARTER_MAX = 8 * 1024
REASON_MAX = 500
DISPLAY_NAME_MAX = 64
PASSWORD_MIN, PASSWORD_MAX = 8, 256
# RFC 5322 §2.1.1 caps a header line at 998 octets; a Message-ID must fit in one.
MESSAGE_ID_MAX = 250
PAGE_MAX = 200

_GROUP_COMPONENT = re.compile(r"[a-z0-9][a-z0-9+_-]*\Z")
_USERNAME = re.compile(r"[a-z0-9_.-]{3,32}\Z")
# RFC 5536 §3.1.3: "<" id-left "@" id-right ">", printable ASCII, no spaces or brackets inside.
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-Z^-~]+>\Z")
# Control characters other than tab and newline (C0, DEL, C1), plus line and
# paragraph separators that would break a header or a line-oriented protocol.
# A link in an article's text, as the limits on new accounts count them and
# repetition compares them: a URL with its scheme, or one starting "www.".
LINK = re.compile(r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]+")


def _may_link(text: str) -> bool:
    """Whether LINK can match in `text` at all: each match holds '://' or a
    'www.' in any case. Far cheaper than the scan, which most texts fail."""
    return "://" in text or "www." in text.lower()


def links(text: str) -> list[str]:
    """The links in `text`: LINK's matches, in order."""
    return LINK.findall(text) if _may_link(text) else []


def without_links(text: str) -> str:
    """`text` with each link (LINK's matches) replaced by a space."""
    return LINK.sub(" ", text) if _may_link(text) else text


_BODY_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Characters that change how the text around them reads without being seen:
# bidi embeddings, overrides, isolates and marks (the "Trojan Source" tricks),
# zero-width spaces and joiners, word joiner, invisible operators, BOM.
_INVISIBLE = re.compile(r"[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# The same less ZWNJ and ZWJ, which some scripts (Persian, Indic) and emoji sequences
# need: refused in subjects and other free text, where the joiners are kept.
_INVISIBLE_IN_TEXT = re.compile(
    r"[\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
# A surrogate code point in a Python str is always a lone one (JSON's "\ud800"
# escape, say): it has no UTF-8 form, so SQLite and every encoder refuse it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# SQLite integers are signed 64-bit: an id past this cannot be stored or looked up.
ID_MAX = 2**63 - 1


def has_lone_surrogate(text: str) -> bool:
    """True when `text` cannot be written as UTF-8."""
    return _SURROGATE.search(text) is not None


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string")
    if has_lone_surrogate(value):
        raise Invalid(f"{what} is not valid Unicode (a lone surrogate)")
    return value


def group_name(value: object) -> str:
    """Dotted lower-case components of [a-z0-9][a-z0-9+_-]*, at most 80 characters."""
    name = _text(value, "group name")
    if not name:
        raise Invalid("group name is empty")
    if len(name) > GROUP_NAME_MAX:
        raise Invalid(f"group name is longer than {GROUP_NAME_MAX} characters")
    for part in name.split("."):
        if not _GROUP_COMPONENT.match(part):
            raise Invalid(
                f"group name {name!r} is not valid: each dot-separated part starts with a-z "
                "or 0-9 and has only a-z, 0-9, '+', '_' and '-'"
            )
    return name


def strip_invisible(text: str) -> str:
    """`text` without the invisible and direction-changing characters a line
    may not hold: for text that must be kept (mail, peers' articles)."""
    return _INVISIBLE_IN_TEXT.sub("", text)


def line(value: object, what: str, *, max_len: int, min_len: int = 1, name: bool = False) -> str:
    """A one-line text field: no control characters, no bidi controls or
    invisible characters (not even joiners in a `name`), trimmed, length-limited."""
    text = _text(value, what).strip()
    if len(text) < min_len:
        raise Invalid(f"{what} is empty" if min_len == 1 else f"{what} is shorter than {min_len} characters")
    if len(text) > max_len:
        raise Invalid(f"{what} is longer than {max_len} characters")
    if _LINE_FORBIDDEN.search(text):
        raise Invalid(f"{what} contains control characters")
    if (_INVISIBLE if name else _INVISIBLE_IN_TEXT).search(text):
        raise Invalid(f"{what} contains invisible or text-direction characters")
    return text


def subject(value: object) -> str:
    return line(value, "subject", max_len=SUBJECT_MAX)


def description(value: object) -> str:
    return line(value, "description", max_len=DESCRIPTION_MAX, min_len=0)


def display_name(value: object) -> str:
    return line(value, "display name", max_len=DISPLAY_NAME_MAX, name=True)


# Names a member's display name may not look like: they would pass the
# member off as the site's staff. Compared after name_key.
ROLE_WORDS = frozenset(
    {
        "admin",
        "administrator",
        "siteadmin",
        "moderator",
        "mod",
        "sitemoderator",
        "moderators",
        "admins",
        "sysop",
        "root",
        "staff",
        "system",
        "operator",
        "postmaster",
        "usenet",
        "news",
        "moot",
    }
)


def name_key(name: str) -> str:
    """What two names that read alike share: their confusables skeleton (Unicode
    TR 39, confusables.name_skeleton), case, width and punctuation aside."""
    return name_skeleton(name)


def sounds_like_a_role(name: str) -> bool:
    """True when a display name reads as a role word ("Admin", "Site  Moderator", "m.o.d")."""
    return name_key(name) in ROLE_WORDS


def reason(value: object, *, required: bool) -> str:
    if value is None:
        if required:
            raise Invalid("a reason is required: the moderation log says why")
        return ""
    return line(value, "reason", max_len=REASON_MAX, min_len=1 if required else 0)


def body(
    value: object, *, what: str = "body", max_bytes: int = BODY_MAX_BYTES, allow_empty: bool = False
) -> str:
    """Multi-line text: CRLF and CR become LF, no NUL or control characters beyond
    tab and newline, trailing white space at the end trimmed, at most 64 KiB of UTF-8."""
    text = _text(value, what)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _BODY_FORBIDDEN.search(text):
        raise Invalid(f"{what} contains control characters (only tab and newline are allowed)")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise TooLarge(f"{what} is {size} bytes; the limit is {max_bytes}")
    text = text.rstrip()
    if not text.strip() and not allow_empty:
        raise Invalid(f"{what} is empty")
    return text


def charter(value: object) -> str:
    return body(value, what="charter", max_bytes=CHARTER_MAX, allow_empty=True)


def username(value: object) -> str:
    name = _text(value, "username")
    if not _USERNAME.match(name):
        raise Invalid("username must be 3-32 characters of a-z, 0-9, '_', '.' and '-'")
    return name


def password(value: object) -> str:
    text = _text(value, "password")
    if not PASSWORD_MIN <= len(text) <= PASSWORD_MAX:
        raise Invalid(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    if "\x00" in text:
        raise Invalid("password contains a NUL character")
    return text


# The forms of Message-ID this server derives for what it makes itself, never
# taken from a client or (for an ordinary article) from a peer: a squatted one
# would swallow the real control as a duplicate. news.peers.cancel_message_id
# (`cancel.`), news.peers.queue_state (one per thread state action),
# stewardship.actions (its control, `x-moot-action.`, and `notice.`).
CONTROL_ID_PREFIXES = ("cancel.", "notice.", "x-moot-action.", "lock.", "unlock.", "archive.", "unarchive.")
# Those, and `ap.`: an article from the fediverse (federation/inbox.py), whose
# Message-ID is a hash of its object's id. No client may choose one; a peer
# may carry one, as every site that takes the object in derives the same id.
RESERVED_ID_PREFIXES = (*CONTROL_ID_PREFIXES, "ap.")


def reserved_message_id(message_id: str) -> bool:
    """True for a Message-ID of a form this server derives (RESERVED_ID_PREFIXES)."""
    return message_id[1:].lower().startswith(RESERVED_ID_PREFIXES)


def control_message_id(message_id: str) -> bool:
    """True for a Message-ID of a form this server derives for its control
    articles (CONTROL_ID_PREFIXES): no article from a peer may have one."""
    return message_id[1:].lower().startswith(CONTROL_ID_PREFIXES)


def chosen_message_id(value: object) -> str:
    """A Message-ID a client chose: well formed and of no reserved form."""
    text = message_id(value)
    if reserved_message_id(text):
        raise Invalid(f"{text[:80]!r} has a form this server reserves for its own control articles")
    return text


def message_id(value: object) -> str:
    """A Message-ID with its angle brackets, as RFC 5536 §3.1.3 writes it."""
    text = _text(value, "Message-ID").strip()
    if len(text) > MESSAGE_ID_MAX or not _MESSAGE_ID.match(text):
        raise Invalid(f"{text[:80]!r} is not a Message-ID of the form <id@domain>")
    return text


def references(value: str) -> list[str]:
    """The Message-IDs in a References header, skipping anything malformed."""
    found = []
    for token in re.findall(r"<[^<>\s]*>", value or ""):
        try:
            found.append(message_id(token))
        except Invalid:
            continue
    return found


def integer(value: object, what: str, *, minimum: int = 1, maximum: int = 2**62) -> int:
    """An integer id or count, given as a JSON number or a decimal string."""
    if isinstance(value, bool):
        raise Invalid(f"{what} must be an integer")
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value):
        value = int(value)
    if not isinstance(value, int):
        raise Invalid(f"{what} must be an integer")
    if not minimum <= value <= maximum:
        raise Invalid(f"{what} must be between {minimum} and {maximum}")
    return value


def limit(value: object, default: int = 50) -> int:
    if value is None or value == "":
        return default
    return integer(value, "limit", minimum=1, maximum=PAGE_MAX)


# Arrays and objects a JSON body may nest: json.loads recurses, and no request
# of the API nests more than a few.
JSON_DEPTH_MAX = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth(raw: bytes) -> int:
    """How deep the arrays and objects of JSON text nest, counted without parsing it."""
    brackets = _JSON_NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", raw))
    return max(accumulate(1 if b in b"[{" else -1 for b in brackets), default=0)


def json_object(raw: str | bytes, what: str) -> dict:
    """`raw` parsed as a JSON object; else Invalid, saying what (`what`) is wrong with
    it. Nesting deeper than JSON_DEPTH_MAX is refused before it is parsed."""
    if json_depth(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw) > JSON_DEPTH_MAX:
        raise Invalid(f"{what} nests arrays and objects deeper than {JSON_DEPTH_MAX} levels")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise Invalid(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise Invalid(f"{what} must be a JSON object")
    return value
