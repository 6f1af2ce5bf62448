"""The /live WebSocket: subscribe to groups and threads, resume from the last
event id seen, then receive every matching event in id order, each once.

Client to server (JSON text frames, at most `live_max_message` bytes):
- `{"type": "subscribe", "groups": ["comp.lang.python", "rec.*", "*"],
  "threads": [12], "since": 1041}`. A group may be a pattern: `comp.lang.*`
  follows the hierarchy, `*` every group (the way to hear `group.created`).
  `since` (optional) is the last event id the client saw: the server replays
  every matching event after it, then streams, with no gap and no repeat
  across the boundary. Only the first subscribe of a connection reads `since`;
  later ones add topics from the connection's current position (a client that
  needs their past reconnects with the full list and its last id).
- `{"type": "ping"}` is answered `{"type": "pong"}` (for clients that cannot
  see WebSocket pings).

Server to client:
- events: `{"id", "type", "group", "thread_id", "data"}` (API.md, Live), with
  `data` in the API's JSON shapes; ids only grow.
- `{"type": "subscribed", "groups", "threads", "last_id"}` once a subscribe
  has taken effect (after its replay): later events are streamed.
- `{"type": "reset", "last_id"}` when `since` is older than the outbox keeps
  (or unknown to this database): reload over HTTP; streaming continues.
- `{"type": "heartbeat", "last_id"}` after `live_heartbeat` seconds (25) of
  silence: under the 30-60 s idle cut-off of common proxies, load balancers
  and NATs, so a quiet connection is never dropped by the path, and a client
  that misses two knows its link is dead. `last_id` is safe to resume from.
- `{"type": "error", "code", "message"}` for a malformed or refused message.

Close codes: 1001 going away (the server is stopping: resume with the last
id, here once it is back or at another node), 1008 policy (`live_max_errors`
malformed messages), 1009 a message over `live_max_message`, 1011 internal
error, 1012 server restart (a connection not yet subscribed when it stops),
4000 no subscription within `live_idle_timeout` seconds, 4008 too slow (more
than `live_queue` messages waiting): reconnect with the last id seen.

Every group is public in this schema, so following needs no account, and
group and thread events carry only what the JSON API shows anyone; a replay
shows a withdrawn article's notice, never its old text. A signed-in
connection (the session cookie at the handshake) also receives that reader's
own events (`read.changed`), routed by the topic `u:<id>` that only their
connections follow."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, replace
from sqlite3 import Row
from typing import Any

from aiosqlite import Connection
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from ..articles.reading import HIDDEN_NOTICE
from ..runtime.hub import Subscription, encode, last_event_id, message, oldest_event_id
from ..runtime.site import Site
from ..store import validate
from ..store.db import fetch_all
from ..store.errors import Invalid, MootError, NotFound, TooLarge
from ..store.events import group_topic, thread_topic, user_topic
from .common import current_user, site_of
from .security import json_object, origin_allowed

CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_INTERNAL = 1008, 1009, 1011
CLOSE_IDLE, CLOSE_TOO_SLOW = 4000, 4008
# Rows replayed per read: one batch holds a read connection for a few ms at most.
REPLAY_BATCH = 200
# A close frame waits behind whatever the client has not read; past this the
# connection is abandoned to the server's own close timer.
CLOSE_WAIT = 5.0


@dataclass(frozen=True)
class Subscribe:
    groups: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()  # "comp.lang." for comp.lang.*, "" for *
    threads: tuple[int, ...] = ()
    since: int | None = None
    personal: str | None = None  # the signed-in reader's own topic (read marks), set by the server

    def topics(self) -> list[str]:
        own = [self.personal] if self.personal else []
        return [group_topic(g) for g in self.groups] + [thread_topic(t) for t in self.threads] + own

    def names(self) -> list[str]:
        return [*self.groups, *(p + "*" for p in self.prefixes)]


PING = "ping"


def parse_request(text: str) -> Subscribe | str:
    """A client message as a Subscribe, or PING; raises Invalid with the reason."""
    value = json_object(text, "the message")
    kind = value.get("type")
    if kind == "ping":
        return PING
    if kind != "subscribe":
        raise Invalid("type must be subscribe or ping")
    groups, prefixes = [], []
    for name in _list(value, "groups"):
        if name == "*":
            prefixes.append("")
        elif isinstance(name, str) and name.endswith(".*"):
            prefixes.append(validate.group_name(name[:-2]) + ".")
        else:
            groups.append(validate.group_name(name))
    threads = []
    for tid in _list(value, "threads"):
        if isinstance(tid, bool) or not isinstance(tid, int) or not 1 <= tid <= validate.ID_MAX:
            raise Invalid("threads must be a list of thread ids")
        threads.append(tid)
    since = value.get("since")
    if since is not None and (
        isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= validate.ID_MAX
    ):
        raise Invalid("since must be the last event id seen (an integer)")
    if not groups and not prefixes and not threads:
        raise Invalid("subscribe to at least one group or thread")
    return Subscribe(
        tuple(dict.fromkeys(groups)), tuple(dict.fromkeys(prefixes)), tuple(dict.fromkeys(threads)), since
    )


def _list(value: dict, key: str) -> list:
    items = value.get(key, [])
    if items is None:
        return []
    if not isinstance(items, list):
        raise Invalid(f"{key} must be a list")
    return items


def topic_filter(request: Subscribe) -> tuple[str, list[str]]:
    """SQL matching the events rows a subscription wants, on the space-separated
    `topics` column (instr, not LIKE: `_` in group names would be a wildcard)."""
    exact = [f" {t} " for t in request.topics()]
    prefix = [f" g:{p}" for p in request.prefixes]
    clauses = ["instr(' ' || topics || ' ', ?) > 0"] * len(exact) + ["instr(' ' || topics, ?) > 0"] * len(
        prefix
    )
    return " OR ".join(clauses), exact + prefix


def _articles(data):
    """Every article object inside an event's data."""
    if isinstance(data, dict):
        if "message_id" in data and "body" in data and "id" in data:
            yield data
        for value in data.values():
            yield from _articles(value)
    elif isinstance(data, list):
        for value in data:
            yield from _articles(value)


