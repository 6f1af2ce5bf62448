"""Undo of a split or a merge from the moderation log, exactly or not at all.

An undo puts the moved articles back under their old parent, in their old
thread, at their old place in its order (a split's at the place its notice
holds, which the notice leaves), and deletes the notice the action left. Article
numbers are never reused: articles that return to another group get new
numbers there, so an undo restores the structure (threads, parents, tree
order, groups), not the numbers.

An undo is stale (409) when the articles it would move are no longer exactly
where the entry left them. Precisely, for a split of A out of T into T':
  - T and T' are both still live (neither was merged away since);
  - T' holds exactly the moved articles: as many as were moved and none newer
    than the split's notice (no reply posted in T' since, nothing merged
    into it, nothing split out of it; a later split or merge leaves a newer
    notice behind, so it is seen even if the count happens to match);
  - the notice is still at A's old place in T with no replies, and A's old
    parent is still in T at its place.
For a merge of T into U under article X:
  - U is live, T's old root R is still a child of X in U, and R's sub-tree
    holds exactly the merged articles (same count, none newer than the
    merge's notice);
  - the merge notice is still under X in U with no replies.
Any later change that undoes cleanly (a later split that was itself undone)
does not make an earlier entry stale. An undone entry cannot be undone again.

A removal ("cancel"), a suspension or a ban undoes as one entry too: every
article the entry removed comes back as it was (posting.restore), and the
suspension or ban is lifted if it is still the one in force. A removal's
undo is stale when the article is no longer cancelled with its text kept; a
suspension's or ban's when nothing of it is left (lifted or replaced, and
nothing it removed still removed). Undoing a suspension needs an admin.
Peers and readers that honoured the cancels keep the articles gone.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from sqlite3 import Row
from typing import Any, TypeGuard

from aiosqlite import Connection

from ..articles import posting, tree
from ..articles.reading import thread_row
from ..people import follows
from ..store import validate
from ..store.db import fetch_one
from ..store.errors import Conflict, NotFound
from . import bans, groupmods, modlog, suspensions
from .maintenance import Reshape, delete_notice, refresh_activity, relocate, structural_event
from .permissions import User, require, require_moderator


class Stale(Conflict):
    code = "stale"


# Writes the undo's own log entry, given (thread, other thread), and returns its id.
WriteEntry = Callable[[Row, Row], Awaitable[int]]


async def _count_and_newest(conn: Connection, thread_id: int, top: Row | None = None) -> tuple[int, int]:
    """How many articles, and the newest id, in a thread or in the sub-tree of `top`."""
    if top is None:
        row = await fetch_one(
            conn, "SELECT count(*), max(id) FROM articles WHERE thread_id = ?", (thread_id,)
        )
    else:
        where, params = (await tree.span(conn, top)).where()
        row = await fetch_one(conn, f"SELECT count(*), max(id) FROM articles WHERE {where}", params)
    assert row is not None  # an aggregate without GROUP BY always gives one row
    return row[0], row[1] or 0


async def _article(conn: Connection, article_id: int) -> Row | None:
    return await fetch_one(conn, "SELECT * FROM articles WHERE id = ?", (article_id,))


def _childless_notice(notice: Row | None, thread_id: int) -> TypeGuard[Row]:
    return notice is not None and notice["status"] == "notice" and notice["thread_id"] == thread_id


async def _has_children(conn: Connection, article_id: int) -> bool:
    return (
        await fetch_one(conn, "SELECT 1 FROM articles WHERE parent_id = ? LIMIT 1", (article_id,)) is not None
    )


async def _undo_split(
    conn: Connection, entry: Row, data: dict, entry_id_of_undo: WriteEntry, exact: bool
) -> dict:
    source = await thread_row(conn, entry["thread_id"])
    split_off = await thread_row(conn, entry["other_thread_id"])
    a_id, count, notice_id = entry["article_id"], data["count"], data["notice_id"]
    parent_id = data["old_parent_id"]
    if source["merged_into_thread_id"] is not None or split_off["merged_into_thread_id"] is not None:
        raise Stale("a thread this split made or left was merged since; undo that first")
    n, newest = await _count_and_newest(conn, split_off["id"])
    if exact and (n != count or newest > notice_id):
        raise Stale(
            f"thread {split_off['id']} changed since the split (replies, splits or merges);"
            " it no longer holds exactly the articles that moved"
        )
    notice = await _article(conn, notice_id)
    if not _childless_notice(notice, source["id"]) or notice["parent_id"] != parent_id:
        raise Stale("the split notice is no longer at the place the split left it")
    if await _has_children(conn, notice_id):
        raise Stale("someone replied to the split notice; it cannot be removed")
    parent = await _article(conn, parent_id)
    if parent is None or parent["thread_id"] != source["id"]:
        raise Stale("the article the split point replied to has moved since")
    a = await _article(conn, a_id)
    assert a is not None and a["thread_id"] == split_off["id"]  # it holds exactly the moved articles
    await delete_notice(conn, notice_id)
    # The articles return to the notice's place in the order (its key is free now).
    moved = await relocate(
        conn,
        source=split_off,
        top=a,
        target_id=source["id"],
        group_id=source["group_id"],
        depth_shift=notice["depth"],
        keys=lambda count: tree.keys(conn, source["id"], notice["seq"], count),
    )
    await conn.execute("UPDATE articles SET parent_id = ? WHERE id = ?", (parent_id, a_id))
    await conn.execute(
        "UPDATE threads SET merged_into_thread_id = ? WHERE id = ?", (source["id"], split_off["id"])
    )
    await conn.execute(
        "UPDATE groups SET thread_count = thread_count - 1 WHERE id = ?", (split_off["group_id"],)
    )
    await follows.copy_followers(conn, split_off["id"], source["id"])
    await conn.execute("DELETE FROM follows WHERE thread_id = ?", (split_off["id"],))
    await refresh_activity(conn, [source["id"]], [source["group_id"], split_off["group_id"]])
    undo_id = await entry_id_of_undo(source, split_off)
    await structural_event(
        conn,
        "thread.merged",
        Reshape(
            thread_id=source["id"],
            source_id=split_off["id"],
            moved=moved,
            root_article_id=a_id,
            parent_id=parent_id,
            depth_shift=notice["depth"],
            notice_id=None,
            removed=[notice_id],
            entry_id=undo_id,
            undo_of=entry["id"],
        ),
    )
    return {"undo_id": undo_id}


async def _undo_merge(
    conn: Connection, entry: Row, data: dict, entry_id_of_undo: WriteEntry, exact: bool
) -> dict:
    merged = await thread_row(conn, entry["thread_id"])
    target = await thread_row(conn, entry["other_thread_id"])
    r_id, count, notice_id = entry["article_id"], data["count"], data["notice_id"]
    x_id = data["into_article_id"]
    if target["merged_into_thread_id"] is not None:
        raise Stale(f"thread {target['id']} was itself merged since; undo that first")
    root = await _article(conn, r_id)
    if root is None or root["thread_id"] != target["id"] or root["parent_id"] != x_id:
        raise Stale("the merged articles were moved since (split or merged elsewhere)")
    n, newest = await _count_and_newest(conn, target["id"], root)
    if exact and (n != count or newest > notice_id):
        raise Stale("the merged articles changed since (replies, splits or merges under them)")
    notice = await _article(conn, notice_id)
    if not _childless_notice(notice, target["id"]) or notice["parent_id"] != x_id:
        raise Stale("the merge notice is no longer where the merge left it")
    if await _has_children(conn, notice_id):
        raise Stale("someone replied to the merge notice; it cannot be removed")
    await delete_notice(conn, notice_id)
    # The merged thread is empty again: the rows keep their keys there.
    moved = await relocate(
        conn,
        source=target,
        top=root,
        target_id=merged["id"],
        group_id=merged["group_id"],
        depth_shift=-root["depth"],
    )
    await conn.execute("UPDATE articles SET parent_id = NULL WHERE id = ?", (r_id,))
    await conn.execute("UPDATE threads SET merged_into_thread_id = NULL WHERE id = ?", (merged["id"],))
    await conn.execute(
        "UPDATE groups SET thread_count = thread_count + 1 WHERE id = ?", (merged["group_id"],)
    )
    await refresh_activity(conn, [merged["id"], target["id"]], [merged["group_id"], target["group_id"]])
    undo_id = await entry_id_of_undo(target, merged)
    await structural_event(
        conn,
        "thread.split",
        Reshape(
            thread_id=merged["id"],
            source_id=target["id"],
            moved=moved,
            root_article_id=r_id,
            parent_id=None,
            depth_shift=-root["depth"],
            notice_id=None,
            removed=[notice_id],
            entry_id=undo_id,
            undo_of=entry["id"],
        ),
    )
    return {"undo_id": undo_id}


# Entries whose undo restores what they removed (and lifts what they barred).
REMOVALS = {"cancel": None, "suspend": suspensions.lift, "ban": bans.lift}


async def _undo_removal(conn: Connection, user: User, entry: Row, reason: str) -> int:
    """Restore what a removal, suspension or ban removed and lift the bar it
    set while it is in force (see the module docstring); the undo's entry id."""
    action = entry["action"]
    if action == "suspend":
        require(user, "admin")
    lift = REMOVALS[action]
    lifted = await lift(conn, entry) if lift is not None else False
    restored = await posting.restore(conn, entry["id"])
    if not restored and action == "cancel":
        raise Stale("the article is no longer removed with its text kept: there is nothing to restore")
    if not restored and not lifted:
        raise Stale(f"the {action} was lifted or replaced since, and nothing it removed is still removed")
    undo_id = await modlog.write(
        conn,
        modlog.Entry(
            "undo",
            user,
            group_id=entry["group_id"],
            thread_id=entry["thread_id"],
            article_id=entry["article_id"],
            target=f"{action} #{entry['id']}",
            reason=reason,
            data={"action": action, "count": len(restored), "lifted": lifted},
            undoes=entry["id"],
        ),
    )
    await conn.execute("UPDATE modlog SET undone_by = ? WHERE id = ?", (undo_id, entry["id"]))
    return undo_id


