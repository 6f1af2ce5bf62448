"""The moderation queue: everything that waits for a group's moderators, in
one list per group. An item is a held submission (never published: to a
moderated group, or mail from a stranger) or a published article members
reported (server/stewardship/reports.py gathers the reports on it).

Contract:
- only the group's moderators (permissions.moderates) list items or decide
  on them; `decide` runs inside the caller's transaction and writes the
  public moderation log;
- approving a held submission publishes it as if it had been accepted then
  (posting.publish: live event, notifications, list mail, peers), carrying
  an Approved header naming the moderator, under the identity it was proven
  to have: a stranger's mail is published as that address, never as an
  account; approving thaws its author's trust (trust.thaw: an account
  frozen as spam or repetition counts its history again); rejecting keeps
  it out and tells an author with an account (a
  notification); a stranger is never written to, so Moot sends no backscatter;
- approving a reported article dismisses its reports (and shows it again if
  it was hidden); rejecting removes it (posting.remove: a cancel, undoable
  from the log);
- an item is decided once: of two moderators acting at once, one wins and the
  other gets Conflict naming who decided;
- decided items are kept (moderators see what was decided) until `forget`
  drops rejected submissions older than the site's keep time."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..articles import held, posting, tree
from ..articles.authors import Author
from ..articles.groups import get_group_row
from ..articles.reading import PARENT_SELECT, article_row
from ..people import notifications
from ..store import clock, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Forbidden, Invalid, NotFound
from . import modlog, trust
from .permissions import USER_SELECT, User, moderates, require

DECISIONS = ("approve", "reject")
STATES = ("waiting", "approved", "rejected")
# Items one page of the queue lists, and one decision may name at once.
PAGE = 100
MANY_MAX = 100

ITEM_SELECT = (
    "SELECT q.*, g.name AS group_name, u.username, d.username AS decided_by_username,"
    " a.status AS article_status, a.subject AS article_subject, a.body AS article_body,"
    " a.thread_id, a.number, a.parent_id AS article_parent_id, a.created_at AS article_created_at"
    " FROM queue q JOIN groups g ON g.id = q.group_id LEFT JOIN users u ON u.id = q.user_id"
    " LEFT JOIN users d ON d.id = q.decided_by LEFT JOIN articles a ON a.id = q.article_id"
)


def item_json(row: Row, reports: list[Row]) -> dict:
    """An item as its group's moderators see it: why it waits and since when,
    the author and channel, the article as it would appear (a hidden one's
    real text), and for a reported one the reports, counted by reason."""
    held = row["kind"] == "held"
    counts: dict[str, int] = {}
    for r in reports:
        counts[r["reason"]] = counts.get(r["reason"], 0) + 1
    return {
        "id": row["id"],
        "group": row["group_name"],
        "kind": row["kind"],
        "why": row["why"],
        "channel": row["channel"],
        "state": row["state"],
        "created_at": row["created_at"],
        "message_id": row["message_id"],
        "author": {
            "username": row["username"],
            "display_name": row["author_name"],
            "address": row["author_addr"] if row["user_id"] is None else None,
            "actor": row["actor"],
        },
        "article": {
            "id": row["article_id"],
            "thread_id": row["thread_id"],
            "number": row["number"],
            "parent_id": row["parent_id"] if held else row["article_parent_id"],
            "subject": row["subject"] if held else row["article_subject"],
            "body": row["body"] if held else row["article_body"],
            "status": None if held and row["article_id"] is None else row["article_status"],
        },
        "reports": {
            "counts": counts,
            "list": [
                {"reason": r["reason"], "note": r["note"], "by": r["username"], "counted": bool(r["weight"])}
                for r in reports
            ],
        },
        # What spamd said of an item held as spam (score None: it did not answer).
        "spam": {"score": row["spam_score"], "rules": row["spam_rules"].split()}
        if row["why"] == "spam" or row["spam_score"] is not None
        else None,
        "decided_at": row["decided_at"],
        "decided_by": row["decided_by_username"],
        "entry_id": row["entry_id"],
    }


async def _reports(conn: Connection, item_ids: list[int]) -> dict[int, list[Row]]:
    if not item_ids:
        return {}
    marks = ", ".join("?" * len(item_ids))
    rows = await fetch_all(
        conn,
        "SELECT r.*, u.username FROM reports r JOIN users u ON u.id = r.user_id"
        f" WHERE r.item_id IN ({marks}) ORDER BY r.id",
        tuple(item_ids),
    )
    found: dict[int, list[Row]] = {}
    for r in rows:
        found.setdefault(r["item_id"], []).append(r)
    return found


async def _moderated(conn: Connection, user: User | None, group_name: object) -> tuple[User, Row]:
    user = require(user, "track")
    group = await get_group_row(conn, group_name)
    if not moderates(user, group["name"]):
        raise Forbidden(f"only the moderators of {group['name']} see its queue")
    return user, group


async def list_items(
    conn: Connection,
    user: User | None,
    group_name: object,
    *,
    state: object = "waiting",
    before: object = None,
) -> dict:
    """A group's queue for its moderators, oldest first for waiting items and
    newest decided first otherwise: `{group, state, items, waiting, next}`;
    `next` is the `before` of the following page, or None."""
    _, group = await _moderated(conn, user, group_name)
    if state not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}")
    params: list = [group["id"], state]
    sql = ITEM_SELECT + " WHERE q.group_id = ? AND q.state = ?"
    if before is not None:
        sql += " AND q.id < ?" if state != "waiting" else " AND q.id > ?"
        params.append(validate.integer(before, "before"))
    sql += " ORDER BY q.id" + (" DESC" if state != "waiting" else "") + f" LIMIT {PAGE + 1}"
    rows = await fetch_all(conn, sql, tuple(params))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    reports = await _reports(conn, [r["id"] for r in rows])
    waiting = await fetch_value(
        conn, "SELECT count(*) FROM queue WHERE group_id = ? AND state = 'waiting'", (group["id"],)
    )
    return {
        "group": group["name"],
        "state": state,
        "items": [item_json(r, reports.get(r["id"], [])) for r in rows],
        "waiting": waiting,
        "next": rows[-1]["id"] if more else None,
    }


async def waiting_count(conn: Connection, group_id: int) -> int:
    """How many items wait in a group's queue (one indexed count, for a link)."""
    return int(
        await fetch_value(
            conn, "SELECT count(*) FROM queue WHERE group_id = ? AND state = 'waiting'", (group_id,)
        )
    )


