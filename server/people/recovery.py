"""Recovery codes: a way back into an account that needs neither mail nor
an administrator.

A set is COUNT codes of two groups of four characters (`K7QM-3XHD`), drawn
from 32 letters and digits with the easily confused ones left out (no 0, 1,
I, O), so 40 random bits each. They are shown once, when made: only the
SHA-256 of each (bound to its account, so two accounts' codes never meet) is
stored. Making a set replaces the account's earlier one, used codes and all.

Redeeming takes a username, a code and a new password: the code is spent,
the password set and every session of the account ended (reset links still
out are spent too), in one transaction. A wrong code and an unknown name get
the same answer after the same work (the new password is hashed either way),
so nobody learns which accounts exist. The caller (moot.people.sessions)
rate-limits the attempts."""

from __future__ import annotations

import hashlib
import secrets

from aiosqlite import Connection

from ..stewardship.permissions import User
from ..store import clock, validate
from ..store.db import Database, fetch_one, fetch_value
from ..store.errors import AuthRequired
from . import accounts, resets

COUNT = 10
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
GROUP = 4
# What every refused recovery is told, whatever was wrong.
REFUSED = "wrong username or recovery code"


def _normal(code: object) -> str | None:
    """The code as it is hashed (upper case, without spaces or dashes), or
    None when it cannot be one."""
    if not isinstance(code, str) or len(code) > 40:
        return None
    text = "".join(code.split()).replace("-", "").upper()
    if len(text) != 2 * GROUP or any(c not in ALPHABET for c in text):
        return None
    return text


def _hash(user_id: int, normal: str) -> str:
    return hashlib.sha256(f"moot-recovery:{user_id}:{normal}".encode()).hexdigest()


def _new_code() -> str:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(2 * GROUP))
    return f"{chars[:GROUP]}-{chars[GROUP:]}"


async def make(conn: Connection, user: User) -> list[str]:
    """A new set of COUNT codes for the account, in the caller's transaction;
    the earlier set stops working. The codes are returned to be shown once."""
    codes: list[str] = []
    while len(codes) < COUNT:
        code = _new_code()
        if code not in codes:
            codes.append(code)
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user.id,))
    now = clock.now()
    await conn.executemany(
        "INSERT INTO recovery_codes (code_hash, user_id, created_at) VALUES (?, ?, ?)",
        [(_hash(user.id, code.replace("-", "")), user.id, now) for code in codes],
    )
    return codes


async def remaining(conn: Connection, user_id: int) -> int:
    """How many of the account's codes are still unused."""
    return int(
        await fetch_value(
            conn,
            "SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
            (user_id,),
        )
        or 0
    )


async def redeem(db: Database, username: str, code: object, password: object, *, n: int) -> User:
    """Spend the code, set the new password (hashed at cost `n`) and end every
    session of the account; AuthRequired(REFUSED) for an unknown or deleted
    name, a wrong, malformed or used code alike, after hashing the password
    all the same. Of two concurrent uses of one code one wins."""
    password = validate.password(password)
    digest = await accounts.hash_in_thread(password, n)  # the same work whatever follows
    normal = _normal(code)
    async with db.read() as conn:
        row = await fetch_one(
            conn,
            "SELECT * FROM users WHERE username = ? AND password_hash != ?",
            (username, accounts.DELETED_HASH),
        )
        # An unknown name is looked up all the same: user id 0 holds no code.
        user_id = int(row["id"]) if row else 0
        code_hash = _hash(user_id, normal or "")
        found = await fetch_value(
            conn,
            "SELECT 1 FROM recovery_codes WHERE code_hash = ? AND user_id = ? AND used_at IS NULL",
            (code_hash, user_id),
        )
    if row is None or normal is None or not found:
        raise AuthRequired(REFUSED)
    user = User.from_row(row)
    async with db.transaction() as conn:
        cur = await conn.execute(
            "UPDATE recovery_codes SET used_at = ? WHERE code_hash = ? AND user_id = ? AND used_at IS NULL",
            (clock.now(), code_hash, user.id),
        )
        if cur.rowcount != 1:
            raise AuthRequired(REFUSED)
        await resets.replace_password(conn, user.id, digest)
    return user