async def _undo_moderator(conn: Connection, user: User, entry: Row, reason: str) -> int:
    """Reverse the appointment or removal of a group's moderator; the undo's entry id."""
    require(user, "admin")
    group = await fetch_one(conn, "SELECT * FROM groups WHERE id = ?", (entry["group_id"],))
    try:
        member = await groupmods.member_row(conn, entry["target"])
    except NotFound:
        raise Stale(f"the account {entry['target']} is gone: there is nothing to undo") from None
    assert group is not None  # groups are never deleted
    try:
        undo_id = await groupmods.change(
            conn,
            user,
            group,
            member,
            entry["action"] == groupmods.REMOVE,
            reason=reason,
            data={"action": entry["action"]},
            undoes=entry["id"],
        )
    except Conflict:
        raise Stale(f"{member['username']}'s place among the moderators changed since") from None
    await conn.execute("UPDATE modlog SET undone_by = ? WHERE id = ?", (undo_id, entry["id"]))
    return undo_id


# What reverses a thread's state, which no undo does.
REVERSED_BY = {
    "lock": "unlock the thread",
    "unlock": "lock the thread",
    "archive": "unarchive the thread",
    "unarchive": "archive the thread",
    "move": "move the thread back",
    "reference": "take the thread off the reference shelf, or put it back",
}


