"""Articles as news messages (RFC 5536), as pure functions over article rows.

An article row here has the columns of exports.EXPORT_SELECT (the article,
its group's name, its author's username, its path in its thread's tree).
Headers are built with mbox's header helpers, so mbox downloads
and NNTP write the same From, Subject and References; text is LF-separated
here and the transport turns it into CRLF lines."""

from __future__ import annotations

from datetime import timedelta
from sqlite3 import Row

from ..articles import mbox
from ..articles.authors import CHANNELS
from ..store import clock

# RFC 3977 §8.4: the overview fields, in order, after the article number. The
# sixth and seventh (the :bytes and :lines metadata) are listed in the older
# form "Bytes:" and "Lines:" that §8.4.2 allows for compatibility (RFC 2980):
# slrn 1.0.3 reads only that form and otherwise turns XOVER off, fetching one
# HEAD per article on entering a group. Clients of RFC 3977 accept both.
OVERVIEW_FMT = ("Subject:", "From:", "Date:", "Message-ID:", "References:", "Bytes:", "Lines:", "Xref:full")
# Headers HDR/XHDR can answer besides the overview fields (RFC 3977 §8.5).
HEADERS = (
    "Subject",
    "From",
    "Date",
    "Message-ID",
    "References",
    "Newsgroups",
    "Path",
    "Xref",
    "Lines",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
    "Injection-Date",
)
# The ways an article is injected here (posting.Submission.channel); one from a
# peer was injected elsewhere, and imported ones and notices have no channel.
INJECTED_HERE = tuple(c for c in CHANNELS if c != "peer")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def news_date(stamp: str, utc_offset: int = 0) -> str:
    """RFC 5322 §3.3 date of a stored time ('2026-11-21T10:00:00.123Z') in the
    author's offset from UTC (minutes east), as an imported Date gave it."""
    moment = clock.parse(stamp) + timedelta(minutes=utc_offset)
    weekday = _DAYS[moment.weekday()]
    sign, minutes = ("-" if utc_offset < 0 else "+"), abs(utc_offset)
    return (
        f"{weekday}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M:%S}"
        f" {sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


def author_address(article: Row, domain: str) -> str:
    """The From address: an imported one as it was, else username@site-domain."""
    if article["author_addr"]:
        return article["author_addr"]
    return f"{article['username']}@{domain}" if article["username"] else mbox.UNKNOWN_ADDRESS


def xref(article: Row, domain: str) -> str:
    """`host group:number`: one group per article, since Moot does not model cross-posts."""
    return f"{domain} {article['group_name']}:{article['number']}"


def path(article: Row, domain: str) -> str:
    """The Path (RFC 5536 §3.1.5): as it arrived from a peer (this node first),
    else this node's name and `not-for-mail` for an article posted here."""
    keys = article.keys() if hasattr(article, "keys") else ()
    return (article["news_path"] if "news_path" in keys else None) or f"{domain}!not-for-mail"


def injected_here(article: Row) -> bool:
    """Whether this node injected the article (posted by web, API, NNTP or mail):
    its Injection-Date and Cancel-Lock are this node's to give. An imported one,
    one a peer sent, a notice, and one stored before channels were kept are not."""
    keys = article.keys() if hasattr(article, "keys") else ()
    return "channel" in keys and article["channel"] in INJECTED_HERE


def headers(article: Row, domain: str) -> list[tuple[str, str]]:
    """The header fields of an article, in the order they are written; values may
    hold folded lines (LF followed by a space) where RFC 2047 words are long."""
    refs = [mbox.header_text(r) for r in mbox.references(article)]
    body = article["body"]
    fields = [
        ("Path", path(article, domain)),
        ("From", mbox.address(article["author_name"], author_address(article, domain))),
        ("Newsgroups", mbox.header_text(article["group_name"])),
        ("Subject", mbox.encoded_words(article["subject"], "Subject")),
        ("Date", news_date(article["created_at"], article["utc_offset"])),
        ("Message-ID", mbox.header_text(article["message_id"])),
    ]
    if refs:
        # RFC 5536 §3.2.10 allows folding References; one id per line stays under 998 octets.
        fields.append(("References", "\n ".join(refs)))
    approved = article["approved"] if "approved" in article.keys() else None  # noqa: SIM118 - a Row
    if approved:  # RFC 5536 §3.2.1: who let it into a moderated group
        fields.append(("Approved", mbox.encoded_words(approved, "Approved")))
    if injected_here(article):  # RFC 5536 §3.2.8: when this node injected it
        fields.append(("Injection-Date", news_date(article["created_at"])))
    fields += [
        ("Xref", xref(article, domain)),
        ("Lines", str(body.count("\n") + 1 if body else 0)),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    return fields


def head_lines(article: Row, domain: str, fields: list[tuple[str, str]] | None = None) -> list[str]:
    """The header block as lines (folded values become several lines)."""
    out: list[str] = []
    for name, value in fields if fields is not None else headers(article, domain):
        out.extend(f"{name}: {value}".split("\n"))
    return out


def body_lines(article: Row) -> list[str]:
    body = article["body"]
    return body.split("\n") if body else []


def wire_size(lines: list[str]) -> int:
    """Octets of lines as sent with CRLF endings, before dot-stuffing (RFC 3977 :bytes)."""
    return sum(len(line.encode("utf-8", "replace")) + 2 for line in lines)


def unfold(value: str) -> str:
    """A header value on one line, as overview and HDR need it (RFC 3977 §8.3: no TAB, CR or LF)."""
    return value.replace("\r", "").replace("\n", "").replace("\t", " ")


def header_value(article: Row, domain: str, name: str) -> str | None:
    """One header's unfolded value (case-insensitive name), or None when the article has none."""
    wanted = name.lower()
    for field, value in headers(article, domain):
        if field.lower() == wanted:
            return unfold(value)
    return None


def overview(article: Row, domain: str) -> list[str]:
    """The overview line's fields (RFC 3977 §8.3.2): number, then OVERVIEW_FMT's fields."""
    listed = headers(article, domain)
    fields = dict(listed)
    head = head_lines(article, domain, listed)
    body = body_lines(article)
    size = wire_size(head) + 2 + wire_size(body)
    return [
        str(article["number"]),
        unfold(fields["Subject"]),
        unfold(fields["From"]),
        fields["Date"],
        fields["Message-ID"],
        unfold(fields.get("References", "")),
        str(size),
        str(len(body)),
        "Xref: " + fields["Xref"],
    ]
