"""Maintenance done in public: split, merge, move, lock, archive and reference
threads, each one transaction that changes the tree, keeps every counter
exact, writes its moderation-log entry and its outbox event.

Tree rules kept by every action here (the property tests check them):
- every article is in exactly one thread, and in that thread's group;
- a live thread (merged_into NULL) has one root: root_article_id, the only
  article with parent_id NULL, at depth 0 and first in thread order; every
  other article's parent is in its thread, one level up, and is the nearest
  article before it in thread order at that level (so the order keys list
  the tree depth-first, and parent links are acyclic by depth);
- a thread that was merged away (merged_into set) holds no articles and is
  kept so old links still reach it;
- thread and group counters equal a fresh count (live threads per group,
  articles per thread and group) and last_article_at equals the newest
  article's created_at;
- Message-IDs never change; articles that change group get new numbers there
  (numbers only grow and are never reused: the old number becomes a gap).

A split's new root keeps its stored References (articles.refs: what it was
posted with) but its parent_id becomes NULL; the log entry keeps the old
parent. What NNTP, mbox and mail serve follows the tree (mbox.references).

Events (type: data). Every structural event has the same keys, so a client
can apply it to what it fetched:
  thread.split, thread.merged: {thread, source, article_ids, root_article_id,
      parent_id, depth_shift, notice, removed_article_ids, groups, numbers,
      entry_id, undo_of}
    `article_ids` (tree order) left `source` for `thread`; `root_article_id`
    now has parent `parent_id` (None: it is the thread's root); every moved
    article's depth changes by `depth_shift`; `notice` (article JSON or None)
    was added; `removed_article_ids` were deleted (an undone notice);
    `numbers`, when not None, is the new number of each moved article
    (parallel to article_ids) because it changed group; `groups` are the
    touched groups' JSON with fresh counters; `undo_of` is the log entry an
    undo reversed (None otherwise). A split's undo is a thread.merged event
    and a merge's undo a thread.split event, with `undo_of` set.
  thread.moved: {thread, from_group, article_ids, numbers, groups, entry_id}
  thread.archived, thread.unarchived, thread.locked, thread.unlocked,
  thread.updated (reference flag): {thread, entry_id}
  group.updated (archive policy, status): {group, entry_id}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from sqlite3 import Row

from aiosqlite import Connection

from ..articles import tree
from ..articles.groups import STATUSES, announce_change, get_group, get_group_row, group_json
from ..articles.posting import Author, NewArticle, create_thread_row, insert_article, new_message_id
from ..articles.reading import ARTICLE_SELECT, article_json, article_row, thread_json, thread_row
from ..articles.subjects import base_subject
from ..news import peers
from ..people import accounts, follows
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Archived, Conflict, Forbidden, Invalid
from ..store.events import Also, emit
from . import modlog
from .permissions import ROLES, User, require, require_moderator

# action -> (states it applies to, resulting state). From any other state it is a
# no-op (nothing logged), except that an archived thread must be unarchived first.
STATE_ACTIONS = {
    "lock": ({"open"}, "locked"),
    "unlock": ({"locked"}, "open"),
    "archive": ({"open", "locked"}, "archived"),
    "unarchive": ({"archived"}, "open"),
}
POLICY_DAYS_MAX = 36_500  # a century: anything longer means "never"; 0 says so plainly
POLICY_ARTICLES_MAX = 10_000_000


async def live_thread(conn: Connection, thread_id: object) -> Row:
    """A thread that still holds its articles (not merged away)."""
    row = await thread_row(conn, thread_id)
    if row["merged_into_thread_id"] is not None:
        raise Conflict(
            f"thread {row['id']} was merged into thread {row['merged_into_thread_id']}",
            merged_into=row["merged_into_thread_id"],
        )
    return row


async def receiving_group(conn: Connection, name: object) -> Row:
    """A group that may receive articles from maintenance: it exists and is not read-only."""
    group = await get_group_row(conn, name)
    if group["status"] == "n":
        raise Forbidden(f"{group['name']} is read-only")
    return group


# Given how many rows arrive, their order keys in the receiving thread (tree.keys).
KeysFor = Callable[[int], Awaitable[list[int]]]


async def relocate(
    conn: Connection,
    *,
    source: Row,
    top: Row,
    target_id: int,
    group_id: int,
    depth_shift: int = 0,
    keys: KeysFor | None = None,
) -> dict:
    """Move the sub-tree of article `top` (tree.span) out of thread `source`
    into thread `target_id` and group `group_id` (new numbers when it
    changes), every depth shifted by `depth_shift`, adjusting article
    counters. `keys` gives the rows their new order keys (in tree order);
    None keeps them, for a thread they are alone in. Cost: the moved rows,
    found through the (thread_id, seq) index, plus the placing; the rest of
    either thread is not read. Returns {article_ids (tree order), numbers or None}."""
    where, params = (await tree.span(conn, top)).where()
    rows = await fetch_all(conn, f"SELECT id FROM articles WHERE {where} ORDER BY seq", params)
    ids = [r["id"] for r in rows]
    n = len(ids)
    if keys is not None:
        await conn.executemany(
            "UPDATE articles SET thread_id = ?, seq = ?, depth = depth + ? WHERE id = ?",
            [(target_id, key, depth_shift, i) for key, i in zip(await keys(n), ids, strict=True)],
        )
    elif source["id"] != target_id or depth_shift:
        await conn.execute(
            f"UPDATE articles SET thread_id = ?, depth = depth + ? WHERE {where}",
            (target_id, depth_shift, *params),
        )
    if source["id"] != target_id:
        await conn.execute(
            "UPDATE threads SET article_count = article_count - ? WHERE id = ?", (n, source["id"])
        )
        await conn.execute(
            "UPDATE threads SET article_count = article_count + ? WHERE id = ?", (n, target_id)
        )
    numbers = None
    if group_id != source["group_id"]:
        base = await fetch_value(
            conn,
            "UPDATE groups SET last_number = last_number + ? WHERE id = ? RETURNING last_number - ?",
            (n, group_id, n),
        )
        # New numbers in posting order (ids grow with arrival), as a newsreader expects.
        by_id = {article_id: base + rank for rank, article_id in enumerate(sorted(ids), 1)}
        await conn.executemany(
            "UPDATE articles SET group_id = ?, number = ? WHERE id = ?",
            [(group_id, number, article_id) for article_id, number in by_id.items()],
        )
        await conn.execute(
            "UPDATE groups SET article_count = article_count - ? WHERE id = ?", (n, source["group_id"])
        )
        await conn.execute("UPDATE groups SET article_count = article_count + ? WHERE id = ?", (n, group_id))
        numbers = [by_id[i] for i in ids]
    return {"article_ids": ids, "numbers": numbers}


async def refresh_activity(
    conn: Connection, thread_ids: Iterable[int] = (), group_ids: Iterable[int] = ()
) -> None:
    """Recompute last_article_at of threads and groups articles left or joined:
    one index seek each (articles_thread_date, articles_by_date). A thread
    left empty keeps its last value; a group left empty has none."""
    for thread_id in set(thread_ids):
        await conn.execute(
            "UPDATE threads SET last_article_at = coalesce((SELECT max(created_at) FROM articles"
            " WHERE thread_id = threads.id), last_article_at) WHERE id = ?",
            (thread_id,),
        )
    for group_id in set(group_ids):
        await conn.execute(
            "UPDATE groups SET last_article_at = (SELECT max(created_at) FROM articles"
            " WHERE group_id = groups.id) WHERE id = ?",
            (group_id,),
        )


async def groups_json(conn: Connection, group_ids: Iterable[int]) -> list[dict]:
    """The touched groups' JSON as one group's read gives it (get_group, its
    moderators included), so a client replaces what it holds with it."""
    out = []
    for group_id in sorted(set(group_ids)):
        name = await fetch_value(conn, "SELECT name FROM groups WHERE id = ?", (group_id,))
        assert name is not None  # ids read from threads and articles: groups are never deleted
        out.append(await get_group(conn, name))
    return out


async def group_name(conn: Connection, group_id: int) -> str:
    return await fetch_value(conn, "SELECT name FROM groups WHERE id = ?", (group_id,))


async def deepest(conn: Connection, thread_id: int) -> int:
    """The depth of the deepest article in a thread (a read of the thread's rows)."""
    return await fetch_value(
        conn, "SELECT coalesce(max(depth), 0) FROM articles WHERE thread_id = ?", (thread_id,)
    )


def notice_by(user: User, subject: str, body: str, data: dict, message_id: str) -> NewArticle:
    """The short moderation notice `user` leaves at the place a split or merge
    changed, named `message_id` (the action's, docs/PEERING.md, or a new one)."""
    return NewArticle(
        subject[: validate.SUBJECT_MAX],
        body,
        Author.of(user),
        message_id,
        clock.now(),
        status="notice",
        notice=data,
    )


async def delete_notice(conn: Connection, notice_id: int) -> None:
    """Remove a notice an undo makes obsolete (notices are never in the search index)."""
    row = await fetch_one(conn, "SELECT thread_id, group_id FROM articles WHERE id = ?", (notice_id,))
    assert row is not None  # the caller has just read this notice
    await conn.execute("DELETE FROM articles WHERE id = ? AND status = 'notice'", (notice_id,))
    await conn.execute(
        "UPDATE threads SET article_count = article_count - 1 WHERE id = ?", (row["thread_id"],)
    )
    await conn.execute("UPDATE groups SET article_count = article_count - 1 WHERE id = ?", (row["group_id"],))


@dataclass(frozen=True)
class Reshape:
    """What a split or a merge (or its undo) did to two threads, as its event
    tells it: the sub-tree rooted at `root_article_id` (`moved`: its article ids
    and numbers) went from thread `source_id` to thread `thread_id`, under
    `parent_id` (None: as the root), its depths shifted by `depth_shift`; the
    notice left (`notice_id`) or taken away (`removed`); the log entry, and the
    entry an undo undid."""

    thread_id: int
    source_id: int
    moved: dict
    root_article_id: int
    parent_id: int | None
    depth_shift: int
    entry_id: int
    notice_id: int | None = None
    removed: Sequence[int] = ()
    undo_of: int | None = None


async def structural_event(conn: Connection, type: str, change: Reshape) -> dict:
    """Emit thread.split or thread.merged (shape in the module docstring); return its data."""
    thread = await thread_row(conn, change.thread_id)
    source = await thread_row(conn, change.source_id)
    notice = None
    if change.notice_id is not None:
        row = await fetch_one(conn, ARTICLE_SELECT + " WHERE a.id = ?", (change.notice_id,))
        assert row is not None  # the notice this action has just written
        notice = article_json(row)
    data = {
        "thread": thread_json(thread),
        "source": thread_json(source),
        "article_ids": change.moved["article_ids"],
        "root_article_id": change.root_article_id,
        "parent_id": change.parent_id,
        "depth_shift": change.depth_shift,
        "notice": notice,
        "removed_article_ids": list(change.removed),
        "groups": await groups_json(conn, [thread["group_id"], source["group_id"]]),
        "numbers": change.moved["numbers"],
        "entry_id": change.entry_id,
        "undo_of": change.undo_of,
    }
    await emit(
        conn,
        type,
        group=thread["group_name"],
        thread_id=thread["id"],
        data=data,
        also=Also([source["group_name"]], [source["id"]]),
    )
    return data


async def _reshaped(conn: Connection, type: str, change: Reshape) -> dict:
    """Emit the event of a split or merge made here; returns the action's
    answer: {thread, source, notice, entry}."""
    data = await structural_event(conn, type, change)
    entry = await modlog.get_entry(conn, change.entry_id)
    return {"thread": data["thread"], "source": data["source"], "notice": data["notice"], "entry": entry}


@dataclass(frozen=True)
class Split:
    """A split as a moderator asks for it from any channel: article
    `article_id` and its replies leave thread `thread_id` for a new thread (in
    `group`, default the same one, titled `subject`, default the article's
    topic), for `reason`. Fields are untrusted until `split` checks them."""

    thread_id: object
    article_id: object
    reason: object
    subject: object = None
    group: object = None


async def split(
    conn: Connection, domain: str, user: User | None, request: Split, *, notice_message_id: str | None = None
) -> dict:
    """Split as `request` says: the article becomes the root of the new thread;
    the notice left behind gets `notice_message_id` when given.
    Returns {thread (the new one), source, notice, entry}."""
    source = await live_thread(conn, request.thread_id)
    user = require_moderator(user, source["group_name"])
    reason = validate.reason(request.reason, required=True)
    subject, group = request.subject, request.group
    a = await article_row(conn, request.article_id)
    if a["thread_id"] != source["id"]:
        raise Invalid(f"article {a['id']} is not in thread {source['id']}")
    if a["parent_id"] is None:
        raise Invalid("cannot split a thread at its root: move the thread instead")
    subject = (
        validate.subject(subject)
        if subject not in (None, "")
        else (base_subject(a["subject"]) or a["subject"])
    )
    target_group = await get_group_row(conn, source["group_name"])
    if group not in (None, "") and group != source["group_name"]:
        target_group = await receiving_group(conn, group)
        require_moderator(user, target_group["name"])
    new_id = await create_thread_row(
        conn,
        target_group["id"],
        subject,
        clock.now(),
        split_from_thread_id=source["id"],
        split_from_article_id=a["id"],
    )
    # The moved rows keep their keys: their order is right, and the new thread holds nothing else.
    moved = await relocate(
        conn, source=source, top=a, target_id=new_id, group_id=target_group["id"], depth_shift=-a["depth"]
    )
    count = len(moved["article_ids"])
    await conn.execute("UPDATE articles SET parent_id = NULL WHERE id = ?", (a["id"],))
    await conn.execute("UPDATE threads SET root_article_id = ? WHERE id = ?", (a["id"], new_id))
    parent = await fetch_one(conn, "SELECT * FROM articles WHERE id = ?", (a["parent_id"],))
    assert parent is not None  # a notice is the only article ever deleted, and never one with replies
    # The notice takes A's old key (free now), so it sorts exactly where A was.
    notice = notice_by(
        user,
        f"Split: {subject}",
        # The same text on every node that applies this split (docs/PEERING.md):
        # no local numbers, and no count, which depends on what has arrived there.
        f'This article and the replies below it moved to the thread "{subject}" in {target_group["name"]}.\n'
        f"Split by {user.display_name}. Reason: {reason}",
        {"action": "split", "thread_id": new_id, "count": count},
        notice_message_id or new_message_id(domain),
    )
    placed = await insert_article(
        conn, notice, group_id=source["group_id"], thread_id=source["id"], parent=parent, seq=a["seq"]
    )
    notice_id = placed["id"]
    await follows.copy_followers(conn, source["id"], new_id)
    await refresh_activity(conn, [source["id"], new_id], [source["group_id"], target_group["id"]])
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_article(
            "split",
            user,
            a,
            other_thread_id=new_id,
            other_group_id=target_group["id"],
            reason=reason,
            data={
                "count": count,
                "subject": subject,
                "old_parent_id": a["parent_id"],
                "notice_id": notice_id,
            },
        ),
    )
    change = Reshape(
        thread_id=new_id,
        source_id=source["id"],
        moved=moved,
        root_article_id=a["id"],
        parent_id=None,
        depth_shift=-a["depth"],
        notice_id=notice_id,
        entry_id=entry_id,
    )
    return await _reshaped(conn, "thread.split", change)


