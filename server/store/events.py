"""The events outbox: every change a live client could care about is written
here inside the change's own transaction, so an event exists exactly when its
change committed, and id order is commit order.

EVENTS is the registry: each event type with the TypedDict of its `data`.
emit() refuses a type that is not in it; a test checks that what the code
emits matches these shapes and that docs/API.md lists exactly these types."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from sqlite3 import Row
from typing import Any, TypedDict

from aiosqlite import Connection

from . import clock
from .shapes import Article, Group, Thread


class ThreadStarted(TypedDict):
    thread: Thread
    article: Article


class GroupChanged(TypedDict):
    group: Group
    entry_id: int


class GroupImported(TypedDict):
    group: Group
    articles: int
    threads: int
    joined_threads: list[int]


class ThreadChanged(TypedDict):
    thread: Thread
    entry_id: int


class ThreadRestructured(TypedDict):
    """A split or merge (or its undo): articles left `source` for `thread`."""

    thread: Thread
    source: Thread
    article_ids: list[int]
    root_article_id: int
    parent_id: int | None
    depth_shift: int
    notice: Article | None
    removed_article_ids: list[int]
    groups: list[Group]
    numbers: list[int] | None
    entry_id: int
    undo_of: int | None


class ThreadMoved(TypedDict):
    thread: Thread
    from_group: str
    article_ids: list[int]
    numbers: list[int]
    groups: list[Group]
    entry_id: int


class ThreadUnread(TypedDict):
    id: int
    unread: int


class ReadChanged(TypedDict):
    """A reader's marks in one group changed: sent to that reader only."""

    group: str
    read: str
    unread: int
    threads: list[ThreadUnread]


class NotificationCreated(TypedDict):
    """New notifications of one kind for the readers the event is addressed to."""

    kind: str
    article: Article | None
    thread_id: int | None
    entry_id: int | None


class NotificationsRead(TypedDict):
    unread: int


EVENTS: dict[str, type] = {
    "group.created": Group,
    "group.updated": GroupChanged,
    "group.imported": GroupImported,
    "thread.created": ThreadStarted,
    "article.created": Article,
    "article.cancelled": Article,
    "article.updated": Article,
    "article.hidden": Article,
    "article.restored": Article,
    "thread.split": ThreadRestructured,
    "thread.merged": ThreadRestructured,
    "thread.moved": ThreadMoved,
    "thread.locked": ThreadChanged,
    "thread.unlocked": ThreadChanged,
    "thread.archived": ThreadChanged,
    "thread.unarchived": ThreadChanged,
    "thread.updated": ThreadChanged,
    "read.changed": ReadChanged,
    "notification.created": NotificationCreated,
    "notification.read": NotificationsRead,
}


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    group: str | None
    thread_id: int | None
    topics: frozenset[str]
    data: dict[str, Any]
    created_at: str

    @classmethod
    def from_row(cls, row: Row) -> Event:
        return cls(
            row["id"],
            row["type"],
            row["group_name"],
            row["thread_id"],
            frozenset(row["topics"].split()),
            json.loads(row["data"]),
            row["created_at"],
        )

    def wire(self) -> dict[str, Any]:
        """The message a live client receives (API.md, Live)."""
        return {
            "id": self.id,
            "type": self.type,
            "group": self.group,
            "thread_id": self.thread_id,
            "data": self.data,
        }


# Topics: the routing keys of events, subscriptions and cached responses.


def group_topic(name: str) -> str:
    return "g:" + name


def thread_topic(thread_id: int) -> str:
    return f"t:{thread_id}"


def user_topic(user_id: int) -> str:
    """Events for one signed-in user only (their read marks): never a group's or thread's."""
    return f"u:{user_id}"


def is_personal(topic: str) -> bool:
    return topic.startswith("u:")


def topic_group(topic: str) -> str | None:
    """The group a group topic names; None for any other topic."""
    return topic[2:] if topic.startswith("g:") else None


@dataclass(frozen=True)
class Also:
    """The other groups and threads an action touches (a split's new thread,
    a move's new group): their subscribers hear of it too."""

    groups: Sequence[str] = ()
    threads: Sequence[int] = ()


async def emit(
    conn: Connection,
    type: str,
    *,
    group: str | None,
    thread_id: int | None,
    data: Any,
    also: Also = Also(),
    users: Sequence[int] = (),
) -> int:
    """Write one event row in the caller's transaction and return its id.

    It is routed to subscribers of `group` and `thread_id`, and also of those
    `also` names, so everyone watching either side of an action hears of it.
    An event for `users` only is routed to those users' own topics."""
    if type not in EVENTS:
        raise ValueError(f"unregistered event type {type!r}")
    topics = set()
    for name in (group, *also.groups):
        if name:
            topics.add(group_topic(name))
    for tid in (thread_id, *also.threads):
        if tid:
            topics.add(thread_topic(tid))
    for uid in users:
        topics.add(user_topic(uid))
    cur = await conn.execute(
        "INSERT INTO events (type, group_name, thread_id, topics, data, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            type,
            group,
            thread_id,
            " ".join(sorted(topics)),
            json.dumps(data, ensure_ascii=False, separators=(",", ":")),
            clock.now(),
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid
