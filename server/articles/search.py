"""Full-text search: a pure query parser that turns any user string into safe
FTS5 syntax, and the ranked, keyset-paginated query behind /api/search.

Query language: free words and "quoted phrases" must all match; `-word`
excludes; `word*` matches a prefix; filters `group:NAME` (or `group:comp.lang.*`),
`author:WHO` (username, display name or address), `after:DATE` (on or after
the start of DATE), `before:DATE` (before the start of DATE), with DATE as
YYYY, YYYY-MM or YYYY-MM-DD, and `is:archived` / `is:open`. Every term reaches
MATCH as a quoted FTS5 string, so no input can be read as FTS5 syntax."""

from __future__ import annotations

import base64
import binascii
import datetime
import html
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from sqlite3 import Row

from aiosqlite import Connection

from ..store import keyset, validate
from ..store.db import fetch_all, fetch_one
from ..store.errors import Invalid
from .reading import ARTICLE_SELECT, article_json

QUERY_MAX = 500
TERMS_MAX = 16
DEFAULT_LIMIT = 20
COUNT_MAX = 1000
# bm25 column weights (subject, body, author_name): a word in the subject says
# more about what an article is about than the same word deep in its body.
WEIGHTS = (8.0, 1.0, 4.0)
SNIPPET_TOKENS = 24
SNIPPET_LEAD = 4  # words shown before the first match of a snippet
SNIPPET_SCAN = 16 * 1024  # characters of a body a snippet looks at
HITS_MAX = 200  # matches of one body a snippet weighs
SNIPPET_PLAIN_CHARS = 200
# Ranking reads every match it ranks, so it ranks the newest 2,000 at most:
# on a 1M-article archive that keeps the first page near 10 ms.
WINDOW = 2000
# Matches in at least 1 of 20 recent articles: the words are common ones
# (bm25 gives them almost no weight), so such queries list newest first.
BROAD = 0.05

_FILTERS = ("group", "author", "after", "before", "is")
# Characters no query or snippet carries: C0/C1 controls, surrogates, U+E000-1.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ue000\ue001]")
_DATE = re.compile(r"(\d{4})(?:-(\d\d)(?:-(\d\d))?)?\Z")
_GROUP_PATTERN = re.compile(r"(.+)\.\*\Z")
_QUOTED = re.compile(r"\s*>")
_COMBINING = re.compile(r"[\u0300-\u036f]")
# A token as unicode61 sees one: letters, digits, marks and private-use characters.
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f\ue000-\uf8ff])+")


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False
    prefix: bool = False
    negated: bool = False


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...] = ()
    group: str | None = None  # exact name, or a hierarchy prefix ending in '.'
    author: str | None = None
    after: str | None = None  # stored-time lower bound, inclusive
    before: str | None = None  # stored-time upper bound, exclusive
    state: str | None = None  # 'archived' or 'open'

    @property
    def ranked(self) -> bool:
        """Ranked by relevance when there is something to match; else newest first."""
        return any(not t.negated for t in self.terms)


