"""Each signed-in reader's read marks, group by group, as `.newsrc` ranges of
the group's article numbers (server/people/newsrc.py does the arithmetic), and what
derives from them: unread counts per group and thread, unread flags per
article, the next unread article, and the actions that change them.

An article counts as unread when its number is not in the reader's ranges,
it is a live article (not withdrawn, not a moderation notice) and the reader
did not write it. Every change emits a `read.changed` event addressed to that
reader alone (topic `u:<id>`), never to a group or thread.

ReadQueue is how page views (and NNTP ARTICLE/BODY) record what they showed
without waiting: marks are merged per (reader, group) and written in one
transaction shortly after, with the notifications that point to those
articles read; marking a thread read reads its notifications too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from sqlite3 import Row

from aiosqlite import Connection

from ..articles.reading import article_row, thread_row
from ..store.db import Database, fetch_all, fetch_one, fetch_value
from ..store.errors import Invalid, NotFound, TooLarge
from ..store.events import emit
from . import killfile, newsrc, notifications
from .newsrc import Ranges

log = logging.getLogger("moot.readstate")

# Past this many unread articles a group shows "999+": counting stops there.
COUNT_LIMIT = 1000
# Articles one "mark these read" call may name: a page's worth (validate.PAGE_MAX).
MAX_MARK_IDS = 200
# Articles scored per query when a killfile decides what counts.
SCORE_PAGE = 1000
# Threads one read.changed event lists with their new counts.
MAX_EVENT_THREADS = 50
# Live articles written by someone else: the ones that can be unread.
COUNTABLE = "a.status = 'ok' AND a.user_id IS NOT ?"


async def ranges_of(conn: Connection, user_id: int, group_id: int) -> Ranges:
    text = await fetch_value(
        conn, "SELECT ranges FROM read_marks WHERE user_id = ? AND group_id = ?", (user_id, group_id)
    )
    return newsrc.parse(text or "")


async def all_ranges(conn: Connection, user_id: int) -> dict[int, Ranges]:
    rows = await fetch_all(conn, "SELECT group_id, ranges FROM read_marks WHERE user_id = ?", (user_id,))
    return {r["group_id"]: newsrc.parse(r["ranges"]) for r in rows}


async def _count_in(
    conn: Connection, user_id: int, group_id: int, spans: Ranges, cap: int, rules: list[killfile.Rule]
) -> int:
    """Countable articles of the group whose numbers fall in `spans` and that
    the reader's rules do not hide, at most `cap`."""
    total = 0
    for low, high in spans:
        if total >= cap:
            break
        if not rules:
            total += await fetch_value(
                conn,
                f"SELECT count(*) FROM (SELECT 1 FROM articles a WHERE a.group_id = ?"
                f" AND a.number BETWEEN ? AND ? AND {COUNTABLE} LIMIT ?)",
                (group_id, low, high, user_id, cap - total),
            )
            continue
        after = low - 1
        while total < cap:  # scored in pages: a killfile may hide any number of them
            rows = await fetch_all(
                conn,
                f"SELECT a.number, {killfile.SCORE_COLUMNS} FROM articles a{killfile.SCORE_JOINS}"
                f" WHERE a.group_id = ? AND a.number > ? AND a.number <= ? AND {COUNTABLE}"
                f" ORDER BY a.number LIMIT {SCORE_PAGE}",
                (group_id, after, high, user_id),
            )
            total += sum(1 for r in rows if killfile.score(rules, killfile.scored(r)) > killfile.KILL)
            if len(rows) < SCORE_PAGE:
                break
            after = rows[-1]["number"]
    return min(total, cap)


async def group_unread(
    conn: Connection,
    user_id: int,
    group_id: int,
    last_number: int,
    ranges: Ranges | None = None,
    rules: list[killfile.Rule] | None = None,
) -> int:
    """Unread articles in one group, at most COUNT_LIMIT."""
    if ranges is None:
        ranges = await ranges_of(conn, user_id, group_id)
    if rules is None:
        rules = await killfile.rules_of(conn, user_id)
    return await _count_in(conn, user_id, group_id, newsrc.gaps(ranges, 1, last_number), COUNT_LIMIT, rules)


