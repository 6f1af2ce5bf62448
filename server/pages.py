"""Reading pages and the fragments live updates fetch (API.md, Pages).

Every page reads through the same domain functions as the JSON API; the
templates render it, and a fragment is the same template piece a page uses,
so each thing is rendered in one place."""

from __future__ import annotations

import importlib
from itertools import groupby
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import groups, months, newsrc, posting, reading, render, validate
from .db import fetch_all
from .errors import Invalid, NotFound
from .permissions import can, require
from .web import page

THREAD_PAGE = 200  # articles per thread page: validate.PAGE_MAX, the API's own ceiling
GROUP_PAGE = 50


def optional(name: str):
    """A server module that may not be part of this build (search, modlog...),
    looked up when a page needs it: the page says so instead of failing."""
    try:
        return importlib.import_module(f"server.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"server.{name}":
            raise
        return None


def _site(request: Request):
    return request.app.state.site


def _query(**params) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(clean) if clean else ""


# The reply tree, laid out without recursion (a 1,000-deep argument must not
# hit Python's recursion limit): each article says how many open levels to
# close before it, whether it opens a level for its replies, and how many
# replies that level holds on this page.

def layout(page_articles: list[dict]) -> tuple[list[dict], int]:
    """`[{article, close_before, opens, replies, parent}]` and the levels left
    open after the last one. An article whose parent is not on this page
    starts at the top level; `parent` is the parent on the page, or None;
    `replies` counts the article's replies (all levels) on this page."""
    by_id = {a["id"]: a for a in page_articles}
    items: list[dict] = []
    stack: list[int] = []  # indexes of the articles whose level of replies is open
    for index, article in enumerate(page_articles):
        close = 0
        while stack and page_articles[stack[-1]]["id"] != article["parent_id"]:
            opened = stack.pop()
            items[opened]["replies"] = index - opened - 1
            close += 1
        nxt = page_articles[index + 1] if index + 1 < len(page_articles) else None
        opens = nxt is not None and nxt["parent_id"] == article["id"]
        items.append({"article": article, "close_before": close, "opens": opens, "replies": 0,
                      "parent": by_id.get(article["parent_id"])})
        if opens:
            stack.append(index)
    left = len(stack)
    while stack:
        opened = stack.pop()
        items[opened]["replies"] = len(items) - opened - 1
    return items, left


async def _parents_off_page(conn, page_articles: list[dict]) -> dict[int, dict]:
    """The parents of articles whose parent is on an earlier page (few: at most
    the depth of the page boundary), so "in reply to" can name them."""
    on_page = {a["id"] for a in page_articles}
    missing = {a["parent_id"] for a in page_articles
               if a["parent_id"] is not None and a["parent_id"] not in on_page}
    found = {}
    for parent_id in sorted(missing)[:64]:
        try:
            found[parent_id] = await reading.get_article(conn, parent_id)
        except NotFound:
            continue
    return found


def subject_changed(article: dict, parent: dict | None) -> bool:
    """Whether a reply changed the subject (a drift worth showing, and a split hint)."""
    if parent is None:
        return article["parent_id"] is None
    return article["subject"] != posting.reply_subject(parent["subject"])


# Pages

async def home(request: Request) -> Response:
    site = _site(request)
    user = await site.user(request)
    async with site.db.read() as conn:
        all_groups = await groups.list_groups(conn)
        unread = await newsrc.unread_counts(conn, user.id) if user else {}
    for g in all_groups:
        g["unread"] = unread.get(g["name"], 0)
    names = {g["name"] for g in all_groups}
    for g in all_groups:  # indent under the listed groups whose name this one extends
        g["level"] = sum(1 for i, c in enumerate(g["name"]) if c == "." and g["name"][:i] in names)
    sections = [(top, list(members)) for top, members in
                groupby(all_groups, key=lambda g: g["name"].split(".")[0])]
    return await page(request, "home.html", {"sections": sections, "canonical": "/"})


async def group_page(request: Request) -> Response:
    name = request.path_params["name"]
    cursor = request.query_params.get("cursor")
    async with _site(request).db.read() as conn:
        since = await _last_event_id(conn)
        row = await groups.get_group_row(conn, name)
        group = groups.group_json(row)
        listing = await reading.list_threads(conn, row, state="open", limit=GROUP_PAGE,
                                             cursor=cursor)
        references = await _reference_threads(conn, row) if not cursor else []
        user = await _site(request).user(request)
        seen = await newsrc.seen_number(conn, user.id, row["id"]) if user else None
    if seen is not None and seen < row["last_number"]:  # the reader has now seen the group
        async with _site(request).db.transaction() as conn:
            await newsrc.mark_seen(conn, user.id, row["id"], row["last_number"])
    return await page(request, "group.html", {
        "group": group, "threads": listing["threads"], "references": references, "since": since,
        "older": _query(cursor=listing["next_cursor"]) if listing["next_cursor"] else None,
        "first_page": not cursor, "canonical": f"/g/{group['name']}" + _query(cursor=cursor)})


async def _reference_threads(conn, group_row) -> list[dict]:
    """The group's "read these first" shelf, from the maintenance module when
    it offers one."""
    shelf = optional("maintenance")
    if shelf is not None and hasattr(shelf, "reference_threads"):
        return await shelf.reference_threads(conn, group_row)
    # No domain read offers the shelf yet: one bounded read of the group's
    # threads flagged as references (a shelf holds a handful).
    rows = await fetch_all(conn, reading.THREAD_SELECT + " WHERE t.group_id = ? AND t.is_reference = 1"
                           " AND t.merged_into_thread_id IS NULL ORDER BY t.created_at LIMIT 20",
                           (group_row["id"],))
    return [reading.thread_json(r) for r in rows]


async def archive_page(request: Request) -> Response:
    name = request.path_params["name"]
    year, month = request.path_params.get("year"), request.path_params.get("month")
    cursor = request.query_params.get("cursor")
    period = None
    if year is not None:
        period = (validate.integer(year, "year", minimum=1970, maximum=9999),
                  validate.integer(month, "month", minimum=1, maximum=12))
    async with _site(request).db.read() as conn:
        row = await groups.get_group_row(conn, name)
        month_list = await months.periods(conn, row)
        if period is not None:
            listing = await months.archived_threads(conn, row, period[0], period[1],
                                                     limit=GROUP_PAGE, cursor=cursor)
        else:
            listing = await reading.list_threads(conn, row, state="archived", limit=GROUP_PAGE,
                                                 cursor=cursor)
    canonical = f"/g/{name}/archive" + (f"/{period[0]:04d}/{period[1]:02d}" if period else "")
    return await page(request, "archive.html", {
        "group": groups.group_json(row), "threads": listing["threads"], "months": month_list,
        "period": period, "canonical": canonical + _query(cursor=cursor),
        "older": _query(cursor=listing.get("next_cursor")) if listing.get("next_cursor") else None})


async def thread_page(request: Request) -> Response:
    view = request.query_params.get("view", "tree")
    if view not in ("tree", "flat"):
        raise Invalid("view is tree or flat")
    cursor = request.query_params.get("cursor")
    site = _site(request)
    user = await site.user(request)
    async with site.db.read() as conn:
        since = await _last_event_id(conn)
        result = await reading.thread_page(conn, request.path_params["id"], limit=THREAD_PAGE,
                                           cursor=cursor)
        thread = result["thread"]
        group = await groups.get_group(conn, thread["group"])
        off_page = await _parents_off_page(conn, result["articles"])
        suggestions, group_names = None, []
        if can(user, "moderate"):
            suggestions = await _split_suggestions(conn, thread)
            group_names = [g["name"] for g in await groups.list_groups(conn)]
    if view == "flat":
        items = [{"article": a, "close_before": 0, "opens": False, "replies": 0,
                  "parent": None} for a in sorted(result["articles"],
                                                  key=lambda a: (a["created_at"], a["id"]))]
        left = 0
    else:
        items, left = layout(result["articles"])
    names = {a["id"]: a for a in result["articles"]}
    names.update(off_page)
    for item in items:
        item["parent"] = names.get(item["article"]["parent_id"])
        item["subject_changed"] = subject_changed(item["article"], item["parent"])
    base = f"/t/{thread['id']}"
    return await page(request, "thread.html", {
        "thread": thread, "group": group, "items": items, "left_open": left, "view": view,
        "since": since, "suggestions": suggestions, "group_names": group_names,
        "next_page": base + _query(view=None if view == "tree" else view,
                                   cursor=result["next_cursor"]) if result["next_cursor"] else None,
        "first_page": not cursor,
        "canonical": base + _query(cursor=cursor)})


async def _last_event_id(conn) -> int:
    """The newest outbox id, read before the page's data: the live client
    resumes after it, and ignores articles it already shows."""
    live_hub = optional("hub")
    return await live_hub.last_event_id(conn) if live_hub is not None else 0


async def _split_suggestions(conn, thread: dict):
    suggestions = optional("suggestions")
    if suggestions is None:
        return None
    return (await suggestions.split_suggestions(conn, thread["id"]))["suggestions"]


async def article_fragment(request: Request) -> Response:
    """One article as the thread page renders it, for a live insert or update."""
    site = _site(request)
    async with site.db.read() as conn:
        thread = await reading.get_thread(conn, request.path_params["id"])
        article = await reading.get_article(conn, request.path_params["article_id"])
        if article["thread_id"] != thread["id"]:
            raise NotFound("that article is not in this thread now")
        parent = None
        if article["parent_id"] is not None:
            parent = await reading.get_article(conn, article["parent_id"])
    item = {"article": article, "close_before": 0, "opens": False, "replies": 0,
            "parent": parent, "subject_changed": subject_changed(article, parent)}
    return await page(request, "fragment_article.html", {"thread": thread, "item": item})


# Counting a sub-tree for the split preview reads it page by page through the
# tree index; past this many pages (10,000 articles) the preview says "N+".
PREVIEW_PAGES = 50


async def subtree_size(conn, thread_id: int, article: dict, root_path: str) -> tuple[int, bool]:
    """Articles in the sub-tree under `article` (itself included), and whether
    counting stopped early. The sub-tree is the run after it that is deeper."""
    count, cursor = 1, root_path
    for _ in range(PREVIEW_PAGES):
        result = await reading.thread_page(conn, thread_id, limit=THREAD_PAGE, cursor=cursor)
        for later in result["articles"]:
            if later["depth"] <= article["depth"]:
                return count, False
            count += 1
        cursor = result["next_cursor"]
        if cursor is None:
            return count, False
    return count, True


async def split_preview(request: Request) -> Response:
    """What a split from `?article=` would do: how many articles move, where, under what subject."""
    site = _site(request)
    require(await site.user(request), "moderate")
    q = request.query_params
    async with site.db.read() as conn:
        thread = await reading.get_thread(conn, request.path_params["id"])
        row = await reading.article_row(conn, q.get("article"))
        if row["thread_id"] != thread["id"]:
            raise NotFound("that article is not in this thread now")
        article = reading.article_json(row)
        group = await groups.get_group(conn, q.get("group") or thread["group"])
        count, more = await subtree_size(conn, thread["id"], article, row["path"])
    suggestions = optional("suggestions")
    subject = (q.get("subject") or "").strip() or (
        suggestions.base_subject(article["subject"]) if suggestions else article["subject"])
    return await page(request, "split_preview.html", {
        "count": count, "more": more, "group": group["name"], "subject": subject})


async def permalink(request: Request) -> Response:
    """/m/{message-id}: wherever the article lives now (a split moves it)."""
    ref = request.path_params["mid"].strip()
    if not ref.startswith("<"):
        ref = f"<{ref}>"
    try:
        ref = validate.message_id(ref)
    except Invalid:
        raise NotFound("no article has that Message-ID") from None
    async with _site(request).db.read() as conn:
        article = await reading.get_article(conn, ref)
    return RedirectResponse(f"/t/{article['thread_id']}#a{article['id']}", status_code=302)


async def search_page(request: Request) -> Response:
    q = request.query_params
    query = q.get("q", "").strip()
    search = optional("search")
    results, next_cursor, available = [], None, search is not None
    if query and available:
        parsed = search.with_params(search.parse(query), group=q.get("group"),
                                    author=q.get("author"), state=q.get("state"))
        async with _site(request).db.read() as conn:
            found = await search.search(conn, parsed, limit=25, cursor=q.get("cursor"))
        results, next_cursor = found["results"], found.get("next_cursor")
        for result in results:
            result["snippet"] = render.snippet_html(result["snippet"])
    return await page(request, "search.html", {
        "query": query, "group_filter": q.get("group", ""), "results": results,
        "available": available,
        "more": _query(q=query, group=q.get("group"), cursor=next_cursor) if next_cursor else None})


async def modlog_page(request: Request) -> Response:
    q = request.query_params
    log = optional("modlog")
    entries, next_cursor = [], None
    if log is not None:
        async with _site(request).db.read() as conn:
            listing = await log.list_entries(conn, group=q.get("group"), limit=50,
                                             cursor=q.get("cursor"))
        entries, next_cursor = listing["entries"], listing["next_cursor"]
    return await page(request, "modlog.html", {
        "entries": entries, "available": log is not None, "group_filter": q.get("group", ""),
        "canonical": "/modlog" + _query(group=q.get("group"), cursor=q.get("cursor")),
        "older": _query(group=q.get("group"), cursor=next_cursor) if next_cursor else None})


async def proposals_page(request: Request) -> Response:
    proposals = optional("proposals")
    threshold = _site(request).config.proposal_threshold
    listing = None
    if proposals is not None:
        async with _site(request).db.read() as conn:
            listing = await proposals.list_proposals(conn, threshold)
    return await page(request, "proposals.html", {
        "proposals": listing or [], "available": listing is not None,
        "threshold": threshold, "canonical": "/proposals"})


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico on pages that name no icon (a feed, say)."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


routes = [
    Route("/", home),
    Route("/favicon.ico", favicon),
    Route("/g/{name}", group_page),
    Route("/g/{name}/archive", archive_page),
    Route("/g/{name}/archive/{year:int}/{month:int}", archive_page),
    Route("/t/{id:int}", thread_page),
    Route("/t/{id:int}/fragment/a/{article_id:int}", article_fragment),
    Route("/t/{id:int}/fragment/split-preview", split_preview),
    Route("/m/{mid:path}", permalink),
    Route("/search", search_page),
    Route("/modlog", modlog_page),
    Route("/proposals", proposals_page),
]
