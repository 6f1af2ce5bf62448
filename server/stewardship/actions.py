"""Split, merge, move and their undo on peered nodes (docs/PEERING.md): one home
node per group.

Each group has a home node (`groups.home`, a Path name; NULL: this node).
Only the home node splits, merges and moves in a group and undoes those; on
any other node they are refused with NotHome (409), naming the home. The home
writes each action, in the action's own transaction, as an `x-moot-action`
control article numbered in the group's sequence (`X-Moot-Sequence`), its
parameters in the body by Message-ID, and queues it for the peers.

A node that receives one keeps it (`group_actions`) and applies the group's
actions in sequence order through the same domain functions as a local
moderator (maintenance.split, merge, move, undo.undo), so pages, /live, NNTP
numbering, the public log and notifications follow as for a local action. An
action waits while one before it is missing or while the articles it names are
not here; after ORPHAN_WAIT seconds since it arrived it is tried as it is. One
that cannot be applied (its articles never came, its undo is stale here) is
marked failed with the reason and the sequence moves on, so one lost article
never stops a group. An action not from the group's home, or whose number was
already used, is recorded as ignored and changes nothing.

Body of the control article, one `Name: value` line each (values are one
line; every article is named by its Message-ID, never a local number):
  split: Article (the new root), Subject, Group (where the new thread goes)
  merge: Thread (the merged thread's root), Into (the article it now follows)
  move:  Thread (the thread's root), Group
  undo:  Action (the Message-ID of the action it undoes)
and for every kind By (the moderator's name on the home) and Reason.
The notice a split or merge leaves is named `<notice.` + the action's
Message-ID without its bracket, so every node names it alike."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from sqlite3 import Row

from aiosqlite import Connection

from ..articles.groups import announce_change, get_group_row, group_json
from ..news import news, peers
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Invalid, MootError, NotFound
from . import maintenance, modlog, undo
from .permissions import User, require_moderator

CONTROL = "x-moot-action"
# The body fields of each kind, besides By and Reason.
FIELDS = {
    "split": ("article", "subject", "group"),
    "merge": ("thread", "into"),
    "move": ("thread", "group"),
    "undo": ("action",),
}
# The fields that are Message-IDs: of articles, which must be here before the
# action is applied, or (an undo's) of the action undone, applied before it.
MESSAGE_IDS = {"split": ("article",), "merge": ("thread", "into"), "move": ("thread",), "undo": ("action",)}
# The longest action body taken: a few one-line fields.
BODY_MAX = 4096


class NotHome(Conflict):
    """Split, merge and move in this group are made on its home node (409)."""

    code = "not_home"


def is_home(group: Row, domain: str) -> bool:
    """Whether this node (`domain`) is the group's home."""
    return group["home"] is None or group["home"].lower() == domain.lower()


def home_json(group: Row, domain: str) -> dict:
    """`{node, here}`: the group's home node's Path name and whether it is this node."""
    return {"node": group["home"] or domain, "here": is_home(group, domain)}


async def require_home(conn: Connection, domain: str, group_names: Iterable[str]) -> None:
    """NotHome unless this node is the home of every group named."""
    for name in dict.fromkeys(group_names):
        group = await get_group_row(conn, name)
        if not is_home(group, domain):
            raise NotHome(
                f"{group['name']} is maintained on its home node {group['home']}:"
                " split, merge and move its threads there",
                group=group["name"],
                home=group["home"],
            )


async def set_home(
    conn: Connection, actor: User | None, name: object, node: object, reason: object = None
) -> dict:
    """Make `node` (a Path name) the home of group `name`, logged and announced
    (group.updated); the home it already has is a no-op. Returns {group, home}."""
    if not isinstance(node, str) or not peers.NAME.match(node):
        raise Invalid("a home node is its Path name: letters, digits, dots and dashes, at most 80")
    reason = validate.reason(reason, required=False)
    group = await get_group_row(conn, name)
    if group["home"] == node:
        return {"group": group_json(group), "home": node}
    await conn.execute("UPDATE groups SET home = ? WHERE id = ?", (node, group["id"]))
    entry_id = await modlog.write(
        conn,
        modlog.Entry(
            "home",
            actor,
            group_id=group["id"],
            target=node,
            reason=reason,
            data={"from": group["home"], "to": node},
        ),
    )
    changed = await announce_change(conn, group["name"], entry_id)
    return {"group": changed, "home": node}