async def unread_counts(conn: Connection, user_id: int) -> dict[str, int]:
    """Unread articles per group name (groups with none left out), each at most COUNT_LIMIT."""
    marks = await all_ranges(conn, user_id)
    rules = await killfile.rules_of(conn, user_id)
    counts = {}
    for row in await fetch_all(conn, "SELECT id, name, last_number FROM groups"):
        count = await group_unread(
            conn, user_id, row["id"], row["last_number"], marks.get(row["id"], ()), rules
        )
        if count:
            counts[row["name"]] = count
    return counts


async def thread_unread(conn: Connection, user_id: int, thread_ids: Iterable[int]) -> dict[int, int]:
    """Unread articles per thread (threads with none left out)."""
    ids = sorted(set(thread_ids))
    if not ids:
        return {}
    rules = await killfile.rules_of(conn, user_id)
    extra = (
        f", {killfile.SCORE_COLUMNS} FROM articles a{killfile.SCORE_JOINS}" if rules else " FROM articles a"
    )
    rows = await fetch_all(
        conn,
        f"SELECT a.thread_id, a.group_id, a.number{extra}"
        f" WHERE a.thread_id IN ({','.join('?' * len(ids))}) AND {COUNTABLE}",
        (*ids, user_id),
    )
    marks: dict[int, Ranges] = {}
    counts: dict[int, int] = {}
    for row in rows:
        group_id = row["group_id"]
        if group_id not in marks:
            marks[group_id] = await ranges_of(conn, user_id, group_id)
        if newsrc.contains(marks[group_id], row["number"]):
            continue
        if rules and killfile.score(rules, killfile.scored(row)) <= killfile.KILL:
            continue
        counts[row["thread_id"]] = counts.get(row["thread_id"], 0) + 1
    return counts


async def counts(conn: Connection, user_id: int, group_names: list[str], thread_ids: list[int]) -> dict:
    """`{groups: {name: unread}, threads: {"id": unread}}` for what an open page shows."""
    rows = await fetch_all(
        conn,
        "SELECT id, name, last_number FROM groups WHERE name IN (SELECT value FROM json_each(?))",
        (json.dumps(group_names),),
    )
    rules = await killfile.rules_of(conn, user_id)
    per_group = {
        r["name"]: await group_unread(conn, user_id, r["id"], r["last_number"], rules=rules) for r in rows
    }
    per_thread = await thread_unread(conn, user_id, thread_ids)
    return {"groups": per_group, "threads": {str(t): per_thread.get(t, 0) for t in thread_ids}}


def is_unread(row: Row | dict, user_id: int, ranges: Ranges) -> bool:
    """Whether an article row (status, user_id, number) is unread for the reader."""
    return row["status"] == "ok" and row["user_id"] != user_id and not newsrc.contains(ranges, row["number"])


async def unread_articles(
    conn: Connection,
    user_id: int,
    article_ids: Iterable[int],
    pending: dict[tuple[int, int], Ranges] | None = None,
) -> set[int]:
    """Which of these articles are unread for the reader; `pending` holds marks
    not written yet (ReadQueue), which count as read."""
    return set((await page_view(conn, user_id, sorted(set(article_ids)), pending)).unread)


@dataclass(frozen=True)
class PageView:
    unread: list[int]  # the articles shown that were unread (and not hidden), in page order
    shown: dict[int, Ranges]  # group id -> the numbers shown and not read yet, to mark read
    killed: frozenset[int] = frozenset()  # hidden by the reader's rules
    high: frozenset[int] = frozenset()  # highlighted by them


async def page_rows(conn: Connection, article_ids: list[int]) -> list[dict]:
    """What deciding on these articles for any reader needs (the same for all
    readers, so a page may keep it): id, group, number, status, author, and
    the columns killfile rules score."""
    if not article_ids:
        return []
    rows = await fetch_all(
        conn,
        f"SELECT a.id, a.group_id, a.number, a.status, a.user_id,"
        f" {killfile.SCORE_COLUMNS} FROM articles a{killfile.SCORE_JOINS}"
        f" WHERE a.id IN ({','.join('?' * len(article_ids))})",
        article_ids,
    )
    return [dict(r) for r in rows]


