"""One-action cleanup after a spam run: a suspension (everywhere) or a ban
(in its group) that also removes what its author wrote in the last days.

Contract:
- `recent` finds the visible or hidden articles an author (a ban's author
  key: 'user:ID', 'mail:ADDRESS', 'domain:NAME', 'peer:NODE') posted in the
  last `days` days, in one group or everywhere; more than MAX_REMOVED is a
  Conflict asking for a shorter period, raised before anything is written;
- `take_down` removes them as the suspension's or ban's own log entry
  (posting.take_down: each a cancel seen live, by NNTP readers and by the
  peers, its text kept), and settles the waiting queue items of those
  articles as rejected by that entry; undoing the entry (undo.undo)
  restores them all at once."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from ..articles import posting
from ..news import peers
from ..store import clock, validate
from ..store.db import fetch_all
from ..store.errors import Conflict
from .permissions import User

# Most articles one suspension or ban removes: beyond, a shorter period.
MAX_REMOVED = 1000
# The longest period a cleanup reaches back, as the longest suspension.
MAX_DAYS = 3650

# Which articles each kind of author key names (a peer's are narrowed to its
# origin after the query: the Path's last node, peers.path_origin).
_BY = {
    "user": "a.user_id = ?",
    "mail": "a.user_id IS NULL AND a.author_addr = ? COLLATE NOCASE",
    "domain": "a.user_id IS NULL AND a.author_addr LIKE '%@' || ?",
    "peer": "p.path LIKE '%' || ? || '%'",
}


def period(remove_days: object) -> int | None:
    """The checked `remove_days` of a request: None (remove nothing) or 1 to MAX_DAYS."""
    if remove_days is None:
        return None
    return validate.integer(remove_days, "remove_days", minimum=1, maximum=MAX_DAYS)


async def recent(conn: Connection, author: str, days: int | None, group_id: int | None = None) -> list[Row]:
    """The visible or hidden articles by `author` (a key) from the last `days`
    days, in group `group_id` or everywhere, oldest first (see the contract);
    none when `days` is None."""
    if days is None:
        return []
    kind, _, name = author.partition(":")
    sql = (
        "SELECT a.*, p.path FROM articles a LEFT JOIN article_paths p ON p.article_id = a.id"
        f" WHERE a.status IN ('ok', 'hidden') AND a.created_at >= ? AND {_BY[kind]}"
    )
    params: list = [clock.ago(days=days), int(name) if kind == "user" else name]
    if group_id is not None:
        sql += " AND a.group_id = ?"
        params.append(group_id)
    rows = await fetch_all(conn, sql + f" ORDER BY a.id LIMIT {MAX_REMOVED + 1}", tuple(params))
    if kind == "peer":
        rows = [r for r in rows if peers.path_origin(r["path"]) == name]
    if len(rows) > MAX_REMOVED:
        raise Conflict(
            f"more than {MAX_REMOVED} articles in the last {days} days: remove a shorter period"
            " (and the rest with a second action)"
        )
    return rows


async def take_down(conn: Connection, actor: User | None, rows: list[Row], entry_id: int) -> None:
    """Remove `rows` (from `recent`) as log entry `entry_id` does; their waiting
    queue items are settled as rejected by it (posting.withdraw)."""
    for row in rows:
        await posting.take_down(conn, row, entry_id, by=actor.account_id if actor else None)
