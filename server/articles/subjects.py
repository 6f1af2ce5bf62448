"""Subjects and References as news writes them (pure functions): the reply
subject, the topic under its prefixes, and the trimmed References chain."""

from __future__ import annotations

import re

from ..store import validate

# What a newsreader writes before a reply's subject; one "Re: " is kept.
_RE_PREFIX = re.compile(r"^(\s*(re|aw|sv)\s*:\s*)+", re.I)
# Every prefix that does not change the topic, forwards and list counters included.
_ANY_PREFIX = re.compile(r"^(\s*(re|aw|sv|fwd?)\s*(\[\d+\])?\s*:\s*)+", re.I)
_WAS = re.compile(r"\s*[(\[]\s*was\s*:?\s*(?P<old>.*?)\s*[)\]]\s*$", re.I)

# RFC 5537 §3.4.4 lets a long References header be trimmed, keeping the first
# Message-ID and the most recent ones; 40 keeps it well inside 998 octets.
REFERENCES_KEEP = 40


def reply_subject(parent_subject: str) -> str:
    """'Re: ' once, as newsreaders write it (no 'Re: Re: ')."""
    return ("Re: " + _RE_PREFIX.sub("", parent_subject))[: validate.SUBJECT_MAX]


def base_subject(subject: str) -> str:
    """The topic of a subject: without 'Re:'-style prefixes and a trailing '(was: ...)'."""
    text = _WAS.sub("", _ANY_PREFIX.sub("", subject or ""))
    return " ".join(text.split())


def was_subject(subject: str) -> str | None:
    """The old topic named in 'New topic (was: Old topic)', if any."""
    match = _WAS.search(_ANY_PREFIX.sub("", subject or ""))
    return " ".join(match["old"].split()) if match and match["old"] else None


def trim_references(refs: list[str]) -> list[str]:
    """At most REFERENCES_KEEP ids: the first and the most recent ones."""
    if len(refs) > REFERENCES_KEEP:
        return refs[:1] + refs[-(REFERENCES_KEEP - 1) :]
    return refs


def child_references(parent_refs: str, parent_message_id: str) -> str:
    """The References header of a reply to the article with these."""
    return " ".join(trim_references([*(parent_refs.split() if parent_refs else []), parent_message_id]))
