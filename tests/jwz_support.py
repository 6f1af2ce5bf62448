"""A reference implementation of Jamie Zawinski's threading algorithm
(https://www.jwz.org/doc/threading.html), written from its description and
independent of Moot's code, and a comparison of its threads with Moot's.

Steps 1-4 of the algorithm are followed (containers, links from References
with no overriding of earlier links and no loops, the message's own parent
from its last reference, pruning of empty containers), with notmuch's choice
of that last reference (an In-Reply-To that is one id goes last) and of the
root of a reply loop (its oldest message). Step 5, gathering roots by
subject, is left out, as notmuch leaves it out. As in Moot, a
Message-ID without an '@' (`<yes>`, `<>`) is junk and links nothing, and of
two messages with one Message-ID the first counts.

Run as a script for the figures: `python tests/jwz_support.py FILE.mbox MOOT.db`
(the database after `moot import FILE.mbox --group G --create --db MOOT.db`)."""

from __future__ import annotations

import email
import email.policy
import email.utils
import mailbox
import re
import sqlite3
import sys
from dataclasses import dataclass, field

_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")


@dataclass(eq=False)
class Container:
    message_id: str
    has_message: bool = False
    date: float = 0.0  # its Date, as a timestamp: a reply loop is broken at its oldest message
    parent: Container | None = None
    children: list[Container] = field(default_factory=list)


def ancestry(msg: email.message.Message) -> list[str]:
    """References' ids (else the first of In-Reply-To's), oldest first, then
    the parent: an In-Reply-To that is one id and nothing else is moved to the
    end, as notmuch chooses the parent (lib/add-message.cc) and Moot does."""
    reply_to = str(msg.get("In-Reply-To", "") or "")
    refs = _ID.findall(str(msg.get("References", "") or "")) or _ID.findall(reply_to)[:1]
    sole = re.fullmatch(r"\s*(<[^<>\s@]+@[^<>\s@]+>)\s*", reply_to)
    return [r for r in refs if not sole or r != sole[1]] + ([sole[1]] if sole else [])


def date(msg: email.message.Message) -> float:
    try:
        return email.utils.parsedate_to_datetime(str(msg.get("Date", ""))).timestamp()
    except (TypeError, ValueError):
        return 0.0


def read_mbox(path: str) -> list[tuple[str, list[str], float]]:
    """(Message-ID, ancestry, date) of every message of an mbox file, in file order."""
    out = []
    box = mailbox.mbox(
        path, factory=lambda f: email.message_from_binary_file(f, policy=email.policy.compat32), create=False
    )
    try:
        for msg in box:
            found = _ID.findall(str(msg.get("Message-ID", "") or ""))
            if found:
                out.append((found[0], ancestry(msg), date(msg)))
    finally:
        box.close()
    return out


def _reaches(start: Container | None, goal: Container) -> bool:
    while start is not None:
        if start is goal:
            return True
        start = start.parent
    return False


def _link(parent: Container, child: Container) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
    child.parent = parent
    parent.children.append(child)


def jwz(messages: list[tuple[str, list[str], float]]) -> dict[str, tuple[str, str | None]]:
    """For every message: (its thread's root container id, its parent message id
    or None when its parent is no message)."""
    table: dict[str, Container] = {}

    def get(message_id: str) -> Container:
        return table.setdefault(message_id, Container(message_id))

    for message_id, refs, when in messages:
        this = get(message_id)
        if this.has_message:
            continue  # a duplicate
        this.has_message, this.date = True, when
        chain = [get(r) for r in refs]
        for up, down in zip(chain, chain[1:], strict=False):
            if down.parent is None and up is not down and not _reaches(up, down):
                _link(up, down)
        # The message's own References are authoritative: its parent is their
        # last id (no parent without any), whatever others' References said.
        if this.parent is not None:
            this.parent.children.remove(this)
            this.parent = None
        if chain and chain[-1] is not this:
            loop = _reaches(chain[-1], this)
            _link(chain[-1], this)
            if loop:  # a reply loop: as notmuch does, its oldest message is the root
                members, node = [this], chain[-1]
                while node is not this:
                    members.append(node)
                    node = node.parent
                oldest = min((c for c in members if c.has_message), key=lambda c: c.date)
                oldest.parent.children.remove(oldest)
                oldest.parent = None
    roots = [c for c in table.values() if c.parent is None]
    kept: list[Container] = []
    for root in roots:
        _prune(root)
        if root.has_message or len(root.children) > 1:
            kept.append(root)
        elif root.children:  # an empty root with one child: the child is the root
            child = root.children[0]
            child.parent = None
            kept.append(child)
    out: dict[str, tuple[str, str | None]] = {}
    for root in kept:
        stack = [root]
        while stack:
            node = stack.pop()
            if node.has_message:
                parent = node.parent.message_id if node.parent and node.parent.has_message else None
                out[node.message_id] = (root.message_id, parent)
            stack.extend(node.children)
    return out


def _prune(node: Container) -> None:
    """Step 4: empty containers below the root give their children to their parent."""
    for child in list(node.children):
        _prune(child)
        if not child.has_message:
            index = node.children.index(child)
            node.children[index : index + 1] = child.children
            for grandchild in child.children:
                grandchild.parent = node
            child.children, child.parent = [], None


def moot_threads(db_path: str) -> dict[str, tuple[int, str | None]]:
    """For every article an import wrote (placeholders left out): (thread id,
    parent Message-ID or None when the parent is a placeholder or absent)."""
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT a.message_id, a.thread_id, p.message_id, p.status, p.user_id FROM articles a"
            " LEFT JOIN articles p ON p.id = a.parent_id"
            " WHERE NOT (a.status = 'notice' AND a.user_id IS NULL)"
        ).fetchall()
    finally:
        conn.close()
    return {
        mid: (thread, parent if parent and not (status == "notice" and user is None) else None)
        for mid, thread, parent, status, user in rows
    }


@dataclass
class Comparison:
    messages: int
    jwz_threads: int
    moot_threads: int
    misplaced: list[str]  # messages whose thread-mates differ
    wrong_parent: list[str]  # messages whose parent differs

    def __str__(self) -> str:
        return (
            f"{self.messages} messages: JWZ {self.jwz_threads} threads, Moot {self.moot_threads};"
            f" {len(self.misplaced)} in a different thread, {len(self.wrong_parent)} with another parent"
        )


def compare(
    reference: dict[str, tuple[str, str | None]], moot: dict[str, tuple[int, str | None]]
) -> Comparison:
    """Which messages Moot threads differently from the reference."""

    def groups(placed: dict) -> dict[str, frozenset[str]]:
        members: dict[object, set[str]] = {}
        for mid, (key, _parent) in placed.items():
            members.setdefault(key, set()).add(mid)
        return {mid: frozenset(members[key]) for mid, (key, _parent) in placed.items()}

    ours, theirs = groups(moot), groups(reference)
    names = sorted(set(reference) | set(moot))
    misplaced = [m for m in names if ours.get(m) != theirs.get(m)]
    wrong = [m for m in names if m in moot and m in reference and moot[m][1] != reference[m][1]]
    return Comparison(
        len(names),
        len({k for k, _ in reference.values()}),
        len({k for k, _ in moot.values()}),
        misplaced,
        wrong,
    )


if __name__ == "__main__":
    result = compare(jwz(read_mbox(sys.argv[1])), moot_threads(sys.argv[2]))
    print(f"{sys.argv[1]}: {result}")
    for mid in result.misplaced:
        print(f"  different thread: {mid}")
    for mid in result.wrong_parent:
        print(f"  different parent: {mid}")
