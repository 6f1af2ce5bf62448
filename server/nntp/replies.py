"""NNTP reply encoding (RFC 3977 §3.1-3.2): status lines, dot-stuffed
multi-line blocks, and the one translation of Moot's errors to reply codes."""

from __future__ import annotations

from collections.abc import Iterable

from ..store.errors import AuthRequired, Conflict, MootError, RateLimited

CRLF = "\r\n"


def status(code: int, text: str) -> bytes:
    """One status line; the text never carries CR or LF."""
    clean = text.replace("\r", " ").replace("\n", " ")
    return f"{code} {clean}{CRLF}".encode("utf-8", "replace")


def block(code: int, text: str, lines: Iterable[str]) -> bytes:
    """A status line and a multi-line block: each line dot-stuffed, then "."
    (RFC 3977 §3.1.1), built whole so it goes out in one write."""
    parts = [f"{code} {text}"]
    parts.extend("." + line if line[:1] == "." else line for line in lines)
    parts.append(".")
    parts.append("")
    return CRLF.join(parts).encode("utf-8", "replace")


def error(err: MootError, failed: int) -> bytes:
    """The reply for a domain error: 480 when signing in would help, else `failed`
    (441 for POST, RFC 3977 §6.3.1) with the domain's message as the reason."""
    if isinstance(err, AuthRequired):
        return status(480, f"authentication required: {err.message}")
    reason = err.message
    if isinstance(err, RateLimited):
        reason = f"{err.message} (rate limited)"
    elif isinstance(err, Conflict) and isinstance(follow_up := err.extra.get("follow_up"), dict):
        reason = f"{err.message}: post a new article to {follow_up['group']}"
    return status(failed, f"posting failed: {reason}" if failed == 441 else reason)