async def replay_messages(conn: Connection, rows: list[Row]) -> list[tuple[int, str]]:
    """Encoded events for a replay. An article withdrawn or hidden since its
    event was written shows as the API shows it now, never its old text."""
    parsed = [json.loads(row["data"]) for row in rows]
    ids = {a["id"] for data in parsed for a in _articles(data)}
    now_shown = {}
    if ids:
        marks = ",".join("?" * len(ids))
        now_shown = {
            r["id"]: (r["status"], HIDDEN_NOTICE if r["status"] == "hidden" else r["body"])
            for r in await fetch_all(
                conn,
                f"SELECT id, status, body FROM articles WHERE status IN ('cancelled', 'hidden') AND id IN ({marks})",
                tuple(ids),
            )
        }
    out = []
    for row, data in zip(rows, parsed, strict=True):
        fields: Row | dict[str, Any] = row
        changed = False
        for article in _articles(data):
            if article["id"] in now_shown and article.get("status") == "ok":
                article["status"], article["body"] = now_shown[article["id"]]
                changed = True
        if changed:
            fields = {**dict(row), "data": json.dumps(data, ensure_ascii=False, separators=(",", ":"))}
        out.append((row["id"], encode(fields)))
    return out


class _Closed(Exception):
    """The connection is closing; unwind."""