async def page_view(
    conn: Connection,
    user_id: int,
    article_ids: list[int],
    pending: dict[tuple[int, int], Ranges] | None = None,
    rows: list[dict] | None = None,
) -> PageView:
    """What a page showing these articles (in this order) means for the reader;
    `rows` are their page_rows when the caller keeps them."""
    if not article_ids:
        return PageView([], {})
    if rows is None:
        rows = await page_rows(conn, article_ids)
    rules = await killfile.rules_of(conn, user_id)
    marks = {g: await ranges_of(conn, user_id, g) for g in {r["group_id"] for r in rows}}
    return classify(rows, article_ids, user_id, marks, rules, pending)


def classify(
    rows: list[dict],
    article_ids: list[int],
    user_id: int,
    marks: dict[int, Ranges],
    rules: list[killfile.Rule],
    pending: dict[tuple[int, int], Ranges] | None = None,
) -> PageView:
    """page_view without the database: the reader's `marks` per group and `rules` given."""
    marks = {
        g: newsrc.union(marks.get(g, ()), (pending or {}).get((user_id, g), ()))
        for g in {r["group_id"] for r in rows}
    }
    if not rules and rows and all(_covers(marks[g], [r for r in rows if r["group_id"] == g]) for g in marks):
        return PageView([], {})  # the common case of a reload: one range holds the whole page
    shown: dict[int, list[int]] = {}
    unread, killed, high = set(), set(), set()
    for row in rows:
        group_id = row["group_id"]
        verdict = killfile.verdict(killfile.score(rules, killfile.scored(row))) if rules else None
        if verdict == "killed" and row["status"] == "ok":
            killed.add(row["id"])
        elif verdict == "high" and row["status"] == "ok":
            high.add(row["id"])
        if is_unread(row, user_id, marks[group_id]) and row["id"] not in killed:
            unread.add(row["id"])
        shown.setdefault(group_id, []).append(row["number"])
    # Only what is not read yet needs writing: a reload of a read page writes nothing.
    to_mark = {g: newsrc.of_numbers(numbers) for g, numbers in shown.items()}
    to_mark = {g: n for g, n in to_mark.items() if newsrc.difference(n, marks[g])}
    return PageView([a for a in article_ids if a in unread], to_mark, frozenset(killed), frozenset(high))


def _covers(ranges: Ranges, rows: list[dict]) -> bool:
    numbers = [r["number"] for r in rows]
    low, high = min(numbers), max(numbers)
    return any(a <= low and high <= b for a, b in ranges)


async def reader_view(
    conn: Connection, user_id: int, group_ids: Iterable[int], thread_id: int
) -> tuple[dict[int, Ranges], list[killfile.Rule], int, bool, int]:
    """All a thread page needs of the reader, in one query: their marks in
    these groups, their rules, whether they follow the thread (0 no, 1 yes,
    2 by mail too) and muted it, and their unread notifications."""
    row = await fetch_one(
        conn,
        "SELECT (SELECT json_group_object(group_id, ranges) FROM read_marks WHERE user_id = ?"
        "   AND group_id IN (SELECT value FROM json_each(?))),"
        " (SELECT json_group_array(json_array(id, field, pattern, regex, score)) FROM"
        "   (SELECT * FROM kill_rules WHERE user_id = ? ORDER BY id)),"
        " coalesce((SELECT 1 + mail FROM follows WHERE user_id = ? AND thread_id = ?), 0),"
        " EXISTS (SELECT 1 FROM kill_rules WHERE user_id = ? AND field = 'thread' AND pattern = ?"
        "   AND score = ?),"
        " (SELECT count(*) FROM notifications WHERE user_id = ? AND read = 0)",
        (
            user_id,
            json.dumps(sorted(set(group_ids))),
            user_id,
            user_id,
            thread_id,
            user_id,
            str(thread_id),
            killfile.MUTE,
            user_id,
        ),
    )
    assert row is not None
    marks = {int(g): newsrc.parse(text) for g, text in json.loads(row[0] or "{}").items()}
    rules = [killfile.Rule.of(*values) for values in json.loads(row[1])]
    return marks, rules, int(row[2]), bool(row[3]), int(row[4])


# Changes: each runs inside the caller's write transaction.


async def _save(conn: Connection, user_id: int, group_id: int, ranges: Ranges) -> None:
    await conn.execute(
        "INSERT INTO read_marks (user_id, group_id, ranges) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id, group_id) DO UPDATE SET ranges = excluded.ranges",
        (user_id, group_id, newsrc.format(ranges)),
    )


