"""People's public pages: who someone is on this site (display name, role,
when they joined, how many articles, a suspension in force) and their
articles, newest first."""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiosqlite import Connection

from ..articles.reading import ARTICLE_SELECT, article_json
from ..stewardship import suspensions, trust
from ..stewardship.permissions import User
from ..store import keyset, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Invalid, NotFound
from .accounts import DELETED_HASH
from .notifications import mentioned

# Completing an @mention: a few names, found along the usernames' own index.
PEOPLE_MAX = 8
_PREFIX = re.compile(r"[a-z0-9_.-]{1,32}\Z")


async def find_people(conn: Connection, prefix: object) -> list[dict]:
    """The accounts whose username starts with `prefix` (1-32 characters of a
    username's alphabet, any case), for completing an @mention as it is typed:
    `[{username, display_name}]` in username order, at most PEOPLE_MAX, deleted
    accounts left out. Raises Invalid for another prefix."""
    text = prefix.lower() if isinstance(prefix, str) else ""
    if not _PREFIX.match(text):
        raise Invalid("prefix must be 1-32 characters of a-z, 0-9, '_', '.' and '-'")
    rows = await fetch_all(
        conn,
        "SELECT username, display_name FROM users WHERE username >= ? AND username < ?"
        " AND password_hash != ? ORDER BY username LIMIT ?",
        (text, text + "\x7f", DELETED_HASH, PEOPLE_MAX),
    )
    return [{"username": r[0], "display_name": r[1]} for r in rows]


async def mentioned_accounts(conn: Connection, bodies: Iterable[str]) -> frozenset[str]:
    """The usernames the bodies `@mention` that have a profile to link to."""
    names = list(dict.fromkeys(name for body in bodies for name in mentioned(body)))
    if not names:
        return frozenset()
    rows = await fetch_all(
        conn,
        f"SELECT username FROM users WHERE username IN ({','.join('?' * len(names))}) AND password_hash != ?",
        (*names, DELETED_HASH),
    )
    return frozenset(row[0] for row in rows)


async def get_profile(
    conn: Connection,
    username: object,
    *,
    limit: object = None,
    cursor: object = None,
    rules: trust.Rules | None = None,
) -> dict:
    """`{user: {username, display_name, role, created_at, article_count,
    trust, suspended_until, suspension_reason}, articles, next_cursor}`;
    `articles` are their live articles, newest first, keyset-paged by date;
    `trust` their level by the site's trust `rules` (the defaults when None);
    the suspension fields are None unless one is in force (suspensions.status)."""
    if not isinstance(username, str) or len(username) > 64:
        raise NotFound("no such user")
    row = await fetch_one(
        conn, "SELECT * FROM users WHERE username = ? AND password_hash != ?", (username, DELETED_HASH)
    )
    if row is None:
        raise NotFound("no such user")
    limit = validate.limit(limit, default=20)
    before = keyset.parse_stamp_cursor(cursor)
    sql, params = ARTICLE_SELECT + " WHERE a.user_id = ? AND a.status = 'ok'", [row["id"]]
    if before is not None:
        sql += " AND (a.created_at, a.id) < (?, ?)"
        params.extend(before)
    # by date, not id: imported and peered articles arrive out of date order
    order = " ORDER BY a.created_at DESC, a.id DESC LIMIT ?"
    rows, more = keyset.split_page(await fetch_all(conn, sql + order, (*params, limit + 1)), limit)
    count = await fetch_value(
        conn, "SELECT count(*) FROM articles WHERE user_id = ? AND status = 'ok'", (row["id"],)
    )
    return {
        "user": {
            "username": row["username"],
            "display_name": row["display_name"],
            "role": row["role"],
            "created_at": row["created_at"],
            "article_count": count,
            "trust": trust.level(User.from_row(row), rules or trust.Rules()),
            **suspensions.status(User.from_row(row)),
        },
        "articles": [article_json(r) for r in rows],
        "next_cursor": keyset.stamp_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None,
    }
