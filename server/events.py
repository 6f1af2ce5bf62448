"""The events outbox: every change a live client could care about is written
here inside the change's own transaction, so an event exists exactly when its
change committed, and id order is commit order."""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import clock


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    group: str | None
    thread_id: int | None
    topics: frozenset[str]
    data: dict
    created_at: str

    @classmethod
    def from_row(cls, row) -> "Event":
        return cls(row["id"], row["type"], row["group_name"], row["thread_id"],
                   frozenset(row["topics"].split()), json.loads(row["data"]), row["created_at"])

    def wire(self) -> dict:
        """The message a live client receives (API.md, Live)."""
        return {"id": self.id, "type": self.type, "group": self.group,
                "thread_id": self.thread_id, "data": self.data}


def group_topic(name: str) -> str:
    return "g:" + name


def thread_topic(thread_id: int) -> str:
    return f"t:{thread_id}"


async def emit(conn, type: str, *, group: str | None, thread_id: int | None, data: dict,
               also_groups=(), also_threads=()) -> int:
    """Write one event row in the caller's transaction and return its id.

    It is routed to subscribers of `group` and `thread_id`, and also of the
    extra groups and threads an action touches (a split's new thread, a
    move's new group), so everyone watching either side hears of it."""
    topics = set()
    for name in (group, *also_groups):
        if name:
            topics.add(group_topic(name))
    for tid in (thread_id, *also_threads):
        if tid:
            topics.add(thread_topic(tid))
    cur = await conn.execute(
        "INSERT INTO events (type, group_name, thread_id, topics, data, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (type, group, thread_id, " ".join(sorted(topics)),
         json.dumps(data, ensure_ascii=False, separators=(",", ":")), clock.now()))
    return cur.lastrowid