async def _changed(
    conn: Connection, user_id: int, group_id: int, ranges: Ranges, thread_ids: Iterable[int]
) -> dict:
    """Save the new ranges and tell the reader's open pages: the `read.changed` data."""
    await _save(conn, user_id, group_id, ranges)
    group = await fetch_one(conn, "SELECT name, last_number FROM groups WHERE id = ?", (group_id,))
    assert group is not None
    per_thread = await thread_unread(conn, user_id, thread_ids)
    data = {
        "group": group["name"],
        "read": newsrc.format(ranges),
        "unread": await group_unread(conn, user_id, group_id, group["last_number"], ranges),
        "threads": [{"id": t, "unread": per_thread.get(t, 0)} for t in sorted(set(thread_ids))],
    }
    await emit(conn, "read.changed", group=None, thread_id=None, data=data, users=(user_id,))
    return data


async def mark_numbers(conn: Connection, user_id: int, group_id: int, numbers: Ranges) -> dict | None:
    """Add `numbers` to the reader's marks in the group; the event's data, or
    None when they were all read already (nothing is written then)."""
    before = await ranges_of(conn, user_id, group_id)
    after = newsrc.union(before, numbers)
    if after == before:
        return None
    # The threads whose counts changed, for open pages; a catch-up of a big
    # group touches many, and pages refetch counts for those not listed.
    threads: set[int] = set()
    for low, high in newsrc.difference(numbers, before):
        if len(threads) >= MAX_EVENT_THREADS:
            break
        rows = await fetch_all(
            conn,
            "SELECT DISTINCT thread_id FROM articles WHERE group_id = ? AND number BETWEEN ? AND ? LIMIT ?",
            (group_id, low, high, MAX_EVENT_THREADS),
        )
        threads.update(r[0] for r in rows)
    return await _changed(conn, user_id, group_id, after, sorted(threads)[:MAX_EVENT_THREADS])


async def _thread_rows(conn: Connection, thread_id: object) -> tuple[Row, list[Row]]:

    thread = await thread_row(conn, thread_id)
    rows = await fetch_all(
        conn,
        "SELECT id, group_id, number, seq FROM articles WHERE thread_id = ? ORDER BY seq",
        (thread["id"],),
    )
    return thread, rows


async def mark_thread_read(
    conn: Connection,
    user_id: int,
    thread_id: object,
    up_to_article: object = None,
    article_ids: object = None,
) -> dict:
    """Mark a thread read: whole, (tree order) up to and including one of its
    articles, or just the listed ones (at most MAX_MARK_IDS, all in the thread);
    the `read.changed` data (or the unchanged state)."""

    thread, rows = await _thread_rows(conn, thread_id)
    if article_ids is not None:
        if (
            not isinstance(article_ids, list)
            or not 1 <= len(article_ids) <= MAX_MARK_IDS
            or any(isinstance(i, bool) or not isinstance(i, int) for i in article_ids)
        ):
            raise Invalid(f"article_ids must be a list of 1 to {MAX_MARK_IDS} article ids")
        if up_to_article is not None:
            raise Invalid("give up_to_article_id or article_ids, not both")
        wanted = set(article_ids)
        rows = [r for r in rows if r["id"] in wanted]
        if len(rows) != len(wanted):
            raise NotFound("some of those articles are not in this thread now")
    if up_to_article is not None:
        target = await article_row(conn, up_to_article)
        if target["thread_id"] != thread["id"]:
            raise NotFound("that article is not in this thread now")
        rows = [r for r in rows if r["seq"] <= target["seq"]]
    numbers = newsrc.of_numbers(r["number"] for r in rows)
    await notifications.read_articles(conn, user_id, thread["group_id"], numbers)
    return await mark_numbers(conn, user_id, thread["group_id"], numbers) or await _state(
        conn, user_id, thread["group_id"], [thread["id"]]
    )


async def mark_unread_from(conn: Connection, user_id: int, article_ref: object) -> dict:
    """Mark an article and every article after it in its thread (tree order) unread."""

    target = await article_row(conn, article_ref)
    _, rows = await _thread_rows(conn, target["thread_id"])
    spans = newsrc.of_numbers(r["number"] for r in rows if r["seq"] >= target["seq"])
    before = await ranges_of(conn, user_id, target["group_id"])
    after = newsrc.difference(before, spans)
    if after == before:
        return await _state(conn, user_id, target["group_id"], [target["thread_id"]])
    return await _changed(conn, user_id, target["group_id"], after, [target["thread_id"]])