def _has_token(text: str) -> bool:
    """Whether FTS5's unicode61 tokenizer would find a token (letters, digits, private use)."""
    return any(unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Co" for ch in text)


def _tokens(text: str) -> Iterator[tuple[bool, str | None, str, bool]]:
    """Split into (negated, key, value, phrase) tokens; quotes group words, even unterminated."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if negated:
            i += 1
        key = None
        m = re.match(r"([A-Za-z]+):(?=\S)", text[i:])
        if m and m[1].lower() in _FILTERS:
            key = m[1].lower()
            i += m.end()
        if i < n and text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            yield negated, key, text[i + 1 : end], True
            i = end + 1
        else:
            word = re.match(r"\S+", text[i:])
            assert word is not None  # text[i] is not whitespace: skipped above, or \S after '-' or 'key:'
            yield negated, key, word[0], False
            i += word.end()


def parse_date(value: str, what: str) -> str:
    """YYYY, YYYY-MM or YYYY-MM-DD as the stored time at the start of that period.
    `what` names the filter (`before`, `after`) in the error text."""
    m = _DATE.match(value.strip())
    if not m:
        raise Invalid(f"the {what} date must be written YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
    try:
        datetime.date(year, month, day)
    except ValueError:
        raise Invalid(f"the {what} date {value.strip()} is not a real date") from None
    if year < 1000:
        raise Invalid(f"the {what} date must be in the year 1000 or later")
    return f"{year:04d}-{month:02d}-{day:02d}T00:00:00.000Z"


def parse_group(value: str) -> str | None:
    """A group name, or `hier.archy.*` for every group below a prefix (returned
    as 'hier.archy.'), or `*` for every group (None). Group names are lower
    case, so the case typed does not matter."""
    value = value.strip().lower()
    if value == "*":
        return None
    m = _GROUP_PATTERN.match(value)
    if m:
        return validate.group_name(m[1]) + "."
    return validate.group_name(value)


def parse_state(value: str) -> str:
    value = value.strip().lower()
    if value not in ("archived", "open"):
        raise Invalid("is: takes archived or open")
    return value


def parse(text: object) -> Query:
    """Parse a user's search string. Raises Invalid only for over-long queries
    and for a known filter with an unusable value; anything else is searched for."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise Invalid("q must be a string")
    if len(text) > QUERY_MAX:
        raise Invalid(f"the query is longer than {QUERY_MAX} characters")
    text = _UNSAFE.sub(" ", text)
    terms: list[Term] = []
    filters: dict[str, str | None] = {}
    for negated, key, value, phrase in _tokens(text):
        if key is not None and not negated:
            if key == "group":
                filters["group"] = parse_group(value)
            elif key == "author":
                value = " ".join(value.split())
                if value:
                    filters["author"] = value[: validate.MESSAGE_ID_MAX]
            elif key in ("after", "before"):
                filters[key] = parse_date(value, key)
            else:
                filters["state"] = parse_state(value)
            continue
        if key is not None:  # a negated filter is not a filter: search its words
            value = f"{key}:{value}"
        prefix = not phrase and value.endswith("*")
        value = value.rstrip("*") if prefix else value
        if not _has_token(value):
            continue
        terms.append(Term(value, phrase=phrase, prefix=prefix, negated=negated))
    if len(terms) > TERMS_MAX:
        raise Invalid(f"the query has more than {TERMS_MAX} words and phrases")
    return Query(terms=tuple(terms), **filters)


def quote(text: str) -> str:
    """An FTS5 string literal: the only FTS5 syntax user text ever becomes."""
    return '"' + text.replace('"', '""') + '"'


def match_expression(query: Query, author_column: str | None = None) -> str | None:
    """The MATCH string for a query (None when there is nothing to match).
    `author_column` adds an author phrase restricted to that FTS column."""
    positive = [quote(t.text) + (" *" if t.prefix else "") for t in query.terms if not t.negated]
    if author_column is not None and query.author and _has_token(query.author):
        positive.append(f"{author_column} : {quote(query.author)}")
    if not positive:
        return None
    expr = "(" + " AND ".join(positive) + ")"
    for t in query.terms:
        if t.negated:
            expr += " NOT " + quote(t.text) + (" *" if t.prefix else "")
    return expr


def _fold(text: str) -> str:
    """Text as FTS5's unicode61 tokenizer compares it: case and diacritics folded."""
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))


def own_text(body: str) -> str:
    """The author's own words: the body without quoted lines, the attribution
    lines that introduce them ("On …, Ada wrote:") and the signature."""
    lines = body.split("\n")
    kept = []
    for n, line in enumerate(lines):
        if line == "-- ":
            break
        if _QUOTED.match(line):
            continue
        if line.rstrip().endswith(":") and _QUOTED.match(next((x for x in lines[n + 1 :] if x.strip()), "")):
            continue
        kept.append(line)
    return "\n".join(kept)