@dataclass(frozen=True)
class Merge:
    """A merge as a moderator asks for it from any channel: thread
    `thread_id` joins another, its root becoming a reply to `into_article_id`,
    for `reason`. Fields are untrusted until `merge` checks them."""

    thread_id: object
    into_article_id: object
    reason: object


async def merge(
    conn: Connection, domain: str, user: User | None, request: Merge, *, notice_message_id: str | None = None
) -> dict:
    """Merge as `request` says; a notice under the receiving article (named
    `notice_message_id` when given) says so. The merged thread stays, empty,
    with merged_into set. Returns {thread (receiving), source, notice, entry}."""
    source = await live_thread(conn, request.thread_id)
    user = require_moderator(user, source["group_name"])
    reason = validate.reason(request.reason, required=True)
    x = await article_row(conn, request.into_article_id)
    if x["thread_id"] == source["id"]:
        raise Invalid("cannot merge a thread into itself or into one of its own articles")
    target = await live_thread(conn, x["thread_id"])
    require_moderator(user, target["group_name"])
    if target["group_id"] != source["group_id"]:
        await receiving_group(conn, target["group_name"])
    root = await fetch_one(conn, "SELECT * FROM articles WHERE id = ?", (source["root_article_id"],))
    assert root is not None  # a live thread keeps its root: an undo deletes only a notice left in place
    if x["depth"] + 1 + await deepest(conn, source["id"]) >= tree.MAX_DEPTH:
        raise Conflict(
            f"merging there would make the thread deeper than {tree.MAX_DEPTH} levels;"
            " merge into an article nearer the root"
        )
    moved = await relocate(
        conn,
        source=source,
        top=root,
        target_id=target["id"],
        group_id=target["group_id"],
        depth_shift=x["depth"] + 1,
        keys=lambda count: tree.graft_keys(conn, x, root["id"], count),
    )
    count = len(moved["article_ids"])
    await conn.execute("UPDATE articles SET parent_id = ? WHERE id = ?", (x["id"], root["id"]))
    await conn.execute(
        "UPDATE threads SET merged_into_thread_id = ? WHERE id = ?", (target["id"], source["id"])
    )
    await conn.execute(
        "UPDATE groups SET thread_count = thread_count - 1 WHERE id = ?", (source["group_id"],)
    )
    notice = notice_by(
        user,
        f"Merged: {source['subject']}",
        f'The thread "{source["subject"]}" from {source["group_name"]} was merged here,'
        f" as a reply to this article.\nMerged by {user.display_name}. Reason: {reason}",
        {"action": "merge", "thread_id": source["id"], "count": count},
        notice_message_id or new_message_id(domain),
    )
    placed = await insert_article(conn, notice, group_id=target["group_id"], thread_id=target["id"], parent=x)
    notice_id = placed["id"]
    await follows.copy_followers(conn, source["id"], target["id"])
    await refresh_activity(conn, [target["id"]], [source["group_id"], target["group_id"]])
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_article(
            "merge",
            user,
            root,
            other_thread_id=target["id"],
            other_group_id=target["group_id"],
            reason=reason,
            data={
                "count": count,
                "into_article_id": x["id"],
                "notice_id": notice_id,
            },
        ),
    )
    change = Reshape(
        thread_id=target["id"],
        source_id=source["id"],
        moved=moved,
        root_article_id=root["id"],
        parent_id=x["id"],
        depth_shift=x["depth"] + 1,
        notice_id=notice_id,
        entry_id=entry_id,
    )
    return await _reshaped(conn, "thread.merged", change)


