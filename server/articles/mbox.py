"""The mbox format (mboxrd), both ways, as pure functions over rows and streams.

Writing: each article becomes a `From ` line, RFC 5322 headers and its
plain-text body; body lines that start with any number of '>' and then
'From ' get one more '>' (mboxrd), so a reader that splits on `From ` lines
never splits inside a body. Header values come only from `header_text`,
which turns every control character (CR and LF included) into a space, and
non-ASCII text is written as RFC 2047 encoded words by the email package.
Reading: `split` cuts an mbox stream into raw messages, undoing the mboxrd
escape, without ever holding more than one capped message in memory; `ranges`
cuts one into byte ranges that `split` reads alone as it reads the whole (so
pieces of one mbox can be split and parsed in other processes)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr
from sqlite3 import Row
from typing import BinaryIO

from ..store import clock
from .subjects import trim_references

CONTENT_TYPE = "application/mbox"
# The address written for an article that has none (imported without a usable
# From address): `.invalid` (RFC 2606) names no one, and an import reads it
# back as no address, so the round trip changes nothing.
UNKNOWN_ADDRESS = "unknown@invalid"
# The server's own record of an article's time with milliseconds; Date has
# whole seconds only (RFC 5322 §3.3), and an import prefers this when it agrees.
CREATED_HEADER = "X-Moot-Created-At"
# A raw message larger than this is reported and skipped unread: a body may be
# 64 KiB of UTF-8, which base64 or quoted-printable grow by at most 3x.
MESSAGE_MAX_BYTES = 1024 * 1024
# Lines are read in pieces of at most this size, so one endless line costs no memory.
_LINE_PIECE = 64 * 1024
# `ranges` looks for a separator this many bytes at a time.
_RANGE_WINDOW = 1024 * 1024
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPE = re.compile(r"^(>*From )", re.M)
_UNESCAPE = re.compile(rb"^>(>*From )", re.M)
# A `From ` separator line names a sender and a date with a time of day, as
# ctime() writes it ("From ada@example.org Sat Nov 21 10:00:00 2026"); a body
# line such as "From here on..." after a blank line is not mistaken for one.
_FROM_LINE = re.compile(rb"From \S+ +.*\d\d?:\d\d")


def header_text(value: object) -> str:
    """A header value that can never carry CR, LF or other control characters."""
    return _HEADER_UNSAFE.sub(" ", str(value or "")).strip()


def encoded_words(text: str, header_name: str) -> str:
    """Plain ASCII as it is; anything else (or text that looks like an encoded
    word already) as RFC 2047 UTF-8 encoded words, folded onto continuation lines."""
    text = header_text(text)
    if text.isascii() and "=?" not in text:
        return text
    # RFC 2047 §2: an encoded word is at most 75 characters; Header's default
    # line length (76, the leading space of a continuation line not counted) makes 76.
    return Header(text, "utf-8", header_name=header_name, maxlinelen=75).encode(linesep="\n")


def address(name: str, addr: str) -> str:
    name, addr = header_text(name), header_text(addr).replace(" ", "") or UNKNOWN_ADDRESS
    if name.isascii() and "=?" not in name:
        return formataddr((name, addr))
    return f"{encoded_words(name, 'From')} <{addr}>"


def from_line(addr: str, created_at: str) -> str:
    """The mbox separator: `From <addr> <ctime in UTC>`."""
    addr = header_text(addr).replace(" ", "") or "MAILER-DAEMON"
    return f"From {addr} {time.asctime(clock.parse(created_at).timetuple())}"


def escape_body(body: str) -> str:
    return _ESCAPE.sub(r">\1", body)


def references(article: Row) -> list[str]:
    """The References an article is served with, everywhere (NNTP, mbox, list
    mail). A reply's: its path in the tree it belongs to now, root first (at
    most REFERENCES_KEEP ids and one header line, the middle trimmed), so its last id is the
    parent it hangs under, after a split, merge or an import's placement as
    much as after a plain followup; the stored chain (articles.refs) stays for
    provenance. A root's: its stored chain (an imported or peered root keeps
    its link to a missing parent), none for the root of a split (its old place
    is the split's notice). `article` needs exports.EXPORT_SELECT's tree_path
    and split_from."""
    if article["parent_id"] is not None:
        return trim_references(article["tree_path"].split())
    return [] if article["split_from"] is not None else article["refs"].split()


def format_article(article: Row, domain: str) -> bytes:
    """One article as an mboxrd message (separator line included, blank line after).
    `article` needs the columns of exports.EXPORT_SELECT (tree_path, split_from)."""
    addr = article["author_addr"] or (
        f"{article['username']}@{domain}" if article["username"] else UNKNOWN_ADDRESS
    )
    # Written in the author's own offset, as the original Date was (the instant is the same).
    moment = clock.parse(article["created_at"]).astimezone(timezone(timedelta(minutes=article["utc_offset"])))
    refs = [header_text(r) for r in references(article)]
    headers = [
        ("From", address(article["author_name"], addr)),
        ("Date", format_datetime(moment)),
        ("Subject", encoded_words(article["subject"], "Subject")),
        ("Message-ID", header_text(article["message_id"])),
    ]
    if refs:
        # One Message-ID per line: 40 of them would pass RFC 5322's 998-octet line limit.
        headers.append(("References", "\n ".join(refs)))
        headers.append(("In-Reply-To", refs[-1]))
    headers += [
        ("Newsgroups", header_text(article["group_name"])),
        (CREATED_HEADER, header_text(article["created_at"])),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    lines = [from_line(addr, article["created_at"])]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append("")
    body = escape_body(article["body"])
    if body:
        lines += body.split("\n")
    lines.append("")
    return ("\n".join(lines) + "\n").encode("utf-8", "replace")


@dataclass
class RawMessage:
    number: int  # 1-based position in the source
    data: bytes  # the message (headers and body), at most MESSAGE_MAX_BYTES
    size: int  # its full size in the source
    offset: int | None = None  # byte offset of its first line in an mbox file
    envelope: bytes = b""  # the `From ` line, if any
    name: str | None = None  # the file, for a Maildir message

    @property
    def too_large(self) -> bool:
        return self.size > MESSAGE_MAX_BYTES

    @property
    def where(self) -> str:
        return self.name if self.name is not None else place(self.number, self.offset)


def place(number: int, offset: int | None) -> str:
    """Where a message of an mbox is, as reports name it."""
    return f"message {number}" + (f" at byte {offset}" if offset is not None else "")


def split(stream: BinaryIO, *, max_bytes: int = MESSAGE_MAX_BYTES) -> Iterator[RawMessage]:
    """Cut an mbox stream into messages. A separator is a `From ` line at the
    start of the file or after an empty line; text before the first one (a
    single message file) counts as a message when it is not blank."""
    number, offset = 0, 0
    parts: list[bytes]
    start, envelope, parts, size = 0, b"", [], 0
    at_line_start, previous_blank, started = True, True, False

    def finish() -> RawMessage:
        data = b"".join(parts)
        if data.endswith(b"\n\n"):
            data = data[:-1]  # the blank line before the next separator is not the body's
        elif data.endswith(b"\r\n\r\n"):
            data = data[:-2]
        return RawMessage(number, _UNESCAPE.sub(rb"\1", data), size, start, envelope)

    while True:
        piece = stream.readline(_LINE_PIECE)
        if not piece:
            break
        line_start = at_line_start
        at_line_start = piece.endswith(b"\n")
        if line_start and previous_blank and piece.startswith(b"From ") and _FROM_LINE.match(piece):
            if started or b"".join(parts).strip():
                number += 1
                yield finish()
            start, envelope, parts, size, started = offset, piece.rstrip(b"\r\n"), [], 0, True
            offset += len(piece)
            previous_blank = False
            continue
        offset += len(piece)
        size += len(piece)
        if size <= max_bytes:
            parts.append(piece)
        previous_blank = line_start and at_line_start and piece in (b"\n", b"\r\n")
    if started or b"".join(parts).strip():
        number += 1
        yield finish()


def ranges(stream: BinaryIO, every: int) -> Iterator[tuple[int, int]]:
    """Cut a seekable mbox stream into byte ranges [start, end) of at least
    `every` bytes (the last may be shorter), each after the first starting at
    a separator `split` sees: a `From ` line after an empty line. So `split`
    over each range alone yields the messages `split` yields over the whole
    stream, in order (their offsets from the range's start)."""
    size = stream.seek(0, io.SEEK_END)
    start = 0
    while start < size:
        end = _separator_from(stream, start + max(every, 1), size)
        yield start, end
        start = end


def _separator_from(stream: BinaryIO, position: int, size: int) -> int:
    """The first offset at or after `position` where `split` surely starts a
    message: a `From ` line matching the separator's pattern within its first
    line piece, after an empty line (LF or CRLF) that itself follows a line
    end; the size of the stream when there is none. Reads each byte once,
    _RANGE_WINDOW at a time, keeping at most a window and a line piece."""
    base = max(position - 3, 0)  # the empty line and the line end before a separator
    stream.seek(base)
    data = stream.read(position - base + _RANGE_WINDOW)
    at = position - base  # in `data`: the first line that may still be one
    while True:
        complete = base + len(data) >= size
        found = data.find(b"\nFrom ", at - 1)
        while found >= 0:
            line = found + 1
            if not complete and line + _LINE_PIECE > len(data):
                break  # its first piece is not all read yet
            piece_end = data.find(b"\n", line, line + _LINE_PIECE)
            piece = data[line : piece_end + 1 if piece_end >= 0 else line + _LINE_PIECE]
            if (
                data[max(line - 2, 0) : line] == b"\n\n" or data[max(line - 3, 0) : line] == b"\n\r\n"
            ) and _FROM_LINE.match(piece):
                return base + line
            found = data.find(b"\nFrom ", line)
        if complete:
            return size
        at = line if found >= 0 else max(len(data) - 4, at)  # a `\nFrom ` cut by the window's end
        keep = max(at - 3, 0)
        more = max(_RANGE_WINDOW, at + _LINE_PIECE - len(data))
        base, data, at = base + keep, data[keep:] + stream.read(more), at - keep