Wanted = list[tuple[list[str], bool]]  # each positive term: its folded words, and whether a prefix


def _hits(words: list[str], wanted: Wanted) -> list[tuple[int, int, int]]:
    """(first word, end word, term number) of the first HITS_MAX places a term matches."""
    at: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        at.setdefault(word, []).append(i)
    hits = []
    for n, (want, prefix) in enumerate(wanted):
        last = len(want) - 1
        starts = at.get(want[0], [])
        if prefix and not last:
            starts = sorted(i for word, found in at.items() if word.startswith(want[0]) for i in found)
        for i in starts[:HITS_MAX]:
            got = words[i : i + len(want)]
            whole = len(got) == len(want) and got[:last] == want[:last]
            if whole and (got[last] == want[last] or (prefix and got[last].startswith(want[last]))):
                hits.append((i, i + len(want), n))
    return sorted(hits)[:HITS_MAX]


def _best_window(text: str, wanted: Wanted) -> str | None:
    """HTML for the SNIPPET_TOKENS words of `text` holding the most different
    terms (earliest first), matches in <mark>; None when no term matches."""
    folded = _fold(text)
    if not any(want[0] in folded for want, _ in wanted):
        return None  # the common case of a text without the words, at the speed of `in`
    found = list(_WORD.finditer(text))
    spans = [m.span() for m in found]
    hits = _hits([_fold(m[0]) for m in found], wanted)
    if not hits:
        return None
    span = SNIPPET_TOKENS - SNIPPET_LEAD
    best = max(hits, key=lambda h: (len({n for i, _, n in hits if h[0] <= i < h[0] + span}), -h[0]))
    first = max(0, min(best[0] - SNIPPET_LEAD, len(spans) - SNIPPET_TOKENS))
    end = min(len(spans), first + SNIPPET_TOKENS)
    out, pos = ["…" if first else ""], spans[first][0] if first else 0
    for i, stop, _ in hits:
        start, close = spans[i][0], spans[stop - 1][1]
        if first <= i and stop <= end and start >= pos:
            out += [html.escape(text[pos:start]), "<mark>", html.escape(text[start:close]), "</mark>"]
            pos = close
    cut = end < len(spans)
    out += [html.escape(text[pos : spans[end - 1][1]] if cut else text[pos:]), "…" if cut else ""]
    return "".join(out)


def snippet(body: str, terms: Sequence[Term] = ()) -> str:
    """HTML-safe snippet of an article's body, preferring the author's own
    words: the best window of matches in them, else in the quoted text the
    match came from, else the start of the author's words. Computed here from
    the body rather than by FTS5's snippet(), whose window falls wherever the
    index's text (quotes included) scores best."""
    body = body[:SNIPPET_SCAN]
    own = own_text(body)
    wanted = [
        (w, t.prefix)
        for t in terms
        if not t.negated and (w := _fold(" ".join(_WORD.findall(t.text))).split())
    ]
    for text in (own, body) if wanted else ():
        found = _best_window(" ".join(_UNSAFE.sub(" ", text).split()), wanted)
        if found:
            return found
    return plain_snippet(own if own.strip() else body)


def plain_snippet(body: str) -> str:
    text = " ".join(body.split())
    if len(text) > SNIPPET_PLAIN_CHARS:
        text = text[:SNIPPET_PLAIN_CHARS].rsplit(" ", 1)[0] + "…"
    return html.escape(_UNSAFE.sub(" ", text), quote=True)