async def catch_up(conn: Connection, user_id: int, group_row: Row) -> dict:
    """slrn's `c`: everything in the group up to its high-water mark is read."""
    everything = ((1, group_row["last_number"]),) if group_row["last_number"] else ()
    return await mark_numbers(conn, user_id, group_row["id"], everything) or await _state(
        conn, user_id, group_row["id"], []
    )


async def _state(conn: Connection, user_id: int, group_id: int, thread_ids: list[int]) -> dict:
    """The read state as `read.changed` would carry it, without writing."""
    ranges = await ranges_of(conn, user_id, group_id)
    group = await fetch_one(conn, "SELECT name, last_number FROM groups WHERE id = ?", (group_id,))
    assert group is not None
    per_thread = await thread_unread(conn, user_id, thread_ids)
    return {
        "group": group["name"],
        "read": newsrc.format(ranges),
        "unread": await group_unread(conn, user_id, group_id, group["last_number"], ranges),
        "threads": [{"id": t, "unread": per_thread.get(t, 0)} for t in thread_ids],
    }


async def next_unread(conn: Connection, user_id: int, from_thread: int | None = None) -> dict | None:
    """The reader's next unread article: `{thread_id, article_id, group}`, or None.

    Looks in `from_thread`'s group first (threads by latest activity, the
    thread itself and the ones listed after it first), then in the other
    groups by name, as a newsreader's `n` moves on to the next group."""
    groups = await fetch_all(conn, "SELECT id, name, last_number FROM groups ORDER BY name")
    start_group = None
    if from_thread is not None:
        start_group = await fetch_value(conn, "SELECT group_id FROM threads WHERE id = ?", (from_thread,))
    order = sorted(groups, key=lambda g: g["id"] != start_group)
    rules = await killfile.rules_of(conn, user_id)
    for group in order:
        ranges = await ranges_of(conn, user_id, group["id"])
        for low, high in newsrc.gaps(ranges, 1, group["last_number"]):
            rows = await fetch_all(
                conn,
                f"SELECT a.id, a.thread_id, a.seq, {killfile.SCORE_COLUMNS} FROM articles a"
                f"{killfile.SCORE_JOINS} WHERE a.group_id = ?"
                f" AND a.number BETWEEN ? AND ? AND {COUNTABLE}",
                (group["id"], low, high, user_id),
            )
            rows = [r for r in rows if killfile.score(rules, killfile.scored(r)) > killfile.KILL]
            if not rows:
                continue
            # Prefer the thread the reader came from, then the most recently active.
            threads = {r["thread_id"] for r in rows}
            ranked = await fetch_all(
                conn,
                f"SELECT id FROM threads WHERE id IN ({','.join('?' * len(threads))})"
                " ORDER BY id != ?, last_article_at DESC, id DESC LIMIT 1",
                (*sorted(threads), from_thread or 0),
            )
            chosen = ranked[0]["id"]
            first = min((r for r in rows if r["thread_id"] == chosen), key=lambda r: r["seq"])
            return {"thread_id": chosen, "article_id": first["id"], "group": group["name"]}
    return None


class ReadQueue:
    """Marks from page views, merged per (reader, group) and written together
    through the write door shortly after, so a page never waits on a write."""

    def __init__(self, db: Database, delay: float = 0.05):
        self.db, self.delay = db, delay
        self.pending: dict[tuple[int, int], Ranges] = {}
        # Counts every change of `pending`: what was derived from it is stale once it moves.
        self.version = 0
        self._task: asyncio.Task | None = None

    def note(self, user_id: int, group_id: int, numbers: Ranges) -> None:
        if not numbers:
            return
        key = (user_id, group_id)
        self.pending[key] = newsrc.union(self.pending.get(key, ()), numbers)
        self.version += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        # Marks noted while a batch is being written find this task still
        # running and start none of their own: it writes them next.
        while self.pending:
            await asyncio.sleep(self.delay)  # let a burst of views share one transaction
            await self.flush()

    async def flush(self) -> None:
        """Write every pending mark now (one transaction); waits for a flush under way."""
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            with contextlib.suppress(Exception):
                await task
        if not self.pending:
            return
        batch, self.pending = self.pending, {}
        self.version += 1
        try:
            async with self.db.transaction() as conn:
                for (user_id, group_id), numbers in batch.items():
                    await mark_numbers(conn, user_id, group_id, numbers)
                    await notifications.read_articles(conn, user_id, group_id, numbers)
        except Exception:
            # Read marks are a convenience: a failed write loses one view's marks, never a page.
            log.exception("read marks for %d readers were not written", len(batch))