async def get_item(conn: Connection, item_id: int) -> dict:
    row = await fetch_one(conn, ITEM_SELECT + " WHERE q.id = ?", (item_id,))
    assert row is not None, item_id
    return item_json(row, (await _reports(conn, [item_id])).get(item_id, []))


async def mine(conn: Connection, user: User | None) -> dict:
    """What of `user`'s own waits for moderators, or was hidden: `{items}`, each
    with its text, newest first (their held submissions and hidden articles;
    never who reported them)."""
    user = require(user, "track")
    rows = await fetch_all(
        conn,
        ITEM_SELECT + " WHERE q.user_id = ? AND q.state = 'waiting'"
        " AND (q.kind = 'held' OR a.status = 'hidden') ORDER BY q.id DESC LIMIT ?",
        (user.id, PAGE),
    )
    return {"items": [{**item_json(r, []), "reports": None} for r in rows]}


async def decide(
    conn: Connection,
    user: User | None,
    group_name: object,
    item_id: object,
    action: object,
    reason: object = None,
) -> dict:
    """Approve or reject one item (see the module's contract): `{item, entry}`,
    plus `article` when a held submission was published or an article changed."""
    user, group = await _moderated(conn, user, group_name)
    if action not in DECISIONS:
        raise Invalid("a queue item is approved or rejected")
    reason = validate.reason(reason, required=False)
    item_id = validate.integer(item_id, "id")
    row = await fetch_one(conn, ITEM_SELECT + " WHERE q.id = ? AND q.group_id = ?", (item_id, group["id"]))
    if row is None:
        raise NotFound(f"no item {item_id} in the queue of {group['name']}")
    if row["state"] != "waiting":
        raise Conflict(
            f"item {item_id} was {row['state']} already by {row['decided_by_username'] or 'the site'}",
            state=row["state"],
            decided_by=row["decided_by_username"],
        )
    if row["kind"] == "held":
        decided = _approve_held if action == "approve" else _reject_held
    else:
        decided = _dismiss_reports if action == "approve" else _remove_reported
    result = await decided(conn, user, group, row, reason)
    await conn.execute(
        "UPDATE queue SET state = ?, decided_at = ?, decided_by = ?, entry_id = ?,"
        " article_id = coalesce(article_id, ?) WHERE id = ?",
        (
            "approved" if action == "approve" else "rejected",
            clock.now(),
            user.account_id,
            result["entry_id"],
            result.get("article", {}).get("id"),
            row["id"],
        ),
    )
    entry = await modlog.get_entry(conn, result.pop("entry_id"))
    return {**result, "item": await get_item(conn, row["id"]), "entry": entry}