class LiveSession:
    """One /live connection: a read loop in the ASGI task and, once
    subscribed, a pump task that replays and then drains the subscription."""

    def __init__(self, site: Site, websocket: WebSocket, user_id: int | None = None):
        self.site, self.config, self.hub, self.ws = site, site.config, site.hub, websocket
        # A signed-in reader also hears their own events (read marks), and only theirs.
        self.personal = user_topic(user_id) if user_id is not None else None
        self.sub: Subscription | None = None
        self.cursor = 0  # the last event id sent (or skipped as already seen)
        self.errors = 0
        self.pump: asyncio.Task | None = None
        self.reader: asyncio.Task | None = None
        self.abandoned = False

    async def run(self) -> None:
        first = None
        try:
            async with asyncio.timeout(self.config.live_idle_timeout):
                while first is None:
                    first = await self._next_request()
        except TimeoutError:
            return await self._close(CLOSE_IDLE, "no subscription")
        except _Closed:
            return
        async with self.hub.subscribe() as sub:
            self.sub, self.reader = sub, asyncio.current_task()
            self.pump = asyncio.create_task(self._pump(first))
            try:
                while True:
                    request = await self._next_request()
                    if request is not None:
                        self._add(request)
            except _Closed:
                pass
            except asyncio.CancelledError:
                if not self.abandoned:
                    raise
            finally:
                self.pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.pump

    # Reading

    async def _next_request(self) -> Subscribe | None:
        """The next valid subscribe (pings are answered here); None after an error frame."""
        msg = await self.ws.receive()
        if msg["type"] == "websocket.disconnect":
            raise _Closed
        text = msg.get("text")
        raw = text.encode("utf-8") if text is not None else msg.get("bytes") or b""
        if len(raw) > self.config.live_max_message:
            await self._close(CLOSE_TOO_BIG, "message too big")
            raise _Closed
        try:
            if text is None:
                raise Invalid("send JSON in text frames")
            request = parse_request(text)
            if not isinstance(request, Subscribe):  # PING is the only other request
                await self._say({"type": "pong"})
                return None
            await self._check(request)
            return replace(request, personal=self.personal)
        except MootError as error:
            self.errors += 1
            await self._say({"type": "error", "code": error.code, "message": error.message})
            if self.errors >= self.config.live_max_errors:
                await self._close(CLOSE_POLICY, "too many malformed messages")
                raise _Closed from None
            return None

    async def _check(self, request: Subscribe) -> None:
        # Counted as a set: following something again costs nothing.
        held = set() if self.sub is None else {*self.sub.topics, *("p:" + p for p in self.sub.prefixes)}
        held.discard(self.personal)  # the reader's own topic is not theirs to count
        wanted = held | {*request.topics(), *("p:" + p for p in request.prefixes)}
        if len(wanted) > self.config.live_max_subscriptions:
            raise TooLarge(
                f"a connection may follow at most {self.config.live_max_subscriptions} groups and threads"
            )
        async with self.site.db.read() as conn:
            lookups: tuple[tuple[str, tuple[str | int, ...], str], ...] = (
                ("SELECT name FROM groups WHERE name IN", request.groups, "group"),
                ("SELECT id FROM threads WHERE id IN", request.threads, "thread"),
            )
            for sql, named, what in lookups:
                if not named:
                    continue
                marks = ",".join("?" * len(named))
                found = {r[0] for r in await fetch_all(conn, f"{sql} ({marks})", named)}
                missing = [w for w in named if w not in found]
                if missing:
                    raise NotFound(f"no {what} {missing[0]!r}")

    def _add(self, request: Subscribe) -> None:
        """A later subscribe: more topics from now on, acknowledged in stream order."""
        assert self.sub is not None
        position = self.hub.follow(self.sub, request.topics(), request.prefixes)
        self._say_now(self._ack(request, position))

    # Writing

    def _ack(self, request: Subscribe, position: int) -> dict:
        return {
            "type": "subscribed",
            "groups": request.names(),
            "threads": list(request.threads),
            "last_id": position,
        }

    async def _say(self, obj: dict) -> None:
        """Send a control message: directly before subscribing, in stream order after."""
        if self.sub is None:
            await self.ws.send(message(json.dumps(obj, ensure_ascii=False)))
        else:
            self._say_now(obj)

    def _say_now(self, obj: dict) -> None:
        assert self.sub is not None, "only a subscribed connection has a queue"
        self.sub.push((0, message(json.dumps(obj, ensure_ascii=False))))

    async def _pump(self, first: Subscribe) -> None:
        send = self.ws.send
        try:
            await self._start(first)
            assert self.sub is not None
            while True:
                item = await self.sub.get()
                if item is None:
                    if self.sub.closing:  # the server is stopping (1001 going away)
                        return await self._close(*self.sub.closing)
                    return await self._too_slow()
                event_id, msg = item
                if event_id:
                    if event_id <= self.cursor:
                        continue  # already replayed, or seen by the client elsewhere
                    self.cursor = event_id
                await send(msg)
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):
            return

    async def _start(self, first: Subscribe) -> None:
        """Follow, replay what the client missed, acknowledge: events after
        `position` are already being queued, so replaying (since, latest]
        (`latest`: everything committed so far, even what the hub has not
        dispatched yet) leaves no gap, and the stream skips what the replay
        sent, so nothing is repeated."""
        assert self.sub is not None
        position = self.hub.follow(self.sub, first.topics(), first.prefixes)
        async with self.site.db.read() as conn:
            latest = max(position, await last_event_id(conn))
        if first.since is None:
            self.cursor = latest  # "from now"
        elif await self._replay(first, first.since, latest):
            self.cursor = max(first.since, latest)
        else:
            await self.ws.send(message(f'{{"type":"reset","last_id":{int(latest)}}}'))
            self.cursor = latest
        # A `since` beyond this process's position (seen through another
        # process) is kept: the stream skips what the client already has.
        self.cursor = max(self.cursor, position)
        await self.ws.send(message(json.dumps(self._ack(first, self.cursor), ensure_ascii=False)))

    async def _replay(self, request: Subscribe, after: int, upto: int) -> bool:
        """Send the matching events in (after, upto]; False if some are no longer
        kept, or `after` is an id this database never assigned."""
        where, params = topic_filter(request)
        while True:
            async with self.site.db.read() as conn:
                if after + 1 < await oldest_event_id(conn) or after > await last_event_id(conn):
                    return False
                if after >= upto:
                    return True
                rows = await fetch_all(
                    conn,
                    f"SELECT id, type, group_name, thread_id, topics, data FROM events"
                    f" WHERE id > ? AND id <= ? AND ({where}) ORDER BY id LIMIT ?",
                    (after, upto, *params, REPLAY_BATCH),
                )
                messages = await replay_messages(conn, rows)
            for event_id, text in messages:
                await self.ws.send(message(text))
                self.cursor = event_id
            if len(rows) < REPLAY_BATCH:
                return True
            after = rows[-1]["id"]

    async def _too_slow(self) -> None:
        self.hub.overflows += 1
        try:
            async with asyncio.timeout(CLOSE_WAIT):
                await self.ws.close(CLOSE_TOO_SLOW, "too slow: reconnect with your last id")
        except TimeoutError:
            # The client reads nothing, not even the close: stop serving it.
            self.abandoned = True
            if self.reader is not None:
                self.reader.cancel()

    async def _close(self, code: int, reason: str) -> None:
        if self.pump is not None and self.pump is not asyncio.current_task():
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError, TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT):
                await self.ws.close(code, reason)


async def endpoint(websocket: WebSocket) -> None:
    """The /live route: the Origin check at the handshake, then a session."""
    site = site_of(websocket)
    if not origin_allowed(websocket, site.config.allowed_origins, site.config.allowed_hosts):
        # Cross-site WebSocket hijacking: a page on another site could open
        # /live with the visitor's cookies. Refused before the handshake (403).
        await websocket.close(code=CLOSE_POLICY)
        return
    user = await current_user(websocket)
    await websocket.accept()
    await LiveSession(site, websocket, user.id if user else None).run()