# Subscriptions and .newsrc files


async def subscribe(conn: Connection, user_id: int, group_id: int, on: bool) -> None:
    await conn.execute(
        "INSERT INTO read_marks (user_id, group_id, subscribed) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id, group_id) DO UPDATE SET subscribed = excluded.subscribed",
        (user_id, group_id, int(on)),
    )


async def subscribe_defaults(conn: Connection, user_id: int, names: tuple[str, ...]) -> None:
    """A new account's subscriptions: the named groups, or every group when none are named."""
    if names:
        rows = await fetch_all(
            conn,
            "SELECT id FROM groups WHERE name IN (SELECT value FROM json_each(?))",
            (json.dumps(list(names)),),
        )
    else:
        rows = await fetch_all(conn, "SELECT id FROM groups")
    for row in rows:
        await subscribe(conn, user_id, row["id"], True)


async def subscribed_groups(conn: Connection, user_id: int) -> list[str]:
    rows = await fetch_all(
        conn,
        "SELECT g.name FROM read_marks m JOIN groups g ON g.id = m.group_id"
        " WHERE m.user_id = ? AND m.subscribed = 1 ORDER BY g.name",
        (user_id,),
    )
    return [r[0] for r in rows]


async def export_newsrc(conn: Connection, user_id: int) -> str:
    """The reader's state as a .newsrc file: one line for every group of the
    site, by name; subscribed ones with ':', the others with '!'."""
    rows = await fetch_all(
        conn,
        "SELECT g.name, m.ranges, coalesce(m.subscribed, 0) AS subscribed"
        " FROM groups g LEFT JOIN read_marks m ON m.group_id = g.id AND m.user_id = ?"
        " ORDER BY g.name",
        (user_id,),
    )
    return "".join(
        newsrc.format_line(r["name"], bool(r["subscribed"]), newsrc.parse(r["ranges"] or "")) + "\n"
        for r in rows
    )


async def import_newsrc(conn: Connection, user_id: int, text: object) -> dict:
    """Take a .newsrc file's marks and subscriptions for the groups this site
    has (each listed group's state is replaced; numbers beyond a group's
    high-water mark are dropped); `{groups, unknown}`: how many groups were
    taken, and the names this site does not have (the first 50). A malformed
    line refuses the whole file (Invalid, naming the line)."""
    if not isinstance(text, str):
        raise Invalid("newsrc must be the text of a .newsrc file")
    lines = text.splitlines()
    if len(lines) > newsrc.MAX_LINES:
        raise TooLarge(f"a .newsrc file here holds at most {newsrc.MAX_LINES} lines")
    parsed: dict[str, tuple[bool, Ranges]] = {}
    for number, line in enumerate(lines, 1):
        try:
            found = newsrc.parse_line(line)
        except Invalid as error:
            raise Invalid(f"line {number}: {error.message}") from None
        if found is not None:
            parsed[found[0]] = (found[1], found[2])
    groups = {
        r["name"]: r
        for r in await fetch_all(
            conn,
            "SELECT id, name, last_number FROM groups WHERE name IN (SELECT value FROM json_each(?))",
            (json.dumps(list(parsed)),),
        )
    }
    for name, (subscribed, ranges) in parsed.items():
        group = groups.get(name)
        if group is None:
            continue
        await subscribe(conn, user_id, group["id"], subscribed)
        clipped = newsrc.clip(ranges, group["last_number"])
        if clipped != await ranges_of(conn, user_id, group["id"]):
            await _changed(conn, user_id, group["id"], clipped, [])
    unknown = [name for name in parsed if name not in groups]
    return {"groups": len(parsed) - len(unknown), "unknown": unknown[:50]}
