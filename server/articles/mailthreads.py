"""Where an imported message belongs in a thread, the way JWZ's algorithm and
notmuch decide it (pure functions over Message-IDs).

A message's ancestry is its References, oldest first (or, without them, its
In-Reply-To), ending with the parent notmuch would choose (messages.ancestry).
Its parent is the nearest ancestor that is present: walk the chain from the
end outwards and take the first one here. A message none of whose ancestors
is anywhere belongs under a placeholder for the root of its ancestry, so
replies to the same missing message stay together in one thread; the
placeholder is an article that says so, and an import that later brings the
missing message fills it in. Message-IDs that validate.references
rejects (`<yes>`, `<>`) never link anything, and neither do ids of articles
in other groups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The notice a placeholder carries; its Message-ID is the missing message's.
PLACEHOLDER_NOTICE = {"action": "missing"}
PLACEHOLDER_AUTHOR = "(not in this archive)"
PLACEHOLDER_BODY = "Earlier message not in this archive."


def is_placeholder(status: str, user_id: int | None) -> bool:
    """Whether an article row (its status and user_id) is a placeholder: the only
    notices nobody wrote (a moderator's split or merge notice carries its author)."""
    return status == "notice" and user_id is None


def nearest(chain: Sequence[str], present: set[str] | dict, *also: set[str] | dict) -> str | None:
    """The nearest ancestor in `chain` (oldest first) that is in `present` or any of `also`."""
    for ref in reversed(chain):
        if ref in present or any(ref in more for more in also):
            return ref
    return None


@dataclass
class Placement:
    """Where a waiting message goes: under `target` (an article here or still
    to be written), under a placeholder named `placeholder`, or a root."""

    target: str | None = None
    placeholder: str | None = None


def plan(
    messages: Iterable[tuple[str, Sequence[str]]],
    present: set[str],
    elsewhere: set[str],
    pending: set[str],
    filling: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Placement]:
    """Placements for messages (Message-ID, ancestry chain) once the whole
    source is read: `present` are ids of this group's articles, `elsewhere`
    other groups', `pending` the ids of messages still to be written, and
    `filling` ids of placeholders the messages themselves fill in (those
    never get a placeholder above them)."""
    placements: dict[str, Placement] = {}
    orphans: list[tuple[str, list[str]]] = []
    for message_id, chain in messages:
        usable = [ref for ref in chain if ref not in elsewhere and ref != message_id]
        target = nearest(usable, present, pending)
        placements[message_id] = Placement(target=target)
        if target is None and usable and message_id not in filling:
            orphans.append((message_id, usable))
    # JWZ's containers for the missing ids: link each chain pairwise, the
    # first link for a child wins and no link may close a loop; the root a
    # chain climbs to names the placeholder its message goes under.
    parent_of: dict[str, str] = {}
    for _message_id, chain in orphans:
        for up, down in zip(chain, chain[1:], strict=False):
            if down not in parent_of and not _climbs_to(parent_of, up, down):
                parent_of[down] = up
    for message_id, chain in orphans:
        placements[message_id].placeholder = root_of(parent_of, chain[-1])
    return placements


def _climbs_to(parent_of: dict[str, str], start: str, goal: str) -> bool:
    seen: set[str] = set()
    while start not in seen:
        if start == goal:
            return True
        seen.add(start)
        if start not in parent_of:
            return False
        start = parent_of[start]
    return False


def root_of(parent_of: dict[str, str], start: str) -> str:
    """The top of `start`'s ancestry in `parent_of` (loops are never linked)."""
    seen = {start}
    while start in parent_of and parent_of[start] not in seen:
        start = parent_of[start]
        seen.add(start)
    return start