async def move(
    conn: Connection, user: User | None, thread_id: object, group: object, *, reason: object
) -> dict:
    """Move a whole thread to another group; its articles get new numbers there.
    Returns {thread, entry}."""
    thread = await live_thread(conn, thread_id)
    user = require_moderator(user, thread["group_name"])
    reason = validate.reason(reason, required=True)
    target = await receiving_group(conn, group)
    require_moderator(user, target["name"])
    if target["id"] == thread["group_id"]:
        raise Invalid(f"thread {thread['id']} is already in {target['name']}")
    root = await fetch_one(conn, "SELECT * FROM articles WHERE id = ?", (thread["root_article_id"],))
    assert root is not None  # a live thread keeps its root
    moved = await relocate(conn, source=thread, top=root, target_id=thread["id"], group_id=target["id"])
    await conn.execute("UPDATE threads SET group_id = ? WHERE id = ?", (target["id"], thread["id"]))
    await conn.execute(
        "UPDATE groups SET thread_count = thread_count - 1 WHERE id = ?", (thread["group_id"],)
    )
    await conn.execute("UPDATE groups SET thread_count = thread_count + 1 WHERE id = ?", (target["id"],))
    await refresh_activity(conn, [], [thread["group_id"], target["id"]])
    entry_id = await modlog.write(
        conn,
        modlog.Entry(
            "move",
            user,
            group_id=thread["group_id"],
            thread_id=thread["id"],
            other_group_id=target["id"],
            target=target["name"],
            reason=reason,
            data={"from": thread["group_name"], "to": target["name"], "count": len(moved["article_ids"])},
        ),
    )
    moved_json = thread_json(await thread_row(conn, thread["id"]))
    await emit(
        conn,
        "thread.moved",
        group=target["name"],
        thread_id=thread["id"],
        also=Also(groups=[thread["group_name"]]),
        data={
            "thread": moved_json,
            "from_group": thread["group_name"],
            "article_ids": moved["article_ids"],
            "numbers": moved["numbers"],
            "groups": await groups_json(conn, [thread["group_id"], target["id"]]),
            "entry_id": entry_id,
        },
    )
    return {"thread": moved_json, "entry": await modlog.get_entry(conn, entry_id)}


async def change_state(
    conn: Connection, actor: User | None, thread: Row, action: str, reason: str, data: dict | None = None
) -> dict:
    """Lock, unlock, archive or unarchive a live thread row. Asking for the
    state it already has is a no-op (no entry, no event). `actor` None is the sweep."""
    allowed, new_state = STATE_ACTIONS[action]
    if thread["state"] not in allowed:
        if thread["state"] == "archived" and new_state != "archived":
            raise Archived(f"thread {thread['id']} is archived; unarchive it first")
        return {"thread": thread_json(thread), "entry": None}  # already so: a no-op
    await conn.execute(
        "UPDATE threads SET state = ?, archived_at = ? WHERE id = ?",
        (new_state, clock.now() if new_state == "archived" else None, thread["id"]),
    )
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_thread(
            action, actor, thread, reason=reason, data={"from": thread["state"], **(data or {})}
        ),
    )
    changed = thread_json(await thread_row(conn, thread["id"]))
    event = {
        "lock": "thread.locked",
        "unlock": "thread.unlocked",
        "archive": "thread.archived",
        "unarchive": "thread.unarchived",
    }[action]
    await emit(
        conn,
        event,
        group=thread["group_name"],
        thread_id=thread["id"],
        data={"thread": changed, "entry_id": entry_id},
    )
    return {"thread": changed, "entry": entry_id}


