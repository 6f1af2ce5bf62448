"""Each reader's killfile, in the tradition of slrn's score files: rules that
match an article by its author, subject (substring or regular expression),
group, thread, or the author it replies to, each adding its score. An article
whose total is at most KILL is hidden from that reader (collapsed on pages,
left out of unread counts and "next unread", never a notification); at least
HIGH, it is highlighted. "Mute user" and "mute thread" are one-click rules
scoring MUTE.

Regular expressions run on subjects (at most 250 characters) and are checked
when saved: Python's syntax without back-references or look-arounds, no
repetition inside a repetition, at most MAX_REPEATS unbounded repetitions,
and a probe in a separate process that must finish within PROBE_SECONDS on
long adversarial subjects; anything else is refused with 400."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from re import _parser as sre_parse  # type: ignore[attr-defined]  # re's own parser (3.11+)
from sqlite3 import Row

from aiosqlite import Connection

from ..store import clock, validate
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Invalid, NotFound, TooLarge

FIELDS = ("author", "subject", "group", "thread", "replies_to")
KILL, HIGH, MUTE = -100, 100, -9999
SCORE_LIMIT = 9999
MAX_RULES = 200
MAX_PATTERN = 200
MAX_REPEATS = 3
PROBE_SECONDS = 1.0


@dataclass(frozen=True)
class Rule:
    id: int
    field: str
    pattern: str
    regex: bool
    score: int
    compiled: re.Pattern[str] | None = None

    @classmethod
    def from_row(cls, row: Row) -> Rule:
        return cls.of(row["id"], row["field"], row["pattern"], row["regex"], row["score"])

    @classmethod
    def of(cls, rule_id: int, field: str, pattern: str, regex: object, score: int) -> Rule:
        # re keeps compiled patterns: a rule read per page view costs a lookup, not a compile
        compiled = re.compile(pattern, re.IGNORECASE) if regex else None
        return cls(rule_id, field, pattern, bool(regex), score, compiled)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "field": self.field,
            "pattern": self.pattern,
            "regex": self.regex,
            "score": self.score,
        }

    def matches(self, article: dict) -> bool:
        """`article`: {author (username or None), subject, group, thread_id, parent_author}."""
        if self.field == "author":
            return article["author"] == self.pattern
        if self.field == "replies_to":
            return article["parent_author"] == self.pattern
        if self.field == "thread":
            return str(article["thread_id"]) == self.pattern
        if self.field == "group":
            if self.pattern.endswith(".*"):
                return bool(article["group"].startswith(self.pattern[:-1]))
            return article["group"] == self.pattern
        subject = article["subject"]
        if self.compiled is not None:
            return self.compiled.search(subject) is not None
        return self.pattern.lower() in subject.lower()


def score(rules: Iterable[Rule], article: dict) -> int:
    return sum(rule.score for rule in rules if rule.matches(article))


def verdict(total: int) -> str | None:
    """'killed', 'high' or None for a total score."""
    return "killed" if total <= KILL else "high" if total >= HIGH else None


# The columns scoring needs, for an articles table aliased `a`.
SCORE_COLUMNS = (
    "a.subject, a.thread_id, u.username AS author_username, g.name AS group_name,"
    " pu.username AS parent_username"
)
SCORE_JOINS = (
    " JOIN groups g ON g.id = a.group_id LEFT JOIN users u ON u.id = a.user_id"
    " LEFT JOIN articles p ON p.id = a.parent_id LEFT JOIN users pu ON pu.id = p.user_id"
)


def scored(row: Row | dict) -> dict:
    return {
        "author": row["author_username"],
        "subject": row["subject"],
        "group": row["group_name"],
        "thread_id": row["thread_id"],
        "parent_author": row["parent_username"],
    }


async def rules_of(conn: Connection, user_id: int) -> list[Rule]:
    rows = await fetch_all(conn, "SELECT * FROM kill_rules WHERE user_id = ? ORDER BY id", (user_id,))
    return [Rule.from_row(r) for r in rows]


async def rules_of_many(conn: Connection, user_ids: Iterable[int]) -> dict[int, list[Rule]]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await fetch_all(
        conn,
        "SELECT * FROM kill_rules WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        ("[" + ",".join(map(str, ids)) + "]",),
    )
    out: dict[int, list[Rule]] = {}
    for row in rows:
        out.setdefault(row["user_id"], []).append(Rule.from_row(row))
    return out


async def killed_ids(conn: Connection, rules: list[Rule], article_ids: Iterable[int]) -> set[int]:
    """Which of these articles the rules hide."""
    ids = sorted(set(article_ids))
    if not rules or not ids:
        return set()
    rows = await fetch_all(
        conn,
        f"SELECT a.id, {SCORE_COLUMNS} FROM articles a{SCORE_JOINS}"
        " WHERE a.id IN (SELECT value FROM json_each(?))",
        ("[" + ",".join(map(str, ids)) + "]",),
    )
    return {r["id"] for r in rows if score(rules, scored(r)) <= KILL}


# Saving rules


def _star_height(parsed: object, depth: int = 0) -> tuple[int, int]:
    """(deepest nesting of repetitions, count of unbounded repetitions) of a parsed pattern."""
    deepest, unbounded = depth, 0
    for op, value in parsed:  # type: ignore[attr-defined]
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = value
            if high == sre_parse.MAXREPEAT:
                unbounded += 1
            d, u = _star_height(sub, depth + 1)
            deepest, unbounded = max(deepest, d), unbounded + u
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            d, u = _star_height(value[-1], depth)
            deepest, unbounded = max(deepest, d), unbounded + u
        elif name == "BRANCH":
            for branch in value[1]:
                d, u = _star_height(branch, depth)
                deepest, unbounded = max(deepest, d), unbounded + u
        elif name in ("GROUPREF", "GROUPREF_EXISTS", "ASSERT", "ASSERT_NOT"):
            raise Invalid("regular expressions may not use back-references or look-arounds")
    return deepest, unbounded


PROBE = """
import re, sys
pattern = re.compile(sys.argv[1], re.IGNORECASE)
letters = "".join(sorted(set(c for c in sys.argv[1] if c.isprintable()))) or "a"
for text in [c * 250 for c in letters + "a0 ."] + [(letters * 250)[:250], ("ab" * 125)]:
    pattern.search(text)
    pattern.search(text + "!")