def encode_cursor(kind: str, key: object, article_id: int, floor: int = 0) -> str:
    raw = json.dumps([kind, key, article_id, floor], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: object, kind: str) -> tuple[float | str, int, int]:
    """(key, id, floor) from a cursor this server issued for the same kind of result list."""
    bad = Invalid("cursor is not one this server issued")
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_kind, key, article_id, floor = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if got_kind != kind or type(article_id) is not int or not 0 < article_id < 2**62:
        raise bad
    if type(floor) is not int or not 0 <= floor < 2**62:
        raise bad
    # A rank is a float; an integer is bound as SQLite's (64 bits), beyond which it cannot be.
    if kind == "r" and not (
        (type(key) is float and math.isfinite(key)) or (type(key) is int and abs(key) <= validate.ID_MAX)
    ):
        raise bad
    if kind == "d" and not (isinstance(key, str) and len(key) == 24):
        raise bad
    return key, article_id, floor


def with_params(
    query: Query,
    *,
    group: str | None = None,
    author: str | None = None,
    after: str | None = None,
    before: str | None = None,
    state: str | None = None,
) -> Query:
    """Apply the API's separate filter parameters on top of the parsed query."""
    return replace(
        query,
        group=parse_group(group) if group else query.group,
        author=(" ".join(author.split())[: validate.MESSAGE_ID_MAX] or None) if author else query.author,
        after=parse_date(after, "after") if after else query.after,
        before=parse_date(before, "before") if before else query.before,
        state=parse_state(state) if state else query.state,
    )


async def _author_clause(conn: Connection, author: str) -> tuple[str | None, list[object], bool]:
    """How to filter by author: an exact username, an address, or the indexed display name."""
    row = await fetch_one(conn, "SELECT id FROM users WHERE username = ?", (author.lower(),))
    if row is not None:
        return "a.user_id = ?", [row["id"]], False
    if "@" in author:
        return "a.author_addr = ? COLLATE NOCASE", [author], False
    return None, [], True


@dataclass(frozen=True)
class Filters:
    """The SQL of a query's filters: conditions on `a` (articles) with their
    parameters, the joins they need, and whether the author is matched in the
    full-text index rather than by address."""

    where: list[str]
    params: list[object]
    joins: list[str]
    author_in_fts: bool


async def _filters(conn: Connection, query: Query) -> Filters | None:
    """The query's filters; None when nothing can match."""
    where: list[str] = []
    params: list[object] = []
    joins: list[str] = []
    if query.group:
        if query.group.endswith("."):
            where.append("a.group_id IN (SELECT id FROM groups WHERE substr(name, 1, ?) = ?)")
            params += [len(query.group), query.group]
        else:
            where.append("a.group_id = (SELECT id FROM groups WHERE name = ?)")
            params.append(query.group)
    author_in_fts = False
    if query.author:
        clause, extra, author_in_fts = await _author_clause(conn, query.author)
        if author_in_fts and not _has_token(query.author):
            return None
        if clause:
            where.append(clause)
            params += extra
    if query.after:
        where.append("a.created_at >= ?")
        params.append(query.after)
    if query.before:
        where.append("a.created_at < ?")
        params.append(query.before)
    if query.state:
        joins.append("JOIN threads t ON t.id = a.thread_id")
        where.append("t.state = 'archived'" if query.state == "archived" else "t.state <> 'archived'")
    return Filters(where, params, joins, author_in_fts)


def parse_sort(value: object) -> str:
    if value in (None, "", "relevance"):
        return "relevance"
    if value != "newest":
        raise Invalid("sort takes relevance or newest")
    return "newest"


async def search(
    conn: Connection, query: Query, *, limit: object = None, cursor: str | None = None, sort: object = None
) -> dict:
    """One page of results: `{results: [{article, snippet}], next_cursor, order}`;
    `order` is `relevance` (bm25 among the newest WINDOW matches) when there
    are words to rank by and `sort` is not `newest`, else `newest` (asked
    for, filters only, common words or a prefix)."""
    limit = validate.limit(limit, default=DEFAULT_LIMIT)
    newest = parse_sort(sort) == "newest"
    filters = await _filters(conn, query)
    if filters is None:
        return {"results": [], "next_cursor": None, "order": "newest"}
    expr = match_expression(query, "author_name" if filters.author_in_fts else None)
    if query.ranked:
        assert expr is not None  # a ranked query has a word that is not negated
        newest = newest or any(t.prefix for t in query.terms if not t.negated)
        return await _ranked(conn, expr, filters, limit, cursor, query.terms, newest)
    return await _newest(conn, query, expr, filters, limit, cursor)