async def set_state(
    conn: Connection, user: User | None, thread_id: object, action: str, reason: object = None
) -> dict:
    """The moderator's lock/unlock/archive/unarchive. Returns {thread, entry}."""
    thread = await live_thread(conn, thread_id)
    user = require_moderator(user, thread["group_name"])
    reason = validate.reason(reason, required=False)
    result = await change_state(conn, user, thread, action, reason)
    if result["entry"]:
        await peers.queue_state(conn, thread["id"], action, reason)  # docs/PEERING.md
    entry = await modlog.get_entry(conn, result["entry"]) if result["entry"] else None
    return {"thread": result["thread"], "entry": entry}


async def set_reference(
    conn: Connection, user: User | None, thread_id: object, on: object, reason: object = None
) -> dict:
    """Mark or unmark a thread as one of its group's references ("read these first")."""
    thread = await live_thread(conn, thread_id)
    user = require_moderator(user, thread["group_name"])
    if not isinstance(on, bool):
        raise Invalid("on must be true or false")
    reason = validate.reason(reason, required=False)
    if bool(thread["is_reference"]) == on:
        return {"thread": thread_json(thread), "entry": None}
    await conn.execute("UPDATE threads SET is_reference = ? WHERE id = ?", (int(on), thread["id"]))
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_thread("reference", user, thread, reason=reason, data={"on": on}),
    )
    changed = thread_json(await thread_row(conn, thread["id"]))
    await emit(
        conn,
        "thread.updated",
        group=thread["group_name"],
        thread_id=thread["id"],
        data={"thread": changed, "entry_id": entry_id},
    )
    return {"thread": changed, "entry": await modlog.get_entry(conn, entry_id)}


