"""Who wrote an article, and by which channel it came: one record every
channel fills, so reports, holds, bans and blocks name authors the same way."""

from __future__ import annotations

from dataclasses import dataclass
from sqlite3 import Row
from urllib.parse import urlsplit

from aiosqlite import Connection

from ..stewardship.permissions import User
from ..store import clock
from ..store.db import fetch_one

# The ways an article reaches this site.
CHANNELS = ("web", "api", "nntp", "mail", "peer", "fediverse")


@dataclass(frozen=True)
class Author:
    """Who wrote an article: an account of this site (`user_id`), or someone
    known here only by a name and a mail `address` (a stranger's mail, an
    imported message), or by the news peer it entered from (`peer`, the Path
    node nearest its origin), or by the fediverse `actor` (its id, an https
    URL) that wrote it, shown as name@host."""

    name: str
    user_id: int | None = None
    address: str | None = None
    peer: str | None = None
    actor: str | None = None

    @classmethod
    def of(cls, user: User) -> Author:
        """The author an account (or another node's moderator, who has none here) writes as."""
        return cls(user.display_name, user.account_id)

    @property
    def keys(self) -> list[str]:
        """The names a ban may give this author (`bans.author`), most specific
        first: 'user:ID'; 'mail:ADDRESS' and 'domain:NAME' for an address (lower
        case); 'peer:NODE' for a peer's article; 'actor:URL' and 'domain:HOST'
        (the actor's instance) for a fediverse actor."""
        if self.user_id is not None:
            return [f"user:{self.user_id}"]
        keys = []
        if self.address:
            address = self.address.lower()
            keys += [f"mail:{address}", f"domain:{address.rpartition('@')[2]}"]
        if self.peer:
            keys.append(f"peer:{self.peer.lower()}")
        if self.actor:
            keys += [f"actor:{self.actor}", f"domain:{(urlsplit(self.actor).hostname or '').lower()}"]
        return keys


async def ban_of(conn: Connection, group_id: int, author: Author) -> Row | None:
    """The ban from group `group_id` in force against `author` now, if any:
    a row with `author`, `until` and `reason` (stewardship.bans keeps them;
    the check lives here, beside the record, so posting needs nothing above it)."""
    keys = author.keys
    if not keys:
        return None
    marks = ", ".join("?" * len(keys))
    return await fetch_one(
        conn,
        f"SELECT author, until, reason FROM bans WHERE group_id = ? AND author IN ({marks}) AND until > ?"
        " ORDER BY until DESC LIMIT 1",
        (group_id, *keys, clock.now()),
    )