async def _window(conn: Connection, source: str, where: list[str], args: list[object]) -> tuple[int, bool]:
    """(floor, broad): rank only matches with ids from `floor` on (the newest
    WINDOW); `broad` when they are so dense among recent articles that the
    query says little about relevance."""
    row = await fetch_one(
        conn,
        f"SELECT articles_fts.rowid FROM {source} WHERE "
        + " AND ".join(where)
        + " ORDER BY articles_fts.rowid DESC LIMIT 1 OFFSET ?",
        (*args, WINDOW - 1),
    )
    if row is None:
        return 0, False
    top = await fetch_one(conn, "SELECT max(id) FROM articles")
    assert top is not None  # an aggregate without GROUP BY always gives one row
    return row[0], WINDOW / (top[0] - row[0] + 1) >= BROAD


async def _ranked(
    conn: Connection,
    expr: str,
    filters: Filters,
    limit: int,
    cursor: str | None,
    terms: Sequence[Term],
    newest: bool = False,
) -> dict:
    """bm25 costs a pass over every match (and a whole-index count per phrase
    for its weights), so a query is ranked within its newest WINDOW matches,
    and a broad one (common words) lists its matches newest first instead, as
    does a prefix search (without a prefix index every bm25 weight would merge
    the lists of every word the prefix starts: hundreds of ms) and a query
    with `newest` asked for. Newest first is by article id, the order the
    index can be read in without a pass over every match."""
    score = "bm25(articles_fts, {}, {}, {})".format(*WEIGHTS)
    # CROSS JOIN keeps the full-text index as the outer loop: any other order
    # would look the query up once per article the filters let through.
    source = "articles_fts"
    if filters.where:
        source += " CROSS JOIN articles a ON a.id = articles_fts.rowid " + " ".join(filters.joins)
    sql_where = ["articles_fts MATCH ?", *filters.where]
    args = [expr, *filters.params]
    kind = "r"
    if cursor:
        kind = "n" if newest or _cursor_kind(cursor) == "n" else "r"
        key, after_id, floor = decode_cursor(cursor, kind)
    elif newest:
        floor, kind = 0, "n"
    else:
        floor, broad = await _window(conn, source, sql_where, args)
        kind = "n" if broad else "r"
    rows: Sequence[Row]
    if kind == "n":
        if cursor:
            sql_where.append("articles_fts.rowid < ?")
            args.append(after_id)
        rows = await fetch_all(
            conn,
            f"SELECT articles_fts.rowid AS id, 0 AS score FROM {source} WHERE "
            + " AND ".join(sql_where)
            + " ORDER BY articles_fts.rowid DESC LIMIT ?",
            (*args, limit + 1),
        )
    else:
        if floor:
            sql_where.append("articles_fts.rowid >= ?")
            args.append(floor)
        if cursor:
            sql_where.append(f"({score} > ? OR ({score} = ? AND articles_fts.rowid > ?))")
            args += [key, key, after_id]
        rows = await fetch_all(
            conn,
            f"SELECT articles_fts.rowid AS id, {score} AS score FROM {source} WHERE "
            + " AND ".join(sql_where)
            + " ORDER BY score, articles_fts.rowid LIMIT ?",
            (*args, limit + 1),
        )
    rows, more = keyset.split_page(rows, limit)
    articles = await _articles(conn, [r["id"] for r in rows])
    results = [
        {"article": article_json(articles[r["id"]]), "snippet": snippet(articles[r["id"]]["body"], terms)}
        for r in rows
        if r["id"] in articles
    ]
    next_cursor = None
    if more:
        next_cursor = encode_cursor(kind, rows[-1]["score"] if kind == "r" else 0, rows[-1]["id"], floor)
    return {"results": results, "next_cursor": next_cursor, "order": "relevance" if kind == "r" else "newest"}


