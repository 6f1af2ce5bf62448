"""Group proposals: any member proposes a group, other members endorse it,
and once endorsements (the proposer's included) reach the site's threshold
the group is created in the same transaction as the endorsement that tipped it.
Groups are therefore made by the community; no one owns the result."""

from __future__ import annotations

from sqlite3 import Row

from aiosqlite import Connection

from . import clock, validate
from .db import fetch_all, fetch_value, row_by_id
from .errors import Conflict, Invalid
from .groups import create_group
from .permissions import User, require

PROPOSAL_SELECT = (
    "SELECT p.*, u.username AS proposer_username, u.display_name AS proposer_display_name,"
    " (SELECT count(*) FROM endorsements e WHERE e.proposal_id = p.id) AS endorsement_count"
    " FROM proposals p JOIN users u ON u.id = p.proposer_id")


async def proposal_json(conn: Connection, row: Row, threshold: int) -> dict:
    endorsers = await fetch_all(
        conn, "SELECT u.username FROM endorsements e JOIN users u ON u.id = e.user_id"
              " WHERE e.proposal_id = ? ORDER BY e.created_at, u.username", (row["id"],))
    return {
        "id": row["id"], "name": row["name"], "description": row["description"],
        "charter": row["charter"], "status": row["status"], "created_at": row["created_at"],
        "proposer": {"username": row["proposer_username"],
                     "display_name": row["proposer_display_name"]},
        "endorsements": row["endorsement_count"], "threshold": threshold,
        "endorsed_by": [r["username"] for r in endorsers],
    }


async def _row(conn: Connection, proposal_id: object) -> Row:
    return await row_by_id(conn, PROPOSAL_SELECT + " WHERE p.id = ?", proposal_id, "proposal")


async def get_proposal(conn: Connection, proposal_id: object, threshold: int) -> dict:
    return await proposal_json(conn, await _row(conn, proposal_id), threshold)


async def list_proposals(conn: Connection, threshold: int, *, status: object = None) -> list[dict]:
    """Open proposals first, then created ones; newest first within each."""
    if status not in (None, "", "open", "created"):
        raise Invalid("status must be open or created")
    sql, params = PROPOSAL_SELECT, []
    if status:
        sql += " WHERE p.status = ?"
        params.append(status)
    # Bounded: proposals are few (one per name at a time); 200 is a page.
    rows = await fetch_all(conn, sql + " ORDER BY p.status = 'created', p.id DESC LIMIT 200", params)
    return [await proposal_json(conn, row, threshold) for row in rows]


async def _maybe_create(conn: Connection, row: Row, threshold: int) -> None:
    count = await fetch_value(conn, "SELECT count(*) FROM endorsements WHERE proposal_id = ?",
                              (row["id"],))
    if count >= threshold:
        await create_group(conn, None, row["name"], row["description"], row["charter"],
                           reason=f"proposal {row['id']} reached {count} endorsements")
        await conn.execute("UPDATE proposals SET status = 'created' WHERE id = ?", (row["id"],))


async def propose(conn: Connection, user: User | None, name: object, description: object = None,
                  charter: object = None, *, threshold: int) -> dict:
    """A member proposes a group; the proposal counts as the proposer's endorsement."""
    user = require(user, "propose")
    name = validate.group_name(name)
    description = validate.description(description if description is not None else "")
    charter = validate.charter(charter if charter is not None else "")
    if await fetch_value(conn, "SELECT 1 FROM groups WHERE name = ?", (name,)):
        raise Conflict(f"a group named {name!r} already exists")
    if await fetch_value(conn, "SELECT 1 FROM proposals WHERE name = ? AND status = 'open'", (name,)):
        raise Conflict(f"{name!r} is already proposed; endorse that proposal instead")
    now = clock.now()
    cur = await conn.execute(
        "INSERT INTO proposals (name, description, charter, proposer_id, created_at)"
        " VALUES (?, ?, ?, ?, ?)", (name, description, charter, user.id, now))
    await conn.execute("INSERT INTO endorsements (proposal_id, user_id, created_at) VALUES (?, ?, ?)",
                       (cur.lastrowid, user.id, now))
    await _maybe_create(conn, await _row(conn, cur.lastrowid), threshold)
    return await get_proposal(conn, cur.lastrowid, threshold)


async def endorse(conn: Connection, user: User | None, proposal_id: object, *, threshold: int) -> dict:
    """Endorse an open proposal (endorsing twice changes nothing)."""
    user = require(user, "endorse")
    row = await _row(conn, proposal_id)
    if row["status"] != "open":
        raise Conflict(f"the group {row['name']} was already created")
    if await fetch_value(conn, "SELECT 1 FROM groups WHERE name = ?", (row["name"],)):
        raise Conflict(f"a group named {row['name']!r} already exists")
    await conn.execute(
        "INSERT OR IGNORE INTO endorsements (proposal_id, user_id, created_at) VALUES (?, ?, ?)",
        (row["id"], user.id, clock.now()))
    await _maybe_create(conn, row, threshold)
    return await get_proposal(conn, row["id"], threshold)
