"""Groups by email, the members' side: account addresses and their
confirmation, per-group mail subscriptions, and the signed tokens mail
carries (confirmation links, one-click unsubscribe, reply and return-path
addresses), all signed with the site's secret. The outbox itself is
moot.mail.mailqueue. Every function that writes takes the caller's write
connection."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from sqlite3 import Row
from typing import Any

from aiosqlite import Connection
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from ..articles.groups import get_group_row
from ..stewardship.permissions import USER_COLUMNS, User
from ..store import clock
from ..store.db import fetch_one, fetch_value
from ..store.errors import Conflict, Invalid, NotFound
from .mailqueue import email_address, queue_mail

MODES = ("none", "each", "digest")
_SIG_LEN = 20
# Addresses of one article's replies and of one queued mail's return path (VERP).
_REPLY = re.compile(r"reply\+(\d{1,18})\.([0-9a-f]{20})\Z")
_BOUNCE = re.compile(r"bounces\+(\d{1,18})\.([0-9a-f]{20})\Z")


def mode_of(value: object) -> str:
    if value not in MODES:
        raise Invalid("mail must be one of none, each, digest")
    assert isinstance(value, str)
    return value


def group_address(name: str, list_domain: str) -> str:
    """A group's posting address: its name, dots kept, at the list domain."""
    return f"{name}@{list_domain}"


def _sign(secret: str, purpose: str, value: int) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{purpose}:{value}".encode("ascii"), hashlib.sha256)
    return mac.hexdigest()[:_SIG_LEN]


def reply_address(secret: str, article_id: int, list_domain: str) -> str:
    """The signed address whose mail replies to one article, whatever its headers say."""
    return f"reply+{article_id}.{_sign(secret, 'reply', article_id)}@{list_domain}"


def return_path(secret: str, queue_id: int, list_domain: str) -> str:
    """The VERP envelope sender of one queued mail: a bounce names the mail it is about."""
    return f"bounces+{queue_id}.{_sign(secret, 'bounce', queue_id)}@{list_domain}"


def _signed_local(pattern: re.Pattern, purpose: str, secret: str, local: str) -> int | None:
    m = pattern.match(local)
    if m is None or not hmac.compare_digest(m[2], _sign(secret, purpose, int(m[1]))):
        return None
    return int(m[1])


def reply_target(secret: str, local: str) -> int | None:
    """The article a reply address's local part names, if its signature holds."""
    return _signed_local(_REPLY, "reply", secret, local)


def bounce_target(secret: str, local: str) -> int | None:
    """The queued mail a return-path local part names, if its signature holds."""
    return _signed_local(_BOUNCE, "bounce", secret, local)


async def reply_key_generation(conn: Connection, user_id: int) -> int:
    """The generation a member's personal reply keys are made for (server/mail/identity.py)."""
    return int(
        await fetch_value(conn, "SELECT reply_key_generation FROM users WHERE id = ?", (user_id,)) or 0
    )


async def revoke_reply_keys(conn: Connection, user: User) -> None:
    """Revoke every personal reply address the member's list mail carried so
    far: their replies to them then show nothing; new list mail has new ones."""
    await conn.execute(
        "UPDATE users SET reply_key_generation = reply_key_generation + 1 WHERE id = ?", (user.id,)
    )


def _unsubscribe_serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="moot-unsubscribe")


def unsubscribe_token(secret: str, user_id: int, group_id: int) -> str:
    """RFC 8058 one-click token: it keeps working (no expiry), and only unsubscribes."""
    return _unsubscribe_serializer(secret).dumps([user_id, group_id])


def thread_mail_token(secret: str, user_id: int, thread_id: int) -> str:
    """The one-click token that stops a thread's mail (the follow stays)."""
    return _unsubscribe_serializer(secret).dumps(["thread", user_id, thread_id])


def notification_mail_token(secret: str, user_id: int) -> str:
    """The one-click token that turns notification mail off."""
    return _unsubscribe_serializer(secret).dumps(["notifications", user_id])


def _confirm_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="moot-mail-confirm")


# Addresses


async def address_json(conn: Connection, user_id: int) -> dict[str, Any] | None:
    """What `GET /api/me` shows of the user's own address (never anyone else's)."""
    row = await fetch_one(conn, "SELECT * FROM mail_addresses WHERE user_id = ?", (user_id,))
    if row is None:
        return None
    return {
        "address": row["email"],
        "confirmed": row["confirmed_at"] is not None,
        "bouncing": row["bouncing_at"] is not None,
    }


async def set_email(conn: Connection, secret: str, user: User, value: object) -> dict[str, Any]:
    """Set (or change) the user's address, unconfirmed, and queue the mail with
    its confirmation link. An empty value removes the address."""
    if value in (None, ""):
        await conn.execute("DELETE FROM mail_addresses WHERE user_id = ?", (user.id,))
        return {"address": None, "confirmed": False, "bouncing": False}
    email = email_address(value)
    taken = await fetch_value(
        conn,
        "SELECT user_id FROM mail_addresses WHERE email = ? COLLATE NOCASE AND confirmed_at IS NOT NULL",
        (email,),
    )
    if taken is not None and taken != user.id:
        raise Conflict("that address is confirmed on another account")
    nonce = secrets.token_urlsafe(12)
    now = clock.now()
    await conn.execute(
        "INSERT INTO mail_addresses (user_id, email, confirmed_at, nonce, created_at) VALUES (?, ?, NULL, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, confirmed_at = NULL,"
        " nonce = excluded.nonce, bounces = 0, bouncing_at = NULL, created_at = excluded.created_at",
        (user.id, email, nonce, now),
    )
    token = _confirm_serializer(secret).dumps({"u": user.id, "n": nonce})
    await queue_mail(
        conn,
        "confirm",
        email,
        user_id=user.id,
        data={"token": token, "name": user.display_name},
        domain_for_id=email.rsplit("@", 1)[1],
    )
    return {"address": email, "confirmed": False, "bouncing": False}


