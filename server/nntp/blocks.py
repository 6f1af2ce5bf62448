"""A group's articles as NNTP sends them, encoded once per block of numbers
and kept in the site's response cache: OVER and ARTICLE by number (what a
newsreader walking a group asks for) then cost a dictionary look-up, not a
query and the header building per article.

A block is dropped when an event touches one of its articles' threads (a
cancel, split, merge or move changes a line; a hidden article, left out,
still counts, so showing it again brings it back with its number), and, while the group's numbers
have not yet passed its end, when an event touches the group (a new article
may take a number inside it). Numbers only grow, so a block wholly below the
group's high-water mark gains no articles."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..news import news, newsreading
from ..runtime.response_cache import Kept
from ..runtime.site import Site
from ..store.db import fetch_value
from ..store.events import group_topic, thread_topic

# Numbers per block: one range query fills it, and a reader of one article
# pays for this many once, then reads its neighbours from memory.
BLOCK = 256


@dataclass(frozen=True, slots=True)
class Article:
    """One article's wire forms: lines dot-stuffed, each ending in CRLF (RFC 3977 §3.1.1)."""

    number: int
    message_id: str
    head: bytes
    body: bytes
    overview: bytes


def _wire(lines: list[str]) -> bytes:
    return "".join(("." + line if line[:1] == "." else line) + "\r\n" for line in lines).encode(
        "utf-8", "replace"
    )


def _article(row: sqlite3.Row, domain: str) -> Article:
    fields = news.overview(row, domain)
    return Article(
        row["number"],
        row["message_id"],
        _wire(news.head_lines(row, domain)),
        _wire(news.body_lines(row)),
        _wire(["\t".join(fields)]),
    )


async def block(site: Site, group: dict, index: int) -> dict[int, Article]:
    """The articles numbered in block `index` of `group` ({id, name}), by number."""
    domain = site.config.domain

    async def build() -> Kept:
        low, high = index * BLOCK, index * BLOCK + BLOCK - 1
        async with site.db.read() as conn:
            # Read before the rows: every number up to it is already committed.
            last = await fetch_value(conn, "SELECT last_number FROM groups WHERE id = ?", (group["id"],))
            rows = await newsreading.in_range(conn, group["id"], low, high)
            hidden = await newsreading.hidden_threads(conn, group["id"], low, high)
        articles = {row["number"]: _article(row, domain) for row in rows}
        # A hidden article is left out, but its thread's events (shown again) still drop the block.
        topics = {thread_topic(tid) for tid in {row["thread_id"] for row in rows} | hidden}
        if last is None or high > last:
            topics.add(group_topic(group["name"]))
        size = sum(len(a.head) + len(a.body) + len(a.overview) + 100 for a in articles.values())
        return Kept(articles, size, frozenset(topics))

    found: dict[int, Article] = await site.responses.kept(("nntp", group["id"], index), build)
    return found


async def article(site: Site, group: dict, number: int) -> Article | None:
    return (await block(site, group, number // BLOCK)).get(number)


async def overview(site: Site, group: dict, low: int, high: int, last: int) -> list[bytes]:
    """Overview lines of the articles numbered in [low, high], at most
    newsreading.RANGE_MAX, where `last` is the group's high-water mark."""
    out: list[bytes] = []
    high = min(high, last)
    if low > high:
        return out
    for index in range(low // BLOCK, high // BLOCK + 1):
        found = await block(site, group, index)
        if index * BLOCK >= low and index * BLOCK + BLOCK - 1 <= high:
            out.extend(a.overview for a in found.values())
        else:
            out.extend(a.overview for n, a in found.items() if low <= n <= high)
        if len(out) >= newsreading.RANGE_MAX:
            return out[: newsreading.RANGE_MAX]
    return out