def policy_value(value: object, what: str, maximum: int) -> int | None:
    """None (the site default), 0 (never) or a positive whole number."""
    if value is None:
        return None
    return validate.integer(value, what, minimum=0, maximum=maximum)


async def set_policy(
    conn: Connection,
    user: User | None,
    group_name: object,
    *,
    archive_after_days: object = None,
    archive_after_articles: object = None,
    reason: object = None,
) -> dict:
    """Set a group's archive policy (None: the site default; 0: never). Returns {group, entry}."""
    group = await get_group_row(conn, group_name)
    user = require_moderator(user, group["name"])
    days = policy_value(archive_after_days, "archive_after_days", POLICY_DAYS_MAX)
    size = policy_value(archive_after_articles, "archive_after_articles", POLICY_ARTICLES_MAX)
    reason = validate.reason(reason, required=False)
    await conn.execute(
        "UPDATE groups SET archive_after_days = ?, archive_after_articles = ? WHERE id = ?",
        (days, size, group["id"]),
    )
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_group(
            "policy",
            user,
            group,
            reason=reason,
            data={
                "archive_after_days": days,
                "archive_after_articles": size,
                "previous": {
                    "archive_after_days": group["archive_after_days"],
                    "archive_after_articles": group["archive_after_articles"],
                },
            },
        ),
    )
    changed = await announce_change(conn, group["name"], entry_id)
    return {"group": changed, "entry": await modlog.get_entry(conn, entry_id)}