def notice_message_id(action_message_id: str) -> str:
    """The Message-ID of the notice an action leaves: derived, so alike on every node."""
    return "<notice." + action_message_id[1:]


def _new_message_id(domain: str) -> str:
    return f"<{CONTROL}.{clock.now()[:19].replace('-', '').replace(':', '')}.{secrets.token_hex(6)}@{domain}>"


async def _message_id_of(conn: Connection, article_id: int) -> str:
    return await fetch_value(conn, "SELECT message_id FROM articles WHERE id = ?", (article_id,))


# -- made here, on the home node ------------------------------------------------------


async def _at_home(conn: Connection, domain: str, user: User | None, thread_id: object) -> Row:
    """The live thread an action made here acts on, once `user` may moderate
    and this node is its group's home (NotHome otherwise)."""
    thread = await maintenance.live_thread(conn, thread_id)
    require_moderator(user, thread["group_name"])
    await require_home(conn, domain, [thread["group_name"]])
    return thread


async def split(conn: Connection, domain: str, user: User | None, request: maintenance.Split) -> dict:
    """maintenance.split on the group's home node, sent to the peers; NotHome elsewhere."""
    source = await _at_home(conn, domain, user, request.thread_id)
    message_id = _new_message_id(domain)
    result = await maintenance.split(
        conn, domain, user, request, notice_message_id=notice_message_id(message_id)
    )
    entry = result["entry"]
    params = {
        "article": entry["target"],
        "subject": entry["data"]["subject"],
        "group": result["thread"]["group"],
    }
    made = Made("split", source["group_id"], params)
    await _made(conn, domain, user, made, entry, [params["group"]], message_id=message_id)
    return result


async def merge(conn: Connection, domain: str, user: User | None, request: maintenance.Merge) -> dict:
    """maintenance.merge on the group's home node, sent to the peers; NotHome elsewhere."""
    source = await _at_home(conn, domain, user, request.thread_id)
    message_id = _new_message_id(domain)
    result = await maintenance.merge(
        conn, domain, user, request, notice_message_id=notice_message_id(message_id)
    )
    entry = result["entry"]
    params = {"thread": entry["target"], "into": await _message_id_of(conn, entry["data"]["into_article_id"])}
    touched = [result["thread"]["group"]]
    await _made(
        conn, domain, user, Made("merge", source["group_id"], params), entry, touched, message_id=message_id
    )
    return result


async def move(
    conn: Connection, domain: str, user: User | None, thread_id: object, group: object, *, reason: object
) -> dict:
    """maintenance.move on the group's home node, sent to the peers; NotHome elsewhere."""
    thread = await _at_home(conn, domain, user, thread_id)
    result = await maintenance.move(conn, user, thread_id, group, reason=reason)
    params = {
        "thread": await _message_id_of(conn, thread["root_article_id"]),
        "group": result["thread"]["group"],
    }
    made = Made("move", thread["group_id"], params)
    await _made(conn, domain, user, made, result["entry"], [params["group"]])
    return result


async def undo_entry(
    conn: Connection, domain: str, user: User | None, entry_id: object, reason: object
) -> dict:
    """undo.undo on the home node of the entry's group; sent to the peers when
    the action undone was (an action made before this node sent them stays local)."""
    entry = await modlog.entry_row(conn, entry_id)
    require_moderator(user, entry["group_name"])
    if entry["group_name"] is not None and entry["action"] not in undo.REMOVALS:
        await require_home(conn, domain, [entry["group_name"]])  # removals and bans are local
    done = await undo.undo(conn, user, entry_id, reason)
    action = await fetch_one(
        conn,
        "SELECT message_id, group_id FROM group_actions WHERE entry_id = ? AND status = 'applied'",
        (entry["id"],),
    )
    if action is not None:
        params = {"action": action["message_id"]}
        await _made(conn, domain, user, Made("undo", action["group_id"], params), done, [done["group"]])
    return done