def check_undoable(entry: Row | Mapping[str, Any]) -> None:
    """Conflict, saying why and what to do instead, unless the logged action
    (an entry's row or its public form: `action`, `undone_by`) can be undone."""
    if entry["action"] not in modlog.UNDOABLE:
        instead = REVERSED_BY.get(entry["action"])
        raise Conflict(
            f"a {entry['action']} cannot be undone from the log"
            + (f"; {instead} instead" if instead else ".")
        )
    if entry["undone_by"] is not None:
        raise Conflict(f"this entry was already undone (entry {entry['undone_by']})")


async def undo(
    conn: Connection, user: User | None, entry_id: object, reason: object, *, exact: bool = True
) -> dict:
    """Undo the split, merge, removal, suspension or ban logged as `entry_id`;
    returns the undo's own log entry.
    `exact` False (an undo the group's home node made, applied here) leaves out
    the "nothing joined since" checks: replies that reached this node after the
    action are carried back with the articles they follow, as on the home."""
    entry = await modlog.entry_row(conn, entry_id)
    groups = [entry["group_name"], *([entry["other_group_name"]] if entry["other_group_name"] else [])]
    user = require_moderator(user, *groups)
    reason = validate.reason(reason, required=True)
    check_undoable(entry)
    if entry["action"] in REMOVALS:
        return await modlog.get_entry(conn, await _undo_removal(conn, user, entry, reason))
    if entry["action"] in (groupmods.ADD, groupmods.REMOVE):
        return await modlog.get_entry(conn, await _undo_moderator(conn, user, entry, reason))
    data = json.loads(entry["data"])

    async def write_entry(thread: Row, other: Row) -> int:
        undo_id = await modlog.write(
            conn,
            modlog.Entry(
                "undo",
                user,
                group_id=thread["group_id"],
                thread_id=thread["id"],
                article_id=entry["article_id"],
                other_thread_id=other["id"],
                other_group_id=other["group_id"],
                target=f"{entry['action']} #{entry['id']}",
                reason=reason,
                data={"action": entry["action"], "count": data["count"]},
                undoes=entry["id"],
            ),
        )
        await conn.execute("UPDATE modlog SET undone_by = ? WHERE id = ?", (undo_id, entry["id"]))
        return undo_id

    action = _undo_split if entry["action"] == "split" else _undo_merge
    result = await action(conn, entry, data, write_entry, exact)
    return await modlog.get_entry(conn, result["undo_id"])
