"""Registration that can be closed: the site's registration mode, applications
to join, invitation codes, the per-address sign-up limit and the rule that a
new account confirms its mail address before it posts.

The mode is a site setting (`settings` row 'registration.mode'), changed by
an admin and logged publicly:

- **open**: anyone registers (accounts.create_user);
- **approval**: the form asks the site's question ('registration.question');
  what the applicant gives is kept in `applications` until an admin or a
  moderator accepts it (the account is then made as registration would make
  it) or refuses it (nothing else changes). Until then the applicant cannot
  sign in and is told why (`check_application`);
- **invite**: registration needs an invitation code an admin or moderator
  made: single use, expiring, kept only as its SHA-256;
- **closed**: registration is refused (RegistrationClosed, 403).

Sign-ups are counted per client address (an IPv4 address, or an IPv6 /64)
in `signups`, so the limit holds across restarts (`SignupLimit`)."""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from aiosqlite import Connection

from ..runtime.doors import client_key
from ..stewardship import modlog
from ..stewardship.permissions import User, require
from ..store import clock, validate
from ..store.db import Database, fetch_all, fetch_one, fetch_value, row_by_id
from ..store.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotAccepted,
    RateLimited,
    RegistrationClosed,
    Unconfirmed,
)
from . import accounts

MODES = ("open", "approval", "invite", "closed")
QUESTION_MAX = 500
ANSWER_MAX = 2000
INVITE_DAYS_MAX = 90
INVITE_NOTE_MAX = 200
_CODE_MAX = 100
_MODE_KEY, _QUESTION_KEY = "registration.mode", "registration.question"
CLOSED_MESSAGE = "registration is closed on this site"


async def _setting(conn: Connection, key: str, default: str) -> str:
    value = await fetch_value(conn, "SELECT value FROM settings WHERE key = ?", (key,))
    return default if value is None else str(value)


async def _put_setting(conn: Connection, key: str, value: str) -> None:
    await conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


async def get_settings(conn: Connection) -> dict[str, str]:
    """`{mode, question}`: how this site registers people (open when never set)."""
    return {
        "mode": await _setting(conn, _MODE_KEY, "open"),
        "question": await _setting(conn, _QUESTION_KEY, ""),
    }


async def set_settings(
    conn: Connection, actor: User | None, mode: object, question: object = None, reason: object = None
) -> dict[str, str]:
    """Set the registration mode (one of MODES) and, when given, the question
    applicants answer; admins only (Forbidden otherwise), Invalid for a bad
    mode or question, and nothing changes. A change is logged publicly
    (action 'registration', data {from, to, question})."""
    require(actor, "admin")
    if mode not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}")
    reason = validate.reason(reason, required=False)
    before = await get_settings(conn)
    if question is None:
        question = before["question"]
    elif (
        not isinstance(question, str) or len(question) > QUESTION_MAX or validate.has_lone_surrogate(question)
    ):
        raise Invalid(f"the question must be text of at most {QUESTION_MAX} characters")
    after = {"mode": str(mode), "question": question.strip()}
    if after == before:
        return after
    if after["mode"] == "approval" and not after["question"]:
        raise Invalid("approval needs a question for applicants to answer")
    await _put_setting(conn, _MODE_KEY, after["mode"])
    await _put_setting(conn, _QUESTION_KEY, after["question"])
    data = {"from": before["mode"], "to": after["mode"], "question": after["question"]}
    await modlog.write(
        conn, modlog.Entry("registration", actor, target=after["mode"], reason=reason, data=data)
    )
    return after


# The per-address limit


