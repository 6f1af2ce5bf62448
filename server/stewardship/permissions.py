"""Who may do what: the one place roles are checked.

Anonymous visitors read public groups. Members post, reply, cancel their own
articles, propose and endorse groups. Moderators maintain: split, merge,
move, lock, archive, undo, cancel anyone's article, set group policies.
Admins also create groups directly and grant or revoke roles."""

from __future__ import annotations

from dataclasses import dataclass
from sqlite3 import Row

from ..store.errors import AuthRequired, Forbidden

ROLES = ("member", "moderator", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

# action -> the least role that may do it
ACTIONS = {
    "post": "member",
    "propose": "member",
    "endorse": "member",
    "track": "member",  # keep read marks (any signed-in reader)
    "moderate": "moderator",
    "admin": "admin",
}


@dataclass(frozen=True)
class User:
    """An account of this site, or (with `node`) a moderator of a group's home
    node whose action is applied here: no account here, so `account_id` is None."""

    id: int
    username: str
    display_name: str
    role: str
    node: str | None = None

    @classmethod
    def of_node(cls, node: str, display_name: str) -> User:
        """The moderator who acted on `node`, named as that node's action article names them."""
        return cls(0, "", display_name, "moderator", node)

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
        return cls(row["id"], row["username"], row["display_name"], row["role"])


def can(user: User | None, action: str) -> bool:
    if user is None:
        return False
    return _RANK[user.role] >= _RANK[ACTIONS[action]]


def may_post_in(user: User | None, status: str) -> bool:
    """Whether `user` may post in a group of this status: `y` open to members,
    `m` moderated (moderators post), `n` read-only for everyone."""
    return status == "y" and can(user, "post") or status == "m" and can(user, "moderate")


def may_reply(user: User | None, status: str, state: str) -> bool:
    """Whether `user` may reply in a thread in `state` of a group of this
    `status` (posting's rule); for an anonymous reader, whether a member could
    after signing in, so the page still offers them the way in."""
    if state == "archived" or state == "locked" and not can(user, "moderate"):
        return False
    if user is None:
        return status == "y"
    return may_post_in(user, status)


def require(user: User | None, action: str) -> User:
    """Return the user if they may do `action`; else raise AuthRequired or Forbidden."""
    if user is None:
        raise AuthRequired("sign in first")
    if not can(user, action):
        raise Forbidden(f"this needs the {ACTIONS[action]} role")
    return user


def may_cancel(user: User | None, author_id: int | None) -> User:
    """Authors withdraw their own articles; moderators withdraw anyone's."""
    user = require(user, "post")
    if author_id != user.id and not can(user, "moderate"):
        raise Forbidden("only the author or a moderator may cancel an article")
    return user
