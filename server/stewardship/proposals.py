"""Group proposals: any member proposes a group, other members endorse it,
and once endorsements (the proposer's included) reach the site's threshold
the group is created in the same transaction as the endorsement that tipped it.
Groups are therefore made by the community; no one owns the result."""

from __future__ import annotations

from dataclasses import dataclass
from sqlite3 import Row

from aiosqlite import Connection

from ..articles.groups import create_group
from ..store import clock, validate
from ..store.config import Config
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Invalid, NotFound
from .permissions import User, require


@dataclass(frozen=True)
class Rules:
    """When endorsements create a group: `threshold` of them, each from an
    account at least `min_age_days` old with at least `min_posts` articles
    that landed (not withdrawn), so fresh sock puppets count for nothing."""

    threshold: int
    min_age_days: int = 0
    min_posts: int = 0

    @classmethod
    def of(cls, config: Config) -> Rules:
        """The site's rules, from its configuration."""
        return cls(config.proposal_threshold, config.endorse_min_age_days, config.endorse_min_posts)

    def params(self) -> tuple[str, int]:
        return clock.ago(days=self.min_age_days), self.min_posts


# An endorsement counts when its account is old enough and has posted enough
# (parameters: Rules.params()); articles_by_user makes the post count a range read.
_COUNTS = (
    " FROM endorsements e JOIN users eu ON eu.id = e.user_id"
    " WHERE e.proposal_id = {proposal} AND eu.created_at <= ?"
    " AND (SELECT count(*) FROM (SELECT 1 FROM articles a WHERE a.user_id = eu.id"
    " AND a.status = 'ok' LIMIT ?)) >= ?"
)

PROPOSAL_SELECT = (
    "SELECT p.*, u.username AS proposer_username, u.display_name AS proposer_display_name,"
    " (SELECT count(*)" + _COUNTS.format(proposal="p.id") + ") AS endorsement_count"
    " FROM proposals p JOIN users u ON u.id = p.proposer_id"
)


def _count_params(rules: Rules) -> tuple:
    cutoff, posts = rules.params()
    return cutoff, posts, posts


async def proposal_json(conn: Connection, row: Row, rules: Rules) -> dict:
    endorsers = await fetch_all(
        conn,
        "SELECT u.username FROM endorsements e JOIN users u ON u.id = e.user_id"
        " WHERE e.proposal_id = ? ORDER BY e.created_at, u.username",
        (row["id"],),
    )
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "charter": row["charter"],
        "status": row["status"],
        "created_at": row["created_at"],
        "proposer": {"username": row["proposer_username"], "display_name": row["proposer_display_name"]},
        "endorsements": row["endorsement_count"],
        "threshold": rules.threshold,
        "endorsed_by": [r["username"] for r in endorsers],
    }


async def _row(conn: Connection, proposal_id: object, rules: Rules) -> Row:
    try:
        proposal_id = validate.integer(proposal_id, "proposal")
    except Invalid:
        raise NotFound("no such proposal") from None
    row = await fetch_one(conn, PROPOSAL_SELECT + " WHERE p.id = ?", (*_count_params(rules), proposal_id))
    if row is None:
        raise NotFound("no such proposal")
    return row


async def get_proposal(conn: Connection, proposal_id: object, rules: Rules) -> dict:
    return await proposal_json(conn, await _row(conn, proposal_id, rules), rules)


async def list_proposals(conn: Connection, rules: Rules, *, status: object = None) -> list[dict]:
    """Open proposals first, then created ones; newest first within each."""
    if status not in (None, "", "open", "created"):
        raise Invalid("status must be open or created")
    sql, params = PROPOSAL_SELECT, list(_count_params(rules))
    if status:
        sql += " WHERE p.status = ?"
        params.append(status)
    # Bounded: proposals are few (one per name at a time); 200 is a page.
    rows = await fetch_all(conn, sql + " ORDER BY p.status = 'created', p.id DESC LIMIT 200", params)
    return [await proposal_json(conn, row, rules) for row in rows]


async def _maybe_create(conn: Connection, row: Row, rules: Rules) -> None:
    count = await fetch_value(
        conn, "SELECT count(*)" + _COUNTS.format(proposal="?"), (row["id"], *_count_params(rules))
    )
    if count >= rules.threshold:
        await create_group(
            conn,
            None,
            row["name"],
            row["description"],
            row["charter"],
            reason=f"proposal {row['id']} reached {count} endorsements",
        )
        await conn.execute("UPDATE proposals SET status = 'created' WHERE id = ?", (row["id"],))


async def propose(
    conn: Connection,
    user: User | None,
    name: object,
    description: object = None,
    charter: object = None,
    *,
    rules: Rules,
) -> dict:
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
        "INSERT INTO proposals (name, description, charter, proposer_id, created_at) VALUES (?, ?, ?, ?, ?)",
        (name, description, charter, user.id, now),
    )
    await conn.execute(
        "INSERT INTO endorsements (proposal_id, user_id, created_at) VALUES (?, ?, ?)",
        (cur.lastrowid, user.id, now),
    )
    await _maybe_create(conn, await _row(conn, cur.lastrowid, rules), rules)
    return await get_proposal(conn, cur.lastrowid, rules)


async def endorse(conn: Connection, user: User | None, proposal_id: object, *, rules: Rules) -> dict:
    """Endorse an open proposal (endorsing twice changes nothing)."""
    user = require(user, "endorse")
    row = await _row(conn, proposal_id, rules)
    if row["status"] != "open":
        raise Conflict(f"the group {row['name']} was already created")
    if await fetch_value(conn, "SELECT 1 FROM groups WHERE name = ?", (row["name"],)):
        raise Conflict(f"a group named {row['name']!r} already exists")
    await conn.execute(
        "INSERT OR IGNORE INTO endorsements (proposal_id, user_id, created_at) VALUES (?, ?, ?)",
        (row["id"], user.id, clock.now()),
    )
    await _maybe_create(conn, row, rules)
    return await get_proposal(conn, row["id"], rules)