@dataclass(frozen=True)
class Made:
    """An action made here, as it is recorded and sent to the peers: its
    `kind`, the group whose sequence numbers it (where it is logged), and its
    parameters, which name articles by Message-ID (see the module docstring)."""

    kind: str
    group_id: int
    params: dict


async def _made(
    conn: Connection,
    domain: str,
    user: User | None,
    made: Made,
    entry: dict,
    touched: list[str],
    *,
    message_id: str | None = None,
) -> None:
    """After an action `made` here and logged as `entry`: check the other
    groups it `touched` are homed here too (NotHome rolls the whole action back),
    take the next number of the group it is logged in, record the action and
    queue its control article (named `message_id`, or a new name) for the peers."""
    await require_home(conn, domain, touched)
    message_id = message_id or _new_message_id(domain)
    sequence = await fetch_value(
        conn,
        "UPDATE groups SET action_sequence = action_sequence + 1 WHERE id = ? RETURNING action_sequence",
        (made.group_id,),
    )
    group = await fetch_value(conn, "SELECT name FROM groups WHERE id = ?", (made.group_id,))
    now = clock.now()
    fields = {**made.params, "by": user.display_name if user else "the site", "reason": entry["reason"]}
    await conn.execute(
        "INSERT INTO group_actions (message_id, group_id, sequence, kind, origin, params, date, status,"
        " entry_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'applied', ?, ?)",
        (message_id, made.group_id, sequence, made.kind, domain, json.dumps(fields), now, entry["id"], now),
    )
    await conn.execute("INSERT INTO news_history (message_id, received_at) VALUES (?, ?)", (message_id, now))
    text = "\n".join(_article_lines(domain, group, message_id, sequence, made.kind, fields, now))
    await peers.enqueue(
        conn, message_id=message_id, group=group, path="not-for-mail", kind="control", control=text
    )


def _article_lines(
    domain: str, group: str, message_id: str, sequence: int, kind: str, fields: dict, date: str
) -> list[str]:
    """The x-moot-action control article (the body format is in the module docstring)."""
    return [
        f"Path: {domain}!not-for-mail",
        f"From: moderators <moderators@{domain}>",
        f"Newsgroups: {group}",
        f"Subject: cmsg {CONTROL} {kind}",
        f"Control: {CONTROL} {kind}",
        f"Message-ID: {message_id}",
        f"Date: {news.news_date(date)}",
        f"X-Moot-Sequence: {sequence}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        *(f"{name.title()}: {value}" for name, value in fields.items()),
    ]


# -- received from the home node --------------------------------------------------------


def parse_body(kind: str, body: str) -> dict:
    """The fields of an action's body; Invalid when one is missing, unknown or malformed."""
    if len(body) > BODY_MAX:
        raise Invalid(f"an action's body is at most {BODY_MAX} characters")
    fields: dict[str, str] = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if not sep or name not in (*FIELDS[kind], "by", "reason") or name in fields:
            raise Invalid(f"the line {line[:80]!r} is not a field of a {kind}")
        fields[name] = value.strip()
    for name in (*FIELDS[kind], "by", "reason"):
        if name not in fields:
            raise Invalid(f"a {kind} names its {name}")
    for name in MESSAGE_IDS[kind]:
        validate.message_id(fields[name])
    if "group" in fields:
        validate.group_name(fields["group"])
    validate.display_name(fields["by"])
    return fields