async def set_status(
    conn: Connection, user: User | None, group_name: object, status: object, reason: object = None
) -> dict:
    """Set a group's status (admin): `y` open, `m` moderated (members'
    articles wait for its moderators), `n` read-only. Logged as "status"
    with {from, to}; setting the status it has changes nothing (entry None).
    Returns {group, entry}."""
    user = require(user, "admin")
    if status not in STATUSES:
        raise Invalid("status must be y (open), m (moderated) or n (read-only)")
    reason = validate.reason(reason, required=False)
    group = await get_group_row(conn, group_name)
    if group["status"] == status:
        return {"group": group_json(group), "entry": None}
    await conn.execute("UPDATE groups SET status = ? WHERE id = ?", (status, group["id"]))
    entry_id = await modlog.write(
        conn,
        modlog.Entry.on_group(
            "status", user, group, reason=reason, data={"from": group["status"], "to": status}
        ),
    )
    changed = await announce_change(conn, group["name"], entry_id)
    return {"group": changed, "entry": await modlog.get_entry(conn, entry_id)}


async def change_role(
    conn: Connection, actor: User | None, username: object, role: object, reason: object = None
) -> User:
    """Grant or revoke a role (admin; logged by accounts.set_role). The last
    admin cannot be demoted, so the site always has someone to run it."""
    if actor is not None:
        require(actor, "admin")
    reason = validate.reason(reason, required=False)
    target = await accounts.get_user(conn, username if isinstance(username, str) else "")
    if target.role == "admin" and role != "admin":
        admins = await fetch_value(conn, "SELECT count(*) FROM users WHERE role = 'admin'")
        if admins <= 1:
            raise Conflict("the site needs at least one admin")
    if not isinstance(role, str):  # the refusal set_role gives any role not in ROLES
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    return await accounts.set_role(conn, actor, target.username, role, reason)