async def decide_many(
    conn: Connection,
    user: User | None,
    group_name: object,
    ids: object,
    action: object,
    reason: object = None,
) -> dict:
    """`decide` for each of `ids`, each on its own: `{decided: [...], failed:
    [{id, error}]}`; one item's refusal (decided already, stale) leaves the
    others' decisions standing."""
    if not isinstance(ids, list) or not ids or len(ids) > MANY_MAX:
        raise Invalid(f"ids must be a list of 1 to {MANY_MAX} queue ids")
    await _moderated(conn, user, group_name)
    decided, failed = [], []
    for n, item_id in enumerate(dict.fromkeys(validate.integer(i, "id") for i in ids)):
        await conn.execute(f"SAVEPOINT item_{n}")
        try:
            decided.append(await decide(conn, user, group_name, item_id, action, reason))
        except (Conflict, NotFound, Forbidden) as error:
            await conn.execute(f"ROLLBACK TO item_{n}")
            failed.append({"id": item_id, "error": error.to_json()["error"]})
        await conn.execute(f"RELEASE item_{n}")
    return {"decided": decided, "failed": failed}


def _data(row: Row) -> dict:
    return {"item": row["id"], "why": row["why"], "channel": row["channel"]}


async def _approve_held(conn: Connection, user: User, group: Row, row: Row, reason: str) -> dict:
    if group["status"] == "n":
        raise Forbidden(f"{group['name']} is read-only now: nothing can be posted there")
    if await fetch_value(conn, "SELECT 1 FROM articles WHERE message_id = ?", (row["message_id"],)):
        raise Conflict(f"{row['message_id']} is posted already")
    parent = await _parent(conn, group, row)
    new = posting.NewArticle(
        row["subject"],
        row["body"],
        Author(
            row["author_name"],
            row["user_id"],
            None if row["user_id"] else row["author_addr"],
            actor=row["actor"],
        ),
        row["message_id"],
        clock.now(),
        references=row["refs"] if parent is None else "",
        approved=user.display_name,
        channel=row["channel"],
    )
    if row["user_id"] is None:
        article = await posting.publish_arrival(conn, group, parent, new)
        await held.approved(conn, row, article["id"])
    else:
        author = await fetch_one(conn, USER_SELECT + " WHERE id = ?", (row["user_id"],))
        assert author is not None  # queue.user_id is set NULL when an account goes
        published = await posting.publish(
            conn, group, parent, new, User.from_row(author), continued_from=row["continued_from"]
        )
        article = published["article"]
        await trust.thaw(conn, row["user_id"])  # an approved post: the author's history counts again
    stored = await article_row(conn, article["id"])
    entry_id = await modlog.write(
        conn, modlog.Entry.on_article("approve", user, stored, reason=reason, data=_data(row))
    )
    await notifications.on_decision(conn, entry_id, row["user_id"], user, article["thread_id"])
    return {"article": article, "entry_id": entry_id}