async def receive(conn: Connection, domain: str, item: peers.Incoming, kind: str) -> bool:
    """Keep an action a peer sent and apply what is ready in its group; whether
    this one was applied now. An action for no group carried here is only relayed."""
    group = None
    for name in item.newsgroups:
        group = await fetch_one(conn, "SELECT * FROM groups WHERE name = ?", (name,))
        if group is not None:
            break
    if group is None or kind not in FIELDS:
        return False
    origin = peers.path_origin(item.path)
    status, error, fields = "pending", "", {}
    try:
        fields = parse_body(kind, item.body)
    except Invalid as e:
        status, error = "ignored", e.message
    if item.sequence is None:
        status, error = "ignored", "it has no X-Moot-Sequence"
    elif is_home(group, domain):
        status, error = "ignored", "this node is the group's home"
    elif origin != group["home"].lower():
        status, error = "ignored", f"it does not come from the group's home, {group['home']}"
    elif item.sequence <= group["action_sequence"]:
        status, error = "ignored", f"the group's action {item.sequence} was applied already"
    await conn.execute(
        "INSERT INTO group_actions (message_id, group_id, sequence, kind, origin, params, date, status,"
        " error, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            item.message_id,
            group["id"],
            item.sequence or 0,
            kind,
            origin,
            json.dumps(fields),
            item.date,
            status,
            error,
            clock.now(),
        ),
    )
    if status == "pending":
        await settle_group(conn, domain, group["id"])
    return (
        await fetch_value(conn, "SELECT status FROM group_actions WHERE message_id = ?", (item.message_id,))
        == "applied"
    )


# Actions listed for the admins: the latest not applied.
UNAPPLIED_SHOWN = 50


async def unapplied(conn: Connection) -> list[dict]:
    """Received actions not applied, newest first (at most UNAPPLIED_SHOWN): those
    waiting, with what for, and those failed or ignored, with why (docs/PEERING.md)."""
    rows = await fetch_all(
        conn,
        "SELECT ga.*, g.name AS group_name, g.action_sequence FROM group_actions ga"
        " JOIN groups g ON g.id = ga.group_id WHERE ga.status != 'applied'"
        " ORDER BY ga.received_at DESC LIMIT ?",
        (UNAPPLIED_SHOWN,),
    )
    out = []
    for r in rows:
        why = r["error"]
        if r["status"] == "pending":
            gap = r["sequence"] > r["action_sequence"] + 1
            why = f"action {r['action_sequence'] + 1} of the group" if gap else "the articles it names"
            why = "waits for " + why
        out.append(
            {
                "message_id": r["message_id"],
                "group": r["group_name"],
                "sequence": r["sequence"],
                "kind": r["kind"],
                "origin": r["origin"],
                "status": r["status"],
                "why": why,
                "received_at": r["received_at"],
            }
        )
    return out


async def settle(conn: Connection, domain: str) -> int:
    """Apply what is ready (or overdue) in every group with waiting actions; how many were."""
    done = 0
    for row in await fetch_all(conn, "SELECT DISTINCT group_id FROM group_actions WHERE status = 'pending'"):
        done += await settle_group(conn, domain, row["group_id"])
    return done


async def waiting(conn: Connection) -> bool:
    """Whether any received action waits (one indexed look)."""
    return bool(await fetch_value(conn, "SELECT 1 FROM group_actions WHERE status = 'pending' LIMIT 1"))


async def settle_group(conn: Connection, domain: str, group_id: int) -> int:
    """Apply the group's waiting actions in sequence order while the next one is
    ready: here, its articles here (or ORPHAN_WAIT past since it arrived). Returns how many."""
    done = 0
    while True:
        current = await fetch_value(conn, "SELECT action_sequence FROM groups WHERE id = ?", (group_id,))
        row = await fetch_one(
            conn,
            "SELECT * FROM group_actions WHERE group_id = ? AND status = 'pending'"
            " ORDER BY sequence, received_at LIMIT 1",
            (group_id,),
        )
        if row is None:
            return done
        if row["sequence"] <= current:
            await _finish(
                conn, row, "ignored", None, f"the group's action {row['sequence']} was applied already"
            )
            continue
        if row["sequence"] > current + 1:
            return done  # one before it has not arrived yet
        fields = json.loads(row["params"])
        if await _missing(conn, row["kind"], fields) and row["received_at"] > clock.ago(
            seconds=peers.ORPHAN_WAIT
        ):
            return done
        await _apply(conn, domain, row, fields)
        await conn.execute("UPDATE groups SET action_sequence = ? WHERE id = ?", (row["sequence"], group_id))
        done += 1


