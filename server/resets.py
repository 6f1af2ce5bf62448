"""Password reset without mail: a one-time link an operator (`moot
reset-password NAME`) or an admin hands to the person.

The link's token is 32 random bytes and an HMAC of them under the site's
secret key (so a token this site did not issue is refused without a lookup);
only its SHA-256 is stored, beside an expiry an hour away. Using it sets a
new password, ends every session of the account and spends the token in the
same transaction; issuing a new link spends the older ones."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiosqlite import Connection

from . import accounts, clock, validate
from .db import Database, fetch_one
from .errors import NotFound
from .permissions import User

VALID_SECONDS = 3600
PATH = "/reset/"
REFUSED = "this reset link is not valid: it expired, was used already, or was never issued"


def _sign(secret: str, raw: str) -> str:
    return hmac.new(secret.encode(), b"password-reset:" + raw.encode(), hashlib.sha256).hexdigest()[:32]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _well_formed(secret: str, token: object) -> str:
    if not isinstance(token, str) or len(token) > 120 or token.count(".") != 1:
        raise NotFound(REFUSED)
    raw, signature = token.split(".")
    if not hmac.compare_digest(signature, _sign(secret, raw)):
        raise NotFound(REFUSED)
    return token


async def issue(conn: Connection, secret: str, username: object) -> tuple[User, str]:
    """A new reset token for the account (earlier unused ones stop working)."""
    row = await fetch_one(
        conn,
        "SELECT * FROM users WHERE username = ? AND password_hash != ?",
        (username if isinstance(username, str) else "", accounts.DELETED_HASH),
    )
    if row is None:
        raise NotFound(f"no user {username!r}")
    raw = secrets.token_urlsafe(32)
    token = f"{raw}.{_sign(secret, raw)}"
    await conn.execute("DELETE FROM password_resets WHERE user_id = ?", (row["id"],))
    await conn.execute(
        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (_hash(token), row["id"], clock.now(), clock.later(seconds=VALID_SECONDS)),
    )
    return User.from_row(row), token


async def holder(db: Database, secret: str, token: object) -> User:
    """Whose account a still valid token opens (NotFound otherwise, the same for every reason)."""
    token = _well_formed(secret, token)
    async with db.read() as conn:
        row = await fetch_one(
            conn,
            "SELECT u.* FROM password_resets r JOIN users u ON u.id = r.user_id"
            " WHERE r.token_hash = ? AND r.used_at IS NULL AND r.expires_at > ?",
            (_hash(token), clock.now()),
        )
    if row is None:
        raise NotFound(REFUSED)
    return User.from_row(row)


async def redeem(db: Database, secret: str, token: object, password: object) -> User:
    """Set the new password and spend the token, once: of two concurrent uses one wins."""
    user = await holder(db, secret, token)
    password = validate.password(password)
    digest = await accounts.hash_in_thread(password)
    async with db.transaction() as conn:
        cur = await conn.execute(
            "UPDATE password_resets SET used_at = ? WHERE token_hash = ?"
            " AND used_at IS NULL AND expires_at > ?",
            (clock.now(), _hash(str(token)), clock.now()),
        )
        if cur.rowcount != 1:
            raise NotFound(REFUSED)
        await conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (digest, user.id))
        await conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
    return user
