"""Site-wide suspensions: an admin bars an account from adding to the site for
a number of days, for a public reason, and can lift the bar early.

Contract:
- `suspend` and `unsuspend` run inside the caller's transaction; only an
  admin may call them (`actor` None is the site operator at the command
  line); each writes the public moderation log ("suspend", "unsuspend") with
  who, until when and why, and answers with the account's `status`;
- a suspension lasts 1 to MAX_DAYS whole days from now, needs a reason
  (validate.reason), and a new one replaces the one in force; nobody suspends
  themselves, and admins are not suspended (demote first: `change_role`);
- the suspension is kept on the account (`users.suspended_until`,
  `suspension_reason`), so every User built from it carries it, and
  permissions.require refuses what SUSPENDED_MAY_NOT names while it is in
  force, whatever the channel. It ends by itself when `suspended_until`
  passes (the check reads the clock; no job clears it) and at once on
  `unsuspend`;
- with `remove_days` a suspension also removes the account's articles from
  that many days back, everywhere (cleanup.py), undoable with it as one
  entry (undo.undo lifts the suspension if it is still the one in force)."""

from __future__ import annotations

import json
from sqlite3 import Row

from aiosqlite import Connection

from ..people import accounts
from ..store import clock, validate
from ..store.db import fetch_one
from ..store.errors import Conflict, Forbidden, NotFound
from . import cleanup, modlog
from .permissions import User, require

# Ten years: longer is a ban, which is deleting the account or keeping it demoted.
MAX_DAYS = 3650


def status(user: User) -> dict:
    """The public form of `user`'s suspension, as profiles show it:
    `{suspended_until, suspension_reason}`, both None when none is in force."""
    if not user.suspended:
        return {"suspended_until": None, "suspension_reason": None}
    return {"suspended_until": user.suspended_until, "suspension_reason": user.suspension_reason}


async def _target(conn: Connection, actor: User | None, username: object) -> User:
    """The account `username` names, once `actor` is known to be an admin (404 if none)."""
    if actor is not None:
        require(actor, "admin")
    row = await fetch_one(
        conn,
        "SELECT * FROM users WHERE username = ? AND password_hash != ?",
        (username if isinstance(username, str) else "", accounts.DELETED_HASH),
    )
    if row is None:
        raise NotFound(f"no user {str(username)[:64]!r}")
    return User.from_row(row)


async def suspend(
    conn: Connection,
    actor: User | None,
    username: object,
    days: object,
    reason: object,
    *,
    remove_days: object = None,
) -> dict:
    """Suspend `username` for `days` from now, for `reason`, and with
    `remove_days` remove their articles from that many days back (see the
    module's contract): `{user: status, removed}` and the log entry's id as `entry_id`."""
    target = await _target(conn, actor, username)
    days = validate.integer(days, "days", minimum=1, maximum=MAX_DAYS)
    reason = validate.reason(reason, required=True)
    back = cleanup.period(remove_days)
    if actor is not None and actor.id == target.id:
        raise Forbidden("you cannot suspend yourself")
    if target.role == "admin":
        raise Forbidden(
            f"{target.username} is an admin, and admins cannot be suspended: change their role first"
        )
    rows = await cleanup.recent(conn, f"user:{target.id}", back)
    until = clock.later(days=days)
    await conn.execute(
        "UPDATE users SET suspended_until = ?, suspension_reason = ? WHERE id = ?",
        (until, reason, target.id),
    )
    data: dict = {"username": target.username, "days": days, "until": until}
    if back is not None:
        data |= {"remove_days": back, "removed": len(rows)}
    entry_id = await modlog.write(
        conn, modlog.Entry("suspend", actor, target=target.username, reason=reason, data=data)
    )
    await cleanup.take_down(conn, actor, rows, entry_id)
    user = {"username": target.username, "suspended_until": until, "suspension_reason": reason}
    return {"user": user, "removed": len(rows), "entry_id": entry_id}


async def unsuspend(conn: Connection, actor: User | None, username: object, reason: object = None) -> dict:
    """End `username`'s suspension now (Conflict when none is in force); logged."""
    target = await _target(conn, actor, username)
    reason = validate.reason(reason, required=False)
    if not target.suspended:
        raise Conflict(f"{target.username} is not suspended")
    await conn.execute(
        "UPDATE users SET suspended_until = NULL, suspension_reason = '' WHERE id = ?", (target.id,)
    )
    await modlog.write(
        conn,
        modlog.Entry(
            "unsuspend",
            actor,
            target=target.username,
            reason=reason,
            data={"username": target.username, "was_until": target.suspended_until},
        ),
    )
    return {"username": target.username, "suspended_until": None, "suspension_reason": None}


async def lift(conn: Connection, entry: Row) -> bool:
    """End the suspension the log entry `entry` set, if it is still the one in
    force (an undo); whether it was."""
    data = json.loads(entry["data"])
    cur = await conn.execute(
        "UPDATE users SET suspended_until = NULL, suspension_reason = ''"
        " WHERE username = ? AND suspended_until = ? AND suspended_until > ?",
        (data["username"], data["until"], clock.now()),
    )
    return cur.rowcount > 0