async def _missing(conn: Connection, kind: str, fields: dict) -> bool:
    """Whether an article the action names is not here yet, or (an undo) the action it undoes waits."""
    if kind == "undo":
        status = await fetch_value(
            conn, "SELECT status FROM group_actions WHERE message_id = ?", (fields["action"],)
        )
        return status in (None, "pending")
    for name in MESSAGE_IDS[kind]:
        if not await fetch_value(conn, "SELECT 1 FROM articles WHERE message_id = ?", (fields[name],)):
            return True
    return False


async def _apply(conn: Connection, domain: str, row: Row, fields: dict) -> None:
    """Apply one action as its home's moderator did, or mark it failed with
    nothing of it kept (a savepoint: the action's writes are all or nothing)."""
    await conn.execute("SAVEPOINT group_action")
    try:
        entry_id = await _perform(conn, domain, row, fields, User.of_node(row["origin"], fields["by"]))
    except MootError as e:
        await conn.execute("ROLLBACK TO group_action")
        await conn.execute("RELEASE group_action")
        await _finish(conn, row, "failed", None, e.message)
        return
    await conn.execute("RELEASE group_action")
    await _finish(conn, row, "applied", entry_id, "")


async def _finish(conn: Connection, row: Row, status: str, entry_id: int | None, error: str) -> None:
    await conn.execute(
        "UPDATE group_actions SET status = ?, entry_id = ?, error = ? WHERE message_id = ?",
        (status, entry_id, error[:300], row["message_id"]),
    )


async def _article(conn: Connection, message_id: str, root: bool = False) -> Row:
    row = await fetch_one(
        conn,
        "SELECT a.id, a.thread_id, t.root_article_id FROM articles a JOIN threads t ON t.id = a.thread_id"
        " WHERE a.message_id = ?",
        (message_id,),
    )
    if row is None:
        raise NotFound(f"the article {message_id[:100]} is not here")
    if root and row["root_article_id"] != row["id"]:
        raise Conflict(f"{message_id[:100]} is not the root of a thread here")
    return row


async def _perform(conn: Connection, domain: str, row: Row, fields: dict, user: User) -> int:
    """The domain function of the action's kind; returns its log entry's id."""
    kind, reason = row["kind"], fields["reason"]
    if kind == "split":
        a = await _article(conn, fields["article"])
        result = await maintenance.split(
            conn,
            domain,
            user,
            maintenance.Split(
                a["thread_id"], a["id"], reason, subject=fields["subject"], group=fields["group"]
            ),
            notice_message_id=notice_message_id(row["message_id"]),
        )
    elif kind == "merge":
        root = await _article(conn, fields["thread"], root=True)
        into = await _article(conn, fields["into"])
        result = await maintenance.merge(
            conn,
            domain,
            user,
            maintenance.Merge(root["thread_id"], into["id"], reason),
            notice_message_id=notice_message_id(row["message_id"]),
        )
    elif kind == "move":
        root = await _article(conn, fields["thread"], root=True)
        result = await maintenance.move(conn, user, root["thread_id"], fields["group"], reason=reason)
    else:
        entry_id = await fetch_value(
            conn,
            "SELECT entry_id FROM group_actions WHERE message_id = ? AND status = 'applied'",
            (fields["action"],),
        )
        if entry_id is None:
            raise Conflict(f"the action it undoes, {fields['action'][:100]}, was not applied here")
        # Replies that reached this node after the action are carried back with it:
        # the home saw the tree as it was when it undid it (docs/PEERING.md).
        return (await undo.undo(conn, user, entry_id, reason, exact=False))["id"]
    return result["entry"]["id"]