async def _parent(conn: Connection, group: Row, row: Row) -> Row | None:
    """Where an approved submission goes: under the article it answered (a
    member's reply), or for stranger mail under the nearest article its reply
    address or References name in this group and an open thread; None: a new
    thread. A reply whose thread was archived since, or that a move, split or
    merge took to another group, cannot be placed: this group's moderators
    decide only what is posted here."""
    if row["user_id"] is not None:
        if row["parent_id"] is None:
            return None
        parent = await fetch_one(conn, PARENT_SELECT + " WHERE a.id = ?", (row["parent_id"],))
        if parent is None or parent["thread_state"] == "archived":
            raise Conflict("the thread this reply answers was archived since; reject it")
        if parent["group_id"] != group["id"]:
            raise Conflict(
                f"the article this reply answers is in {parent['group_name']} now; reject it,"
                " and its author may post it there"
            )
        return await tree.anchor(conn, parent, PARENT_SELECT)
    sql = (
        posting.PLACE_SELECT + " JOIN threads t ON t.id = a.thread_id"
        " WHERE a.group_id = ? AND t.state = 'open' AND t.merged_into_thread_id IS NULL AND "
    )
    lookups = [("a.id", row["parent_id"])] if row["parent_id"] is not None else []
    lookups += [("a.message_id", ref) for ref in reversed(row["refs"].split())]
    for column, value in lookups:
        found = await fetch_one(conn, f"{sql}{column} = ?", (group["id"], value))
        if found is not None:
            return await tree.anchor(conn, found, posting.PLACE_SELECT)
    return None


async def _reject_held(conn: Connection, user: User, group: Row, row: Row, reason: str) -> dict:
    entry_id = await _log_rejection(conn, user, row, reason)
    await notifications.on_decision(conn, entry_id, row["user_id"], user, None)
    return {"entry_id": entry_id}


async def _log_rejection(conn: Connection, user: User | None, row: Row, reason: str) -> int:
    """The public log's entry of held submission `row` refused, by `user` or
    (None) by the site; its id."""
    return await modlog.write(
        conn,
        modlog.Entry(
            "reject",
            user,
            group_id=row["group_id"],
            target=row["message_id"],
            reason=reason,
            data={**_data(row), "subject": row["subject"]},
        ),
    )


async def _dismiss_reports(conn: Connection, user: User, group: Row, row: Row, reason: str) -> dict:
    article = await fetch_one(conn, "SELECT * FROM articles WHERE id = ?", (row["article_id"],))
    assert article is not None  # a reported article is never deleted
    data = {**_data(row), "hidden": article["status"] == "hidden"}
    entry_id = await modlog.write(
        conn, modlog.Entry.on_article("dismiss", user, article, reason=reason, data=data)
    )
    result: dict = {"entry_id": entry_id}
    if article["status"] == "hidden":
        result["article"] = await posting.show(conn, article)
        await notifications.on_decision(conn, entry_id, article["user_id"], user, article["thread_id"])
    return result


async def _remove_reported(conn: Connection, user: User, group: Row, row: Row, reason: str) -> dict:
    article = await fetch_one(conn, "SELECT * FROM articles WHERE id = ?", (row["article_id"],))
    assert article is not None  # a reported article is never deleted
    if article["status"] not in ("ok", "hidden"):
        # withdrawn meanwhile (by its author, or a moderator from the thread): nothing left to remove
        entry_id = await modlog.write(
            conn,
            modlog.Entry.on_article(
                "dismiss", user, article, reason=reason or "withdrawn already", data=_data(row)
            ),
        )
        return {"entry_id": entry_id}
    shown, entry_id = await posting.remove(conn, user, article, reason, data=_data(row))
    return {"article": shown, "entry_id": entry_id}


async def withdraw(conn: Connection, item_id: int, reason: str) -> None:
    """Its author takes back held submission `item_id` before a moderator
    decided on it (a fediverse actor's Delete): rejected by the site, with
    `reason` in the public log; nothing when it is decided already."""
    row = await fetch_one(conn, ITEM_SELECT + " WHERE q.id = ?", (item_id,))
    if row is None or row["kind"] != "held" or row["state"] != "waiting":
        return
    entry_id = await _log_rejection(conn, None, row, reason)
    await conn.execute(
        "UPDATE queue SET state = 'rejected', decided_at = ?, entry_id = ? WHERE id = ?",
        (clock.now(), entry_id, item_id),
    )


async def forget(conn: Connection, before: str) -> int:
    """Drop rejected held submissions decided before `before` (their text
    goes; the log keeps the decision). Returns how many went."""
    cur = await conn.execute(
        "DELETE FROM queue WHERE kind = 'held' AND state = 'rejected' AND decided_at < ?", (before,)
    )
    return cur.rowcount
