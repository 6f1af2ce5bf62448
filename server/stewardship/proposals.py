"""Group proposals: any member proposes a group, other members endorse it,
and once endorsements (the proposer's included) reach the site's threshold
the group is created in the same transaction as the endorsement that tipped it.
Groups are therefore made by the community; no one owns the result.

The same process, in public, adds or removes a group's own moderator (kind
'add_moderator' or 'remove_moderator', `name` the group, `user` the member):
once carried, groupmods.change makes the change, logged as the site's for
that proposal, and the proposal's status is 'carried'. Such a proposal needs
an existing group and a member whose place it changes (NotFound, Conflict);
one proposal of a kind is open at a time per group and member (Conflict).
Its proposer may withdraw an open proposal: it stays listed, 'withdrawn'."""

from __future__ import annotations

from dataclasses import dataclass
from sqlite3 import Row

from aiosqlite import Connection

from ..articles.groups import create_group, get_group_row
from ..store import clock, validate
from ..store.config import Config
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Forbidden, Invalid, NotFound
from . import groupmods
from .permissions import User, require

KINDS = ("group", "add_moderator", "remove_moderator")


# Proposals one member may have open at once, so that no one fills the list
# (the page shows 200) with names nobody endorses. One withdrawn within
# WITHDRAWN_DAYS of being made still counts, so proposing and withdrawing
# over and over fills nothing either.
OPEN_PER_MEMBER = 5
WITHDRAWN_DAYS = 7


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
    " m.username AS member_username, m.display_name AS member_display_name,"
    " (SELECT count(*)" + _COUNTS.format(proposal="p.id") + ") AS endorsement_count"
    " FROM proposals p JOIN users u ON u.id = p.proposer_id LEFT JOIN users m ON m.id = p.user_id"
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
        "kind": row["kind"],
        "name": row["name"],
        "user": None
        if row["user_id"] is None
        else {"username": row["member_username"], "display_name": row["member_display_name"]},
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
    """Open proposals first, then decided ones, then withdrawn ones; newest first within each."""
    if status not in (None, "", "open", "created", "carried", "withdrawn"):
        raise Invalid("status must be open, created, carried or withdrawn")
    sql, params = PROPOSAL_SELECT, list(_count_params(rules))
    if status:
        sql += " WHERE p.status = ?"
        params.append(status)
    # Bounded: proposals are few (one per name at a time); 200 is a page.
    rows = await fetch_all(
        conn, sql + " ORDER BY p.status != 'open', p.status = 'withdrawn', p.id DESC LIMIT 200", params
    )
    return [await proposal_json(conn, row, rules) for row in rows]


async def _maybe_create(conn: Connection, row: Row, rules: Rules) -> None:
    """Decide the proposal once its endorsements reach the threshold: create
    the group, or make the moderator change (status 'carried'; a change an
    admin already made meanwhile carries it with nothing more to do)."""
    count = await fetch_value(
        conn, "SELECT count(*)" + _COUNTS.format(proposal="?"), (row["id"], *_count_params(rules))
    )
    if count >= rules.threshold and row["kind"] != "group":
        try:
            group, member = await _moderator_change(conn, row["kind"], row["name"], row["member_username"])
        except Conflict:  # already so: nothing is left to change
            await conn.execute("UPDATE proposals SET status = 'carried' WHERE id = ?", (row["id"],))
            return
        await groupmods.change(
            conn,
            None,
            group,
            member,
            row["kind"] == "add_moderator",
            reason=f"proposal {row['id']} reached {count} endorsements",
            data={"proposal": row["id"]},
        )
        await conn.execute("UPDATE proposals SET status = 'carried' WHERE id = ?", (row["id"],))
    elif count >= rules.threshold:
        await create_group(
            conn,
            None,
            row["name"],
            row["description"],
            row["charter"],
            reason=f"proposal {row['id']} reached {count} endorsements",
        )
        await conn.execute("UPDATE proposals SET status = 'created' WHERE id = ?", (row["id"],))


async def _moderator_change(
    conn: Connection, kind: str, group_name: object, username: object
) -> tuple[Row, Row]:
    """The group and member a moderator proposal names, once the change would
    change something (NotFound, Conflict otherwise)."""
    group = await get_group_row(conn, group_name)
    member = await groupmods.member_row(conn, username)
    await groupmods.check(conn, group, member, kind == "add_moderator")
    return group, member


async def propose(
    conn: Connection,
    user: User | None,
    name: object,
    description: object = None,
    charter: object = None,
    *,
    rules: Rules,
    kind: object = "group",
    username: object = None,
) -> dict:
    """A member proposes a group (or, by `kind`, to add or remove `username`
    as a moderator of the group `name`); the proposal counts as the
    proposer's endorsement. A member has at most OPEN_PER_MEMBER proposals
    open at once (409)."""
    user = require(user, "propose")
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    mine = await fetch_value(
        conn,
        "SELECT count(*) FROM proposals WHERE proposer_id = ?"
        " AND (status = 'open' OR status = 'withdrawn' AND created_at > ?)",
        (user.id, clock.ago(days=WITHDRAWN_DAYS)),
    )
    if mine >= OPEN_PER_MEMBER:
        raise Conflict(
            f"you have {mine} open proposals (or withdrawn within {WITHDRAWN_DAYS} days of making them),"
            f" the most one member may have: propose more once one of them is decided, or withdraw an"
            f" older one"
        )
    description = validate.description(description if description is not None else "")
    charter = validate.charter(charter if charter is not None else "")
    member_id = None
    if kind == "group":
        name = validate.group_name(name)
        if await fetch_value(conn, "SELECT 1 FROM groups WHERE name = ?", (name,)):
            raise Conflict(f"a group named {name!r} already exists")
    else:
        group, member = await _moderator_change(conn, str(kind), name, username)
        name, member_id = group["name"], member["id"]
    if await fetch_value(
        conn,
        "SELECT 1 FROM proposals WHERE kind = ? AND name = ? AND coalesce(user_id, 0) = ? AND status = 'open'",
        (kind, name, member_id or 0),
    ):
        raise Conflict(f"{name!r} is already proposed so; endorse that proposal instead")
    now = clock.now()
    cur = await conn.execute(
        "INSERT INTO proposals (name, description, charter, proposer_id, created_at, kind, user_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, description, charter, user.id, now, kind, member_id),
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
        raise Conflict(f"proposal {row['id']} is no longer open ({row['status']})")
    if row["kind"] == "group" and await fetch_value(
        conn, "SELECT 1 FROM groups WHERE name = ?", (row["name"],)
    ):
        raise Conflict(f"a group named {row['name']!r} already exists")
    await conn.execute(
        "INSERT OR IGNORE INTO endorsements (proposal_id, user_id, created_at) VALUES (?, ?, ?)",
        (row["id"], user.id, clock.now()),
    )
    await _maybe_create(conn, row, rules)
    return await get_proposal(conn, row["id"], rules)


async def withdraw(conn: Connection, user: User | None, proposal_id: object, *, rules: Rules) -> dict:
    """Its proposer withdraws an open proposal: it stays listed, with its
    endorsements, as 'withdrawn', and counts towards the proposer's open ones
    only until WITHDRAWN_DAYS after it was made. Forbidden for anyone else;
    Conflict once it is decided."""
    user = require(user, "propose")
    row = await _row(conn, proposal_id, rules)
    if row["proposer_id"] != user.id:
        raise Forbidden("only its proposer can withdraw a proposal")
    if row["status"] != "open":
        raise Conflict(f"proposal {row['id']} is no longer open ({row['status']})")
    await conn.execute("UPDATE proposals SET status = 'withdrawn' WHERE id = ?", (row["id"],))
    return await get_proposal(conn, row["id"], rules)