"""


async def check_regex(pattern: str) -> None:
    """Refuse (400) a pattern that is invalid or could run long (module docstring)."""
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE)
        re.compile(pattern)
    except (re.error, OverflowError) as error:  # OverflowError: a repeat count past what re can count
        raise Invalid(f"not a valid regular expression: {error}") from None
    deepest, unbounded = _star_height(parsed)
    if deepest > 1:
        raise Invalid(
            "a regular expression may not repeat something that repeats (like (a+)*): it can run for ages"
        )
    if unbounded > MAX_REPEATS:
        raise Invalid(f"a regular expression may hold at most {MAX_REPEATS} unbounded repetitions (*, +)")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-c",
        PROBE,
        pattern,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            code = await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise Invalid(
            f"that regular expression is too slow: it ran over {PROBE_SECONDS} s on a long subject"
        ) from None
    if code != 0:
        raise Invalid("that regular expression could not be tried")


async def checked_rule(field: object, pattern: object, regex: object, score_value: object) -> tuple:
    """The (field, pattern, regex, score) of a rule a client sent, or Invalid."""
    if field not in FIELDS:
        raise Invalid(f"field must be one of {', '.join(FIELDS)}")
    if not isinstance(pattern, str) or not pattern.strip():
        raise Invalid("pattern must be non-empty text")
    if len(pattern) > MAX_PATTERN:
        raise TooLarge(f"a pattern is at most {MAX_PATTERN} characters")
    pattern = validate.line(pattern, "pattern", max_len=MAX_PATTERN)
    if regex not in (None, True, False):
        raise Invalid("regex must be true or false")
    regex = bool(regex)
    if regex and field != "subject":
        raise Invalid("only subject rules may be regular expressions")
    if isinstance(score_value, bool) or not isinstance(score_value, int) or abs(score_value) > SCORE_LIMIT:
        raise Invalid(f"score must be an integer from -{SCORE_LIMIT} to {SCORE_LIMIT}")
    pattern = pattern.strip()
    if field in ("author", "replies_to"):
        pattern = validate.username(pattern)
    elif field == "thread":
        pattern = str(validate.integer(pattern, "thread"))
    elif field == "group":
        name = pattern[:-2] if pattern.endswith(".*") else pattern
        pattern = validate.group_name(name) + (".*" if pattern.endswith(".*") else "")
    if regex:
        await check_regex(pattern)
    return field, pattern, regex, score_value


async def add_rule(conn: Connection, user_id: int, rule: tuple) -> Rule:
    """Save a checked rule (checked_rule); at most MAX_RULES per reader (413)."""
    if await fetch_value(conn, "SELECT count(*) FROM kill_rules WHERE user_id = ?", (user_id,)) >= MAX_RULES:
        raise TooLarge(f"a killfile holds at most {MAX_RULES} rules: delete some first")
    field, pattern, regex, value = rule
    cur = await conn.execute(
        "INSERT INTO kill_rules (user_id, field, pattern, regex, score, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (user_id, field, pattern, int(regex), value, clock.now()),
    )
    row = await fetch_one(conn, "SELECT * FROM kill_rules WHERE id = ?", (cur.lastrowid,))
    assert row is not None
    return Rule.from_row(row)


async def delete_rule(conn: Connection, user_id: int, rule_id: object) -> None:
    try:
        rid = validate.integer(rule_id, "rule")
    except Invalid:
        raise NotFound("no such rule of yours") from None
    cur = await conn.execute("DELETE FROM kill_rules WHERE id = ? AND user_id = ?", (rid, user_id))
    if cur.rowcount == 0:
        raise NotFound("no such rule of yours")


async def set_mute(conn: Connection, user_id: int, field: str, pattern: str, on: bool) -> Rule | None:
    """One-click mute (a MUTE rule on an author or a thread) or unmute (its mute rules go)."""
    await conn.execute(
        "DELETE FROM kill_rules WHERE user_id = ? AND field = ? AND pattern = ? AND score = ?",
        (user_id, field, pattern, MUTE),
    )
    if not on:
        return None
    return await add_rule(conn, user_id, (field, pattern, False, MUTE))


async def mutes(conn: Connection, user_id: int, field: str, pattern: str) -> bool:
    return (
        await fetch_value(
            conn,
            "SELECT 1 FROM kill_rules WHERE user_id = ? AND field = ? AND pattern = ? AND score = ?",
            (user_id, field, pattern, MUTE),
        )
        is not None
    )
