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
# Message-ID and the most recent ones: at most 40 ids, and at most what fits
# one 998-octet header line (an overview line, which readers such as Python's
# nntplib cap at 2048 octets, carries it unfolded).
REFERENCES_KEEP = 40
REFERENCES_OCTETS = 998 - len("References: ")


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
    """At most REFERENCES_KEEP ids and REFERENCES_OCTETS octets joined: the
    first and the most recent ones (the first and last are always kept)."""
    kept = refs[:1] + refs[-(REFERENCES_KEEP - 1) :] if len(refs) > REFERENCES_KEEP else list(refs)
    size = sum(len(r.encode()) + 1 for r in kept) - 1
    while len(kept) > 2 and size > REFERENCES_OCTETS:
        size -= len(kept.pop(1).encode()) + 1
    return kept


def child_references(parent_refs: str, parent_message_id: str) -> str:
    """The References header of a reply to the article with these."""
    return " ".join(trim_references([*(parent_refs.split() if parent_refs else []), parent_message_id]))