async def confirm_email(conn: Connection, secret: str, token: object, max_age_hours: int) -> str:
    """Confirm the address a link was mailed to; the link works once, within its age.
    Returns the address."""
    if not isinstance(token, str) or len(token) > 500:
        raise Invalid("this confirmation link is not valid")
    try:
        data = _confirm_serializer(secret).loads(token, max_age=max_age_hours * 3600)
    except SignatureExpired:
        raise Invalid("this confirmation link has expired; set your address again for a new one") from None
    except BadSignature:
        raise Invalid("this confirmation link is not valid") from None
    row = await fetch_one(conn, "SELECT * FROM mail_addresses WHERE user_id = ?", (data.get("u"),))
    if row is None or row["nonce"] is None or not hmac.compare_digest(row["nonce"], str(data.get("n"))):
        raise Invalid("this confirmation link was already used or replaced by a newer one")
    taken = await fetch_value(
        conn,
        "SELECT user_id FROM mail_addresses WHERE email = ? COLLATE NOCASE"
        " AND confirmed_at IS NOT NULL AND user_id != ?",
        (row["email"], row["user_id"]),
    )
    if taken is not None:
        raise Conflict("that address is confirmed on another account")
    await conn.execute(
        "UPDATE mail_addresses SET confirmed_at = ?, nonce = NULL WHERE user_id = ?",
        (clock.now(), row["user_id"]),
    )
    return str(row["email"])


async def member_by_address(conn: Connection, email: str) -> Row | None:
    """The account whose confirmed address this is (case aside), or None."""
    return await fetch_one(
        conn,
        f"SELECT {USER_COLUMNS} FROM mail_addresses m JOIN users ON users.id = m.user_id"
        " WHERE m.email = ? COLLATE NOCASE AND m.confirmed_at IS NOT NULL",
        (email,),
    )


# Subscriptions


async def get_subscription(conn: Connection, user: User, group_name: object) -> dict[str, str]:
    group = await get_group_row(conn, group_name)
    mode = await fetch_value(
        conn, "SELECT mode FROM mail_subscriptions WHERE group_id = ? AND user_id = ?", (group["id"], user.id)
    )
    return {"group": group["name"], "mail": mode or "none"}


async def set_subscription(conn: Connection, user: User, group_name: object, mode: object) -> dict[str, str]:
    """Set how the user gets a group by mail. A digest starts from the group's
    current last article, so the first one holds only what comes next."""
    group = await get_group_row(conn, group_name)
    mode = mode_of(mode)
    if mode == "none":
        await conn.execute(
            "DELETE FROM mail_subscriptions WHERE group_id = ? AND user_id = ?", (group["id"], user.id)
        )
    else:
        await conn.execute(
            "INSERT INTO mail_subscriptions (group_id, user_id, mode, digest_number) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET mode = excluded.mode,"
            " digest_number = CASE WHEN mode = excluded.mode THEN digest_number ELSE excluded.digest_number END",
            (group["id"], user.id, mode, group["last_number"]),
        )
    return {"group": group["name"], "mail": mode}


async def unsubscribe(conn: Connection, secret: str, token: object) -> dict[str, str]:
    """One-click unsubscribe (RFC 8058 §3.2): the signed token names the user
    and what to stop: a group's mail, a thread's mail, or notification mail.
    Returns `{stopped}`, what it was (a group's name, a thread, notifications)."""
    if not isinstance(token, str) or len(token) > 200:
        raise Invalid("this unsubscribe link is not valid")
    try:
        data = _unsubscribe_serializer(secret).loads(token)
    except BadSignature:
        raise Invalid("this unsubscribe link is not valid") from None
    match data:
        case [int(user_id), int(group_id)]:
            name = await fetch_value(conn, "SELECT name FROM groups WHERE id = ?", (group_id,))
            if name is None:
                raise NotFound("that group no longer exists")
            await conn.execute(
                "DELETE FROM mail_subscriptions WHERE group_id = ? AND user_id = ?", (group_id, user_id)
            )
            return {"stopped": str(name)}
        case ["thread", int(user_id), int(thread_id)]:
            subject = await fetch_value(conn, "SELECT subject FROM threads WHERE id = ?", (thread_id,))
            if subject is None:
                raise NotFound("that thread no longer exists")
            await conn.execute(
                "UPDATE follows SET mail = 0 WHERE user_id = ? AND thread_id = ?", (user_id, thread_id)
            )
            return {"stopped": f"the thread \u201c{subject}\u201d"}
        case ["notifications", int(user_id)]:
            await conn.execute("DELETE FROM notification_mail WHERE user_id = ?", (user_id,))
            return {"stopped": "your notifications"}
    raise Invalid("this unsubscribe link is not valid")
