"""Accounts: scrypt password hashes, registration, sign-in and server-side sessions."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from aiosqlite import Connection

from ..articles import indexing
from ..articles.reading import get_article
from ..stewardship import modlog
from ..stewardship.permissions import ROLES, USER_COLUMNS, USER_SELECT, User
from ..store import clock, validate
from ..store.db import Database, fetch_all, fetch_one, fetch_value
from ..store.errors import Conflict, Invalid, NotFound
from ..store.events import emit
from .readstate import subscribe_defaults

# OWASP's minimum for scrypt is N=2^17, r=8, p=1 (128 MiB of memory per hash);
# a site may set another N for new hashes (MOOT_PASSWORD_COST). A hash records
# its own N, so a check always costs what its hash did.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
_MAXMEM = 256 * 1024 * 1024
# Each hash holds 128 MiB for a fraction of a second: a process-wide cap on
# how many run at once bounds memory whatever the number of sign-ins.
HASH_WORKERS = 2
_HASHING = threading.BoundedSemaphore(HASH_WORKERS)


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM, dklen=32
    )

    def b64(raw):
        return base64.b64encode(raw).decode("ascii")

    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash(n: int) -> str:
    """Checked against when the username is unknown, so the timing does not tell."""
    return hash_password(secrets.token_urlsafe(12), n=n)


def _capped(fn, *args):
    with _HASHING:
        return fn(*args)


async def _in_thread(fn, *args):
    return await asyncio.to_thread(_capped, fn, *args)


@dataclass(frozen=True)
class Welcome:
    """What the site does for a new account: subscribe it to `groups` (the
    site's default groups) and, with `first_is_admin` (a person signing up),
    make the first account of a site with none its admin, so a fresh install
    can be run from the browser."""

    groups: tuple[str, ...]  # () is every group (readstate.subscribe_defaults)
    first_is_admin: bool = False


async def create_user(
    db: Database,
    username: object,
    password: object,
    display_name: object = None,
    role: str = "member",
    *,
    password_hash: str | None = None,
    welcome: Welcome | None = None,
    then: Callable[[Connection, User], Awaitable[None]] | None = None,
    n: int = SCRYPT_N,
) -> User:
    """Create an account with `role`, welcomed as `welcome` says (see Welcome).
    A caller that already holds the scrypt hash of `password` may pass it
    (and no password); else it is hashed at cost `n`. `then(conn, user)` runs
    in the account's transaction: what it raises undoes the account."""
    username = validate.username(username)
    if password_hash is None or password is not None:
        checked = validate.password(password)
    display_name = validate.display_name(display_name if display_name is not None else username)
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if (
        role == "member"
        and validate.sounds_like_a_role(display_name)
        and validate.name_key(display_name) != validate.name_key(username)
    ):
        raise Invalid(f"the display name {display_name!r} reads as a site role; choose another")
    async with db.read() as conn:  # read, not under the write lock: it scans every name
        await _check_name_is_free(conn, username, display_name)
    if password_hash is None:
        password_hash = await hash_in_thread(checked, n)
    async with db.transaction() as conn:
        if await fetch_value(conn, "SELECT 1 FROM users WHERE username = ?", (username,)):
            raise Conflict(f"the username {username!r} is taken")
        if (
            welcome is not None
            and welcome.first_is_admin
            and not await fetch_value(conn, "SELECT 1 FROM users LIMIT 1")
        ):
            role = "admin"
        cur = await conn.execute(
            "INSERT INTO users (username, display_name, password_hash, role, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (username, display_name, password_hash, role, clock.now()),
        )
        assert cur.lastrowid is not None
        if welcome is not None:
            await subscribe_defaults(conn, cur.lastrowid, welcome.groups)
        user = User(cur.lastrowid, username, display_name, role)
        if then is not None:
            await then(conn, user)
        return user


async def _check_name_is_free(
    conn: Connection, username: str, display_name: str, *, user_id: int = 0
) -> None:
    """Conflict when `username` or `display_name` reads like another account's
    username or display name (validate.name_key: case, width, punctuation and
    lookalike letters aside): no one signs as someone else. `user_id` is the
    account's own id when it changes its display name (its own names do not count)."""
    keys = {validate.name_key(display_name): "display name"}
    if not user_id:
        keys[validate.name_key(username)] = "username"
    # Registrations are rate-limited and few; a scan of the names costs less than the hash.
    # (An indexed skeleton column would make this a lookup; the schema has none yet.)
    async with conn.execute(
        "SELECT id, username, display_name FROM users WHERE id != ?", (user_id,)
    ) as cursor:
        async for row in cursor:
            if row["username"] == username:
                continue  # the same name: create_user says it is taken
            for taken in (validate.name_key(row["username"]), validate.name_key(row["display_name"])):
                if taken in keys:
                    name = username if keys[taken] == "username" else display_name
                    raise Conflict(
                        f"the {keys[taken]} {name!r} is too close to another member's name; choose another"
                    )


async def authenticate(db: Database, username: object, password: object, *, n: int = SCRYPT_N) -> User | None:
    """The user whose password this is, or None. Takes as long for unknown
    names (a check against a hash of cost `n`, the site's)."""
    if (
        not isinstance(username, str)
        or not isinstance(password, str)
        or len(password) > validate.PASSWORD_MAX
    ):
        return None
    async with db.read() as conn:
        row = await fetch_one(conn, USER_SELECT + " WHERE username = ?", (username,))
    if row is None:
        await check_nothing(password, n)
        return None
    if not await _in_thread(check_password, password, row["password_hash"]):
        return None
    return User.from_row(row)


# A session's public name: the start of its stored hash, never the token.
SESSION_ID_LENGTH = 12
_SESSION_ID = re.compile(rf"[0-9a-f]{{{SESSION_ID_LENGTH}}}")


def _token_key(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


async def start_session(db: Database, user: User, *, days: int, replacing: str | None = None) -> str:
    """A new session token for `user`; the old session (if any) ends: ids rotate at sign-in."""
    token = secrets.token_urlsafe(32)
    expires = clock.later(days=days)
    async with db.transaction() as conn:
        if replacing:
            await conn.execute("DELETE FROM sessions WHERE id = ?", (_token_key(replacing),))
        await conn.execute(
            "DELETE FROM sessions WHERE user_id = ? AND expires_at < ?", (user.id, clock.now())
        )
        await conn.execute(
            "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (_token_key(token), user.id, clock.now(), expires),
        )
    return token


async def end_session(db: Database, token: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM sessions WHERE id = ?", (_token_key(token),))


async def session_user(db: Database, token: str) -> User | None:
    found = await session(db, token)
    return None if found is None else found[0]


async def session(db: Database, token: str) -> tuple[User, float] | None:
    """The user a live session belongs to and the seconds it has left, or None."""
    now = clock.now()
    async with db.read() as conn:
        row = await fetch_one(
            conn,
            f"SELECT {USER_COLUMNS}, sessions.expires_at AS session_expires FROM sessions"
            " JOIN users ON users.id = sessions.user_id WHERE sessions.id = ? AND sessions.expires_at > ?",
            (_token_key(token), now),
        )
    if row is None:
        return None
    left = (clock.parse(row["session_expires"]) - clock.parse(now)).total_seconds()
    return User.from_row(row), left


async def get_user(conn: Connection, username: str) -> User:
    row = await fetch_one(conn, USER_SELECT + " WHERE username = ?", (username,))
    if row is None:
        raise NotFound(f"no user {username!r}")
    return User.from_row(row)


async def current(conn: Connection, user: User) -> User | None:
    """`user`'s account as it stands now (its role, its suspension), for a
    channel that keeps a user between requests; None once it is deleted."""
    row = await fetch_one(conn, USER_SELECT + " WHERE id = ? AND password_hash != ?", (user.id, DELETED_HASH))
    return None if row is None else User.from_row(row)


async def set_role(conn: Connection, actor: User | None, username: str, role: str, reason: str = "") -> User:
    """Grant or revoke a role inside the caller's transaction; logged publicly.
    `actor` is None when the site operator does it from the command line."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    user = await get_user(conn, username)
    if user.role == role:
        return user
    await conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
    await modlog.write(
        conn,
        modlog.Entry(
            "role",
            actor,
            target=username,
            reason=reason,
            data={"username": username, "from": user.role, "to": role},
        ),
    )
    return replace(user, role=role)


async def get_secret(db: Database) -> str:
    """The cookie-signing key kept in the database, made on first use."""
    async with db.transaction() as conn:
        value = await fetch_value(conn, "SELECT value FROM settings WHERE key = 'secret_key'")
        if value is None:
            value = secrets.token_urlsafe(48)
            await conn.execute("INSERT INTO settings (key, value) VALUES ('secret_key', ?)", (value,))
    return value


# The password hash of a deleted account: it matches no password (check_password).
DELETED_HASH = "deleted"
FORMER_MEMBER = "former member"


async def set_display_name(db: Database, user: User, display_name: object) -> User:
    """A new display name; Invalid when it reads as a site role (for a member),
    Conflict when it reads like another account's name."""
    name = validate.display_name(display_name)
    if (
        user.role == "member"
        and validate.sounds_like_a_role(name)
        and validate.name_key(name) != validate.name_key(user.username)
    ):
        raise Invalid(f"the display name {name!r} reads as a site role; choose another")
    async with db.transaction() as conn:
        await _check_name_is_free(conn, user.username, name, user_id=user.id)
        await conn.execute("UPDATE users SET display_name = ? WHERE id = ?", (name, user.id))
    return replace(user, display_name=name)


async def check_nothing(password: str, n: int) -> None:
    """Take as long as checking `password` against a hash of cost `n` (off the
    event loop, within the cap), where there is none: so the timing does not tell."""
    await _in_thread(lambda: check_password(password, _dummy_hash(n)))


async def password_matches(password: str, stored: str) -> bool:
    """check_password off the event loop, within the process-wide cap."""
    return bool(await _in_thread(check_password, password, stored))


async def hash_in_thread(password: str, n: int = SCRYPT_N) -> str:
    """hash_password at cost `n`, off the event loop, within the process-wide cap."""
    return str(await _in_thread(lambda: hash_password(password, n=n)))


async def set_password(
    db: Database, user: User, password: object, *, keep_token: str | None = None, n: int = SCRYPT_N
) -> int:
    """A new password (hashed at cost `n`); every session but `keep_token`'s
    ends. Returns how many ended."""
    password = validate.password(password)
    digest = await hash_in_thread(password, n)
    async with db.transaction() as conn:
        await conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (digest, user.id))
        return await _end_sessions(conn, user.id, keep_token)


async def _end_sessions(conn: Connection, user_id: int, keep_token: str | None) -> int:
    keep = _token_key(keep_token) if keep_token else ""
    cur = await conn.execute("DELETE FROM sessions WHERE user_id = ? AND id != ?", (user_id, keep))
    return cur.rowcount


async def end_sessions(db: Database, user: User, *, keep_token: str | None = None) -> int:
    """Sign out everywhere (but `keep_token`'s session, if given)."""
    async with db.transaction() as conn:
        return await _end_sessions(conn, user.id, keep_token)


async def end_listed_session(db: Database, user: User, session_id: object, current_token: str | None) -> bool:
    """End one of `user`'s sessions, named by the public id list_sessions gives;
    True when it was the one `current_token` belongs to. NotFound when the user
    has no session of that id (another user's included: one answer for both)."""
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise NotFound("no such session")
    async with db.transaction() as conn:
        rows = await fetch_all(
            conn,
            "SELECT id FROM sessions WHERE user_id = ? AND substr(id, 1, ?) = ? LIMIT 2",
            (user.id, SESSION_ID_LENGTH, session_id),
        )
        if len(rows) != 1:  # none, or (48 bits) two alike: end neither
            raise NotFound("no such session")
        await conn.execute("DELETE FROM sessions WHERE id = ?", (rows[0]["id"],))
    return current_token is not None and rows[0]["id"] == _token_key(current_token)


async def list_sessions(db: Database, user: User, current_token: str | None) -> list[dict]:
    """The user's live sessions, newest first: `{id, created_at, expires_at, current}`;
    `id` is a short public name (the start of the stored hash, never the token)."""
    current = _token_key(current_token) if current_token else ""
    async with db.read() as conn:
        rows = await fetch_all(
            conn,
            "SELECT id, created_at, expires_at FROM sessions WHERE user_id = ?"
            " AND expires_at > ? ORDER BY created_at DESC LIMIT 200",
            (user.id, clock.now()),
        )
    return [
        {
            "id": r["id"][:SESSION_ID_LENGTH],
            "created_at": r["created_at"],
            "expires_at": r["expires_at"],
            "current": r["id"] == current,
        }
        for r in rows
    ]


async def delete_account(db: Database, user: User) -> None:
    """Close the account for good. Articles stay, as USENET keeps them, signed
    "former member" and tied to no account; the row stays (under a name no one
    can sign in with) only so the public log and proposals keep their shape;
    sessions, marks, follows, notifications and feed keys go. The last admin
    cannot leave (409)."""
    async with db.transaction() as conn:
        if (
            user.role == "admin"
            and await fetch_value(conn, "SELECT count(*) FROM users WHERE role = 'admin'") <= 1
        ):
            raise Conflict("the last admin cannot delete their account: make another admin first")
        # The author's name is in the full-text index: their live articles
        # leave it and come back under the new name.
        await indexing.unindex_author(conn, user.id)
        await conn.execute("UPDATE articles SET author_name = ? WHERE user_id = ?", (FORMER_MEMBER, user.id))
        await indexing.index_author(conn, user.id)
        ids = [r[0] for r in await fetch_all(conn, "SELECT id FROM articles WHERE user_id = ?", (user.id,))]
        await conn.execute("UPDATE articles SET user_id = NULL WHERE user_id = ?", (user.id,))
        # Their articles now read "former member": tell open pages and drop cached ones.

        for article_id in ids:
            article = await get_article(conn, article_id)
            await emit(
                conn, "article.updated", group=article["group"], thread_id=article["thread_id"], data=article
            )
        for table in (
            "sessions",
            "follows",
            "group_follows",
            "read_marks",
            "notifications",
            "feed_keys",
            "password_resets",
            "kill_rules",
        ):
            await conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user.id,))
        await conn.execute(
            "UPDATE users SET username = ?, display_name = ?, password_hash = ?, role = 'member'"
            " WHERE id = ?",
            (f"former-member-{user.id}", FORMER_MEMBER, DELETED_HASH, user.id),
        )
