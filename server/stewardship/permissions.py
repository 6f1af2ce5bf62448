"""Who may do what: the one place roles are checked.

Anonymous visitors read public groups. Members post, reply, cancel their own
articles, report articles, propose and endorse groups. Moderators maintain: split, merge,
move, lock, archive, undo, cancel anyone's article, set group policies.
Admins also create groups directly, grant or revoke roles, and suspend
accounts. A group's own moderators (table group_moderators, appointed by an
admin or by a carried proposal) moderate that group alone: `moderates` is the
one check of "moderator of this group", and `require_moderator` its guard. A suspended account (server/stewardship/suspensions.py) keeps its
role and reads as before, but until its suspension ends it may do none of
SUSPENDED_MAY_NOT: `require` refuses them with Suspended (403), saying why and
until when, whichever channel asks."""

from __future__ import annotations

from dataclasses import dataclass
from sqlite3 import Row

from ..store import clock
from ..store.errors import AuthRequired, Forbidden, Suspended

ROLES = ("member", "moderator", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

# action -> the least role that may do it
ACTIONS = {
    "post": "member",  # post, reply, edit
    "withdraw": "member",  # cancel one's own articles (a moderator: anyone's)
    "propose": "member",
    "endorse": "member",
    "report": "member",
    "track": "member",  # keep read marks (any signed-in reader)
    "moderate": "moderator",
    "admin": "admin",
}
# What a suspension bars: everything that adds words to the site. Reading,
# read marks and withdrawing one's own articles stay open.
SUSPENDED_MAY_NOT = frozenset({"post", "propose", "endorse", "report"})


@dataclass(frozen=True)
class User:
    """An account of this site, or (with `node`) a moderator of a group's home
    node whose action is applied here: no account here, so `account_id` is None.
    `suspended_until` and `suspension_reason` are the account's suspension as
    it was read (in force only while `suspended_until` is in the future);
    `created_at`, `posts`, `strike_at` and `trust_frozen_at` are what its
    trust level is derived from (server/stewardship/trust.py). `groups` names
    the groups it moderates as one of their own moderators (read with the
    account: USER_SELECT; the session cache watches group_moderators)."""

    id: int
    username: str
    display_name: str
    role: str
    node: str | None = None
    suspended_until: str | None = None
    suspension_reason: str = ""
    created_at: str = ""
    posts: int = 0
    strike_at: str | None = None
    trust_frozen_at: str | None = None
    groups: frozenset[str] = frozenset()

    @classmethod
    def of_node(cls, node: str, display_name: str) -> User:
        """The moderator who acted on `node`, named as that node's action article names them."""
        return cls(0, "", display_name, "moderator", node)

    @property
    def suspended(self) -> bool:
        """Whether a suspension is in force now: it ends by itself at `suspended_until`."""
        return self.suspended_until is not None and clock.now() < self.suspended_until

    @property
    def account_id(self) -> int | None:
        """The users row of this account; None for a moderator of another node."""
        return None if self.node else self.id

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
        }

    @classmethod
    def from_row(cls, row: Row) -> User:
        """The user a `users` row (all its columns) describes, with the groups
        it moderates when the row has `moderated` (USER_SELECT)."""
        moderated = row["moderated"] if "moderated" in row.keys() else None  # noqa: SIM118 (`in` a Row: its values)
        return cls(
            row["id"],
            row["username"],
            row["display_name"],
            row["role"],
            suspended_until=row["suspended_until"],
            suspension_reason=row["suspension_reason"],
            created_at=row["created_at"],
            posts=row["posts"],
            strike_at=row["strike_at"],
            trust_frozen_at=row["trust_frozen_at"],
            groups=frozenset((moderated or "").split()),
        )


# A users row with the names of the groups the account moderates (`moderated`,
# space-separated: group names hold no spaces), for User.from_row.
USER_COLUMNS = (
    "users.*, (SELECT group_concat(g.name, ' ') FROM group_moderators gm"
    " JOIN groups g ON g.id = gm.group_id WHERE gm.user_id = users.id) AS moderated"
)
USER_SELECT = f"SELECT {USER_COLUMNS} FROM users"


def can(user: User | None, action: str) -> bool:
    if user is None or action in SUSPENDED_MAY_NOT and user.suspended:
        return False
    return _RANK[user.role] >= _RANK[ACTIONS[action]]


def moderates(user: User | None, group: str | None) -> bool:
    """Whether `user` is one of the moderators of the group named `group`:
    every moderator and admin of the site moderates every group, and a group's
    own moderators theirs. `group` None is a matter of no one group: site
    moderators only."""
    return can(user, "moderate") or user is not None and group is not None and group in user.groups


def require_moderator(user: User | None, *groups: str | None) -> User:
    """Return the user if they moderate every one of `groups` (a move or a
    split between groups needs both sides); else AuthRequired (no one signed
    in) or Forbidden naming the first group they do not moderate."""
    if user is None:
        raise AuthRequired("sign in first")
    for group in groups:
        if not moderates(user, group):
            raise Forbidden(
                f"only the moderators of {group} may do this" if group else "this needs the moderator role"
            )
    return user


def may_post_in(user: User | None, status: str) -> bool:
    """Whether `user` may post in a group of this status: `y` open to members,
    `m` moderated (members submit, and their articles wait for a moderator's
    approval; moderators' own appear at once), `n` read-only for everyone."""
    return status in ("y", "m") and can(user, "post")


def may_reply(user: User | None, status: str, state: str, group: str) -> bool:
    """Whether `user` may reply in a thread in `state` of the group `group` of
    this `status` (posting's rule); for an anonymous reader, whether a member
    could after signing in, so the page still offers them the way in."""
    if state == "archived" or state == "locked" and not moderates(user, group):
        return False
    if user is None:
        return status in ("y", "m")
    return may_post_in(user, status)


def require(user: User | None, action: str) -> User:
    """Return the user if they may do `action`; else raise AuthRequired or Forbidden."""
    if user is None:
        raise AuthRequired("sign in first")
    if action in SUSPENDED_MAY_NOT and user.suspended:
        assert user.suspended_until is not None  # suspended says so
        raise Suspended(
            f"your account is suspended until {shown_time(user.suspended_until)}: {user.suspension_reason}",
            until=user.suspended_until,
            reason=user.suspension_reason,
        )
    if not can(user, action):
        raise Forbidden(f"this needs the {ACTIONS[action]} role")
    return user


def shown_time(stamp: str) -> str:
    """A stored time as a message shows it: '2026-11-21 10:00 UTC'."""
    return f"{stamp[:10]} {stamp[11:16]} UTC"


def may_cancel(user: User | None, author_id: int | None, group: str) -> User:
    """Authors withdraw their own articles (a suspended one too); the
    moderators of the article's group `group` withdraw anyone's."""
    user = require(user, "withdraw")
    if author_id != user.id and not moderates(user, group):
        raise Forbidden("only the author or a moderator may withdraw an article")
    return user