class SignupLimit:
    """At most `rate` sign-ups an hour from one address, of which a quarter
    (at least one) may come at once: `burst` in any window of burst/rate
    hours. Counted in the `signups` table, so a restart forgets nothing."""

    def __init__(self, db: Database, rate: float):
        self.db = db
        self.burst = max(1, int(rate) // 4)
        self.window = self.burst * 3600 / rate if rate > 0 else 0.0
        self.refused = 0  # sign-ups refused since start (a metric)

    async def reserve(self, address: str) -> int | None:
        """Count a sign-up from `address` now, before the slow work, or raise
        RateLimited and count nothing; `release` takes back one that did not
        happen. Old rows are swept as it goes. None when there is no limit."""
        if self.window <= 0:
            return None
        key, now, since = client_key(address), clock.now(), clock.ago(seconds=self.window)
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM signups WHERE created_at <= ?", (since,))
            rows = await fetch_all(
                conn,
                "SELECT created_at FROM signups WHERE address = ? ORDER BY created_at LIMIT ?",
                (key, self.burst),
            )
            if len(rows) >= self.burst:
                self.refused += 1
                free_at = clock.parse(rows[0]["created_at"]) + timedelta(seconds=self.window)
                wait = max(1, math.ceil((free_at - clock.parse(now)).total_seconds()))
                raise RateLimited(f"registering too fast; try again in {wait} s", retry_after=wait)
            cur = await conn.execute("INSERT INTO signups (address, created_at) VALUES (?, ?)", (key, now))
            return cur.lastrowid

    async def release(self, reservation: int | None) -> None:
        if reservation is not None:
            async with self.db.transaction() as conn:
                await conn.execute("DELETE FROM signups WHERE rowid = ?", (reservation,))


# Signing up in each mode


@dataclass(frozen=True)
class Form:
    """What a person signing up gives: the account's name, password and shown
    name, the answer to the site's question (approval), the code (invite)."""

    username: object
    password: object
    display_name: object = None
    answer: object = None
    invite: object = None


def _answer(value: object) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > ANSWER_MAX or validate.has_lone_surrogate(value):
        raise Invalid(f"the answer must be text of at most {ANSWER_MAX} characters")
    if not value.strip():
        raise Invalid("answer the site's question: a moderator reads it before accepting you")
    return value.strip()


def _code_hash(code: object) -> str:
    if not isinstance(code, str) or not code.strip() or len(code) > _CODE_MAX:
        raise Invalid("registration here needs an invitation code")
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


async def admissible(conn: Connection, form: Form) -> str:
    """The site's mode, once `form` passed the checks that need no password
    hash (so nothing is counted or hashed for them): RegistrationClosed
    (403) when closed, Invalid (400) for a bad field, Forbidden (403) for an
    invitation code unknown, used or expired."""
    settings = await get_settings(conn)
    if settings["mode"] == "closed":
        raise RegistrationClosed(CLOSED_MESSAGE)
    validate.username(form.username)
    validate.password(form.password)
    if form.display_name not in (None, ""):
        validate.display_name(form.display_name)
    if settings["mode"] == "approval":
        _answer(form.answer)
    elif settings["mode"] == "invite" and not await fetch_value(
        conn, _INVITE_FREE, (_code_hash(form.invite), clock.now())
    ):
        raise Forbidden(_INVITE_REFUSED)
    return settings["mode"]


_INVITE_FREE = "SELECT 1 FROM invites WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?"
_INVITE_REFUSED = "this invitation code is not valid: unknown, already used or expired"


def use_invite(code: object) -> Callable[[Connection, User], Awaitable[None]]:
    """The step, run in the new account's transaction, that spends the
    invitation `code`; a code unknown, used or expired undoes the account (403)."""
    code_hash = _code_hash(code)

    async def spend(conn: Connection, user: User) -> None:
        now = clock.now()
        cur = await conn.execute(
            "UPDATE invites SET used_by = ?, used_at = ? WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
            (user.id, now, code_hash, now),
        )
        if cur.rowcount != 1:
            raise Forbidden(_INVITE_REFUSED)

    return spend


async def apply(db: Database, form: Form, *, n: int) -> dict[str, Any]:
    """Keep an application to join (approval mode) with the answer given and
    the password's hash (at cost `n`); returns it (application_json). Invalid for bad
    input, Conflict when the name is taken or already waits for a decision
    (both known before the password is hashed). The names are checked in
    full again when it is accepted."""
    username = validate.username(form.username)
    password = validate.password(form.password)
    display_name = validate.display_name(
        form.display_name if form.display_name not in (None, "") else username
    )
    answer = _answer(form.answer)
    taken = (
        "SELECT 1 FROM users WHERE username = ?"
        " UNION ALL SELECT 1 FROM applications WHERE username = ? AND state = 'waiting'"
    )
    async with db.read() as conn:
        if await fetch_value(conn, taken, (username, username)):
            raise Conflict(f"the username {username!r} is taken or waits for a decision")
    password_hash = await accounts.hash_in_thread(password, n)
    async with db.transaction() as conn:
        if await fetch_value(conn, taken, (username, username)):
            raise Conflict(f"the username {username!r} is taken or waits for a decision")
        cur = await conn.execute(
            "INSERT INTO applications (username, display_name, password_hash, answer, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING *",
            (username, display_name, password_hash, answer, clock.now()),
        )
        row = await cur.fetchone()
    return application_json(row, None, None)


_APPLICATION_SELECT = (
    "SELECT a.*, d.username AS decided_by_name, u.username AS user_name FROM applications a"
    " LEFT JOIN users d ON d.id = a.decided_by LEFT JOIN users u ON u.id = a.user_id"
)


def application_json(row: Any, decided_by: str | None, user: str | None) -> dict[str, Any]:
    """An application as moderators see it (never its password hash)."""
    return {
        "id": row["id"],
        "username": row["username"],
        "display_name": row["display_name"],
        "answer": row["answer"],
        "state": row["state"],
        "reason": row["reason"],
        "created_at": row["created_at"],
        "decided_at": row["decided_at"],
        "decided_by": decided_by,
        "user": user,
    }


def _json(row: Any) -> dict[str, Any]:
    return application_json(row, row["decided_by_name"], row["user_name"])


async def list_applications(conn: Connection, actor: User | None, state: object = "waiting") -> list[dict]:
    """Applications in `state` (waiting: oldest first; decided: newest first,
    at most 100); moderators and admins only."""
    require(actor, "moderate")
    if state not in ("waiting", "accepted", "refused"):
        raise Invalid("state must be waiting, accepted or refused")
    order = "ASC" if state == "waiting" else "DESC"
    rows = await fetch_all(
        conn, _APPLICATION_SELECT + f" WHERE a.state = ? ORDER BY a.id {order} LIMIT 100", (state,)
    )
    return [_json(r) for r in rows]


async def _waiting(conn: Connection, application_id: object) -> Any:
    row = await row_by_id(conn, _APPLICATION_SELECT + " WHERE a.id = ?", application_id, "application")
    if row["state"] != "waiting":
        raise Conflict(f"this application was already {row['state']}")
    return row


async def accept(db: Database, actor: User | None, application_id: object, welcome: accounts.Welcome) -> dict:
    """Accept a waiting application (moderators and admins): the account is
    made as registration makes it (accounts.create_user, welcomed as
    `welcome` says), in the transaction that marks the application accepted.
    NotFound, Conflict (decided already, or the name was taken since) and
    the name checks' errors change nothing. Returns the application."""
    actor = require(actor, "moderate")
    async with db.read() as conn:
        row = await _waiting(conn, application_id)

    async def decide(conn: Connection, user: User) -> None:
        cur = await conn.execute(
            "UPDATE applications SET state = 'accepted', decided_at = ?, decided_by = ?, user_id = ?"
            " WHERE id = ? AND state = 'waiting'",
            (clock.now(), actor.id, user.id, row["id"]),
        )
        if cur.rowcount != 1:
            raise Conflict("this application was already decided")

    await accounts.create_user(
        db,
        row["username"],
        None,
        row["display_name"],
        password_hash=row["password_hash"],
        welcome=welcome,
        then=decide,
    )
    async with db.read() as conn:
        return _json(await fetch_one(conn, _APPLICATION_SELECT + " WHERE a.id = ?", (row["id"],)))


async def refuse(conn: Connection, actor: User | None, application_id: object, reason: object) -> dict:
    """Refuse a waiting application, saying why (required; the applicant is
    told it when they try to sign in); moderators and admins. Nothing else changes."""
    actor = require(actor, "moderate")
    why = validate.reason(reason, required=True)
    row = await _waiting(conn, application_id)
    await conn.execute(
        "UPDATE applications SET state = 'refused', reason = ?, decided_at = ?, decided_by = ? WHERE id = ?",
        (why, clock.now(), actor.id, row["id"]),
    )
    return _json(await fetch_one(conn, _APPLICATION_SELECT + " WHERE a.id = ?", (row["id"],)))


async def check_application(db: Database, username: str, password: str, *, n: int) -> None:
    """At a failed sign-in: NotAccepted (401), saying so, when `username` and
    `password` are those of an application not accepted (waiting, or refused
    and why); nothing otherwise. Only the applicant's password learns it, and
    it takes as long without an application (a check against a hash of cost
    `n`, the site's), so the timing does not tell who applied."""
    async with db.read() as conn:
        row = await fetch_one(
            conn,
            "SELECT state, reason, password_hash FROM applications WHERE username = ? AND state != 'accepted'"
            " ORDER BY id DESC LIMIT 1",
            (username,),
        )
    if row is None:
        return await accounts.check_nothing(password, n)
    if not await accounts.password_matches(password, row["password_hash"]):
        return
    if row["state"] == "waiting":
        raise NotAccepted("your application to join waits for a moderator's decision", state="waiting")
    raise NotAccepted(f"your application to join was refused: {row['reason']}", state="refused")


# Invitations


async def create_invite(conn: Connection, actor: User | None, days: object = 7, note: object = None) -> dict:
    """A new invitation code (moderators and admins), valid once for `days`
    (1 to INVITE_DAYS_MAX); only its hash is kept, so the code is shown here
    and never again: `{code, note, expires_at}`."""
    actor = require(actor, "moderate")
    days = validate.integer(days, "days", minimum=1, maximum=INVITE_DAYS_MAX)
    note = validate.line(note if note is not None else "", "note", max_len=INVITE_NOTE_MAX, min_len=0)
    code = secrets.token_urlsafe(12)
    expires = clock.later(days=days)
    await conn.execute(
        "INSERT INTO invites (code_hash, created_by, note, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (_code_hash(code), actor.id, note, clock.now(), expires),
    )
    return {"code": code, "note": note, "expires_at": expires}


async def list_invites(conn: Connection, actor: User | None) -> list[dict]:
    """The latest 100 invitations, newest first, without their codes; moderators and admins."""
    require(actor, "moderate")
    rows = await fetch_all(
        conn,
        "SELECT i.note, i.created_at, i.expires_at, i.used_at, c.username AS created_by, u.username AS used_by"
        " FROM invites i LEFT JOIN users c ON c.id = i.created_by LEFT JOIN users u ON u.id = i.used_by"
        " ORDER BY i.created_at DESC LIMIT 100",
    )
    return [dict(r) for r in rows]


# Mail confirmation before posting


T = TypeVar("T")


def confirmed_first(
    user: User, action: Callable[[Connection], Coroutine[Any, Any, T]]
) -> Callable[[Connection], Coroutine[Any, Any, T]]:
    """`action` (a post's write) preceded, in its transaction, by check_confirmed."""

    async def checked(conn: Connection) -> T:
        await check_confirmed(conn, user)
        return await action(conn)

    return checked


async def check_confirmed(conn: Connection, user: User) -> None:
    """Unconfirmed (403) unless `user` has a confirmed mail address."""
    if not await fetch_value(
        conn, "SELECT 1 FROM mail_addresses WHERE user_id = ? AND confirmed_at IS NOT NULL", (user.id,)
    ):
        raise Unconfirmed(
            "confirm your mail address before posting: set it on your account page and follow the link mailed to it"
        )