def _cursor_kind(cursor: str) -> str | None:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[0]
    except Exception:  # any forgery: decode_cursor says so with a clear error
        return None


def _matching(query: Query, expr: str | None, filters: Filters) -> tuple[str, list[str], list[object]]:
    """(source, where, args) selecting every article the query matches, in no order."""
    negations = [t for t in query.terms if t.negated]
    sql_where, args = list(filters.where), list(filters.params)
    source = "articles a"
    if expr is not None:
        source = "articles_fts CROSS JOIN articles a ON a.id = articles_fts.rowid"
        sql_where.insert(0, "articles_fts MATCH ?")
        args.insert(0, expr)
    else:
        sql_where.append("a.status = 'ok'")
    if negations and expr is None:
        # Only negated words and filters: there is nothing to rank, so exclude by subquery.
        neg = " OR ".join(quote(t.text) + (" *" if t.prefix else "") for t in negations)
        sql_where.append("a.id NOT IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?)")
        args.append(neg)
    return source, sql_where, args


async def count(conn: Connection, query: Query) -> int:
    """How many articles the query matches, counted up to COUNT_MAX + 1 (a
    page says "more than COUNT_MAX" then: counting costs a pass over the matches)."""
    filters = await _filters(conn, query)
    if filters is None:
        return 0
    expr = match_expression(query, "author_name" if filters.author_in_fts else None)
    source, sql_where, args = _matching(query, expr, filters)
    row = await fetch_one(
        conn,
        f"SELECT count(*) FROM (SELECT 1 FROM {source} "
        + " ".join(filters.joins)
        + (" WHERE " + " AND ".join(sql_where) if sql_where else "")
        + " LIMIT ?)",
        (*args, COUNT_MAX + 1),
    )
    assert row is not None  # an aggregate without GROUP BY always gives one row
    return int(row[0])


async def threads_of(conn: Connection, thread_ids: Iterable[int]) -> dict[int, Row]:
    """Subject and state of each of these threads, for results grouped by thread."""
    ids = sorted(set(thread_ids))
    if not ids:
        return {}
    rows = await fetch_all(
        conn, f"SELECT id, subject, state FROM threads WHERE id IN ({','.join('?' * len(ids))})", ids
    )
    return {r["id"]: r for r in rows}


async def _newest(
    conn: Connection, query: Query, expr: str | None, filters: Filters, limit: int, cursor: str | None
) -> dict:
    source, sql_where, args = _matching(query, expr, filters)
    if cursor:
        key, after_id, _ = decode_cursor(cursor, "d")
        sql_where.append("(a.created_at, a.id) < (?, ?)")
        args += [key, after_id]
    rows: Sequence[Row] = await fetch_all(
        conn,
        f"SELECT a.id, a.created_at FROM {source} "
        + " ".join(filters.joins)
        + (" WHERE " + " AND ".join(sql_where) if sql_where else "")
        + " ORDER BY a.created_at DESC, a.id DESC LIMIT ?",
        (*args, limit + 1),
    )
    rows, more = keyset.split_page(rows, limit)
    articles = await _articles(conn, [r["id"] for r in rows])
    results = [
        {"article": article_json(articles[r["id"]]), "snippet": snippet(articles[r["id"]]["body"])}
        for r in rows
        if r["id"] in articles
    ]
    next_cursor = encode_cursor("d", rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return {"results": results, "next_cursor": next_cursor, "order": "newest"}


async def _articles(conn: Connection, ids: list[int]) -> dict[int, Row]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = await fetch_all(conn, ARTICLE_SELECT + f" WHERE a.id IN ({marks})", ids)
    return {r["id"]: r for r in rows}
