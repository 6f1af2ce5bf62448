"""Password reset without mail: a one-time link an operator (`moot
reset-password NAME`) or an admin hands to the person.

The link's token is 32 random bytes and an HMAC of them under the site's
secret key (so a token this site did not issue is refused without a lookup);
only its SHA-256 is stored, beside an expiry an hour away. Using it sets a
new password, ends every session of the account and spends the token in the
same transaction, with every other link of the account; a link an operator
or admin issues spends the older ones.

A member who forgot their password asks for the link by mail
(`mail_link`): anyone may ask for any name, so asking never spends the
owner's chance to ask. At most one mail per MAIL_WINDOW per account is
queued, only to the account's confirmed, non-bouncing address, in the
transaction that stores the token; a later request neither refuses nor
spends the link already mailed (it is still in the owner's mailbox), and the
caller answers the same whatever the name, so nobody learns which accounts
exist."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiosqlite import Connection

from ..mail.mailqueue import queue_mail
from ..stewardship.permissions import User
from ..store import clock, validate
from ..store.db import Database, fetch_one, fetch_value
from ..store.errors import NotFound
from . import accounts

VALID_SECONDS = 3600
# Seconds during which an account is mailed at most one reset link.
MAIL_WINDOW = 600
PATH = "/reset/"
# What a request for a reset mail is told, whatever the name (no account enumeration).
MAILED = "sent if the account has a confirmed address"
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


async def issue(
    conn: Connection, secret: str, username: object, *, keep_earlier: bool = False
) -> tuple[User, str]:
    """A new reset token for the account (earlier unused ones stop working,
    unless `keep_earlier`: a mailed link stays good when another is asked for)."""
    row = await fetch_one(
        conn,
        "SELECT * FROM users WHERE username = ? AND password_hash != ?",
        (username if isinstance(username, str) else "", accounts.DELETED_HASH),
    )
    if row is None:
        raise NotFound(f"no user {username!r}")
    raw = secrets.token_urlsafe(32)
    token = f"{raw}.{_sign(secret, raw)}"
    if not keep_earlier:
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


async def redeem(db: Database, secret: str, token: object, password: object, *, n: int) -> User:
    """Set the new password (hashed at cost `n`) and spend the token, once: of
    two concurrent uses one wins."""
    user = await holder(db, secret, token)
    password = validate.password(password)
    digest = await accounts.hash_in_thread(password, n)
    async with db.transaction() as conn:
        cur = await conn.execute(
            "UPDATE password_resets SET used_at = ? WHERE token_hash = ?"
            " AND used_at IS NULL AND expires_at > ?",
            (clock.now(), _hash(str(token)), clock.now()),
        )
        if cur.rowcount != 1:
            raise NotFound(REFUSED)
        await replace_password(conn, user.id, digest)
    return user


async def replace_password(conn: Connection, user_id: int, digest: str) -> None:
    """Give the account the password hashed as `digest`, in the caller's
    transaction, as a way back in does (a reset link, a recovery code): every
    reset link still out is spent, for it was for the old password, and every
    session ends."""
    await conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (digest, user_id))
    await conn.execute(
        "UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL", (clock.now(), user_id)
    )
    await conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


async def mail_link(
    conn: Connection, secret: str, username: object, *, site_url: str, site_name: str
) -> bool:
    """Issue a reset token and queue a mail with its link (`SITE_URL/reset/TOKEN`,
    the link `moot reset-password` prints) to the account's confirmed,
    non-bouncing address, in the caller's transaction, unless one was queued
    within MAIL_WINDOW (whoever asked): the link it holds still works. Earlier
    links stay good. Returns whether a mail was queued; the caller must not
    tell anyone, and answers every request alike."""
    if not isinstance(username, str) or not username or len(username) > 64:
        return False
    email = await fetch_value(
        conn,
        "SELECT m.email FROM users u JOIN mail_addresses m ON m.user_id = u.id"
        " WHERE u.username = ? AND u.password_hash != ?"
        " AND m.confirmed_at IS NOT NULL AND m.bouncing_at IS NULL",
        (username, accounts.DELETED_HASH),
    )
    if email is None:
        return False
    if await fetch_value(
        conn,
        "SELECT 1 FROM password_resets r JOIN users u ON u.id = r.user_id"
        " WHERE u.username = ? AND r.created_at > ?",
        (username, clock.ago(seconds=MAIL_WINDOW)),
    ):
        return False
    user, token = await issue(conn, secret, username, keep_earlier=True)
    link = f"{site_url.rstrip('/')}{PATH}{token}"
    text = (
        f"Hello {user.display_name},\n\n"
        f"someone (we hope you) asked to reset the password of the account {user.username}"
        f" on {site_name}.\n"
        f"To choose a new password, open this link within {VALID_SECONDS // 60} minutes; it works once"
        " and signs out every session of the account:\n\n"
        f"{link}\n\n"
        "If it was not you, ignore this mail: your password stays as it is.\n"
    )
    await queue_mail(
        conn,
        "notice",
        str(email),
        user_id=user.id,
        data={"subject": f"Reset your password on {site_name}", "text": text},
        domain_for_id=str(email).rsplit("@", 1)[1],
    )
    return True
