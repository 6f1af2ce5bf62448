"""Reading over HTTP: groups, thread lists, threads and articles as JSON
(cached until an event touches them) and as pages, the fragments live
updates fetch, and permalinks. Every page reads through the same domain
functions as the JSON; a fragment is the template piece its page uses."""

from __future__ import annotations

from itertools import groupby

from aiosqlite import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import groups, mailing, newsrc, reading, suggestions, validate
from ..errors import Invalid, NotFound
from ..events import group_topic, thread_topic
from ..hub import last_event_id
from ..permissions import User, can
from ..response_cache import ANY_EVENT
from ..subjects import reply_subject
from .caching import cached_json, cached_page
from .common import current_user, page, query_string, site_of

THREAD_PAGE = 200  # articles per thread page: validate.PAGE_MAX, the API's own ceiling
GROUP_PAGE = 50


async def health(request: Request) -> Response:
    """Liveness for load balancers; also the framework's ceiling in the benchmarks."""
    return JSONResponse({"status": "ok"})


# JSON

async def list_groups(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        return JSONResponse({"groups": await groups.list_groups(conn)})


async def get_group(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        group = await groups.get_group(conn, request.path_params["name"])
    # The group's posting address (groups by email); beside the group, whose shape events share.
    address = mailing.group_address(group["name"], site_of(request).config.list_domain)
    return JSONResponse({"group": group, "address": address})


async def list_threads(request: Request) -> Response:
    site, q = site_of(request), request.query_params
    name = request.path_params["name"]

    async def build() -> dict:
        async with site.db.read() as conn:
            group = await groups.get_group_row(conn, name)
            return await reading.list_threads(conn, group, state=q.get("state"),
                                              limit=q.get("limit"), cursor=q.get("cursor"))

    key = ("threads", name, q.get("state"), q.get("limit"), q.get("cursor"))
    return await cached_json(request, key, frozenset({group_topic(name)}), build)


async def get_thread(request: Request) -> Response:
    site, q = site_of(request), request.query_params
    raw_id = request.path_params["id"]
    topic = thread_topic(int(raw_id)) if raw_id.isdigit() else "t:?"

    async def build() -> dict:
        async with site.db.read() as conn:
            return await reading.thread_page(conn, raw_id, limit=q.get("limit"), cursor=q.get("cursor"))

    key = ("thread", raw_id, q.get("limit"), q.get("cursor"))
    return await cached_json(request, key, frozenset({topic}), build)


async def get_article(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        return JSONResponse({"article": await reading.get_article(conn, request.path_params["ref"])})


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


def flat_item(article: dict, parent: dict | None = None) -> dict:
    """A layout item that opens and closes no level (flat view, fragments)."""
    return {"article": article, "close_before": 0, "opens": False, "replies": 0, "parent": parent}


async def _parents_off_page(conn: Connection, page_articles: list[dict]) -> dict[int, dict]:
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
    return bool(article["subject"] != reply_subject(parent["subject"]))


# Pages

async def home(request: Request) -> Response:
    site = site_of(request)

    async def build() -> dict:
        async with site.db.read() as conn:
            all_groups = await groups.list_groups(conn)
        names = {g["name"] for g in all_groups}
        for g in all_groups:  # indent under the listed groups whose name this one extends
            g["level"] = sum(1 for i, c in enumerate(g["name"]) if c == "." and g["name"][:i] in names)
        sections = [(top, list(members)) for top, members in
                    groupby(all_groups, key=lambda g: g["name"].split(".")[0])]
        return {"sections": sections, "canonical": "/"}

    async def unread(user: User) -> dict[str, bytes]:
        async with site.db.read() as conn:
            counts = await newsrc.unread_counts(conn, user.id)
        link = request.app.state.templates.env.get_template("_unread.html").module.unread
        return {name: str(link(name, count)).encode("utf-8") for name, count in counts.items()}

    # Every event can change a group's counts or add a group.
    return await cached_page(request, (), frozenset({ANY_EVENT}), "home.html", build, unread=unread)


async def group_page(request: Request) -> Response:
    site = site_of(request)
    name = request.path_params["name"]
    cursor = request.query_params.get("cursor")
    user = await current_user(request)
    if user is not None:
        async with site.db.read() as conn:
            row = await groups.get_group_row(conn, name)
            seen = await newsrc.seen_number(conn, user.id, row["id"])
        if seen < row["last_number"]:
            async with site.db.transaction() as conn:  # the reader has now seen the group
                await newsrc.mark_seen(conn, user.id, row["id"], row["last_number"])

    async def build() -> dict:
        async with site.db.read() as conn:
            since = await last_event_id(conn)
            row = await groups.get_group_row(conn, name)
            group = groups.group_json(row)
            listing = await reading.list_threads(conn, row, state="open", limit=GROUP_PAGE, cursor=cursor)
            references = await reading.reference_threads(conn, row) if not cursor else []
        return {
            "group": group, "threads": listing["threads"], "references": references, "since": since,
            "older": query_string(cursor=listing["next_cursor"]) if listing["next_cursor"] else None,
            "first_page": not cursor, "canonical": f"/g/{group['name']}" + query_string(cursor=cursor),
            "mail_address": mailing.group_address(group["name"], site.config.list_domain)
            if site.config.smtp_url else None}

    return await cached_page(request, (name, cursor), frozenset({group_topic(name)}), "group.html", build)


async def thread_page(request: Request) -> Response:
    view = request.query_params.get("view", "tree")
    if view not in ("tree", "flat"):
        raise Invalid("view is tree or flat")
    cursor = request.query_params.get("cursor")
    site = site_of(request)
    thread_id = request.path_params["id"]
    moderator = can(await current_user(request), "moderate")

    async def build() -> dict:
        async with site.db.read() as conn:
            since = await last_event_id(conn)
            result = await reading.thread_page(conn, thread_id, limit=THREAD_PAGE, cursor=cursor)
            thread = result["thread"]
            group = await groups.get_group(conn, thread["group"])
            off_page = await _parents_off_page(conn, result["articles"])
            split_hints, group_names = None, []
            if moderator:
                split_hints = (await suggestions.split_suggestions(conn, thread["id"]))["suggestions"]
                group_names = [g["name"] for g in await groups.list_groups(conn)]
        if view == "flat":
            by_date = sorted(result["articles"], key=lambda a: (a["created_at"], a["id"]))
            items = [flat_item(a) for a in by_date]
            left = 0
        else:
            items, left = layout(result["articles"])
        names = {a["id"]: a for a in result["articles"]}
        names.update(off_page)
        for item in items:
            item["parent"] = names.get(item["article"]["parent_id"])
            item["subject_changed"] = subject_changed(item["article"], item["parent"])
        base = f"/t/{thread['id']}"
        return {
            "thread": thread, "group": group, "items": items, "left_open": left, "view": view,
            "since": since, "suggestions": split_hints, "group_names": group_names,
            "next_page": base + query_string(view=None if view == "tree" else view,
                                             cursor=result["next_cursor"]) if result["next_cursor"] else None,
            "first_page": not cursor,
            "canonical": base + query_string(cursor=cursor)}

    topics = {thread_topic(thread_id)}
    if moderator:  # their page lists every group for the move dialog
        topics.add(ANY_EVENT)
    return await cached_page(request, (thread_id, view, cursor), frozenset(topics), "thread.html", build)


async def article_fragment(request: Request) -> Response:
    """One article as the thread page renders it, for a live insert or update."""
    async with site_of(request).db.read() as conn:
        thread = await reading.get_thread(conn, request.path_params["id"])
        article = await reading.get_article(conn, request.path_params["article_id"])
        if article["thread_id"] != thread["id"]:
            raise NotFound("that article is not in this thread now")
        parent = None
        if article["parent_id"] is not None:
            parent = await reading.get_article(conn, article["parent_id"])
    item = {**flat_item(article, parent), "subject_changed": subject_changed(article, parent)}
    return await page(request, "fragment_article.html", {"thread": thread, "item": item})


async def permalink(request: Request) -> Response:
    """/m/{message-id}: wherever the article lives now (a split moves it)."""
    ref = request.path_params["mid"].strip()
    if not ref.startswith("<"):
        ref = f"<{ref}>"
    try:
        ref = validate.message_id(ref)
    except Invalid:
        raise NotFound("no article has that Message-ID") from None
    async with site_of(request).db.read() as conn:
        article = await reading.get_article(conn, ref)
    return RedirectResponse(f"/t/{article['thread_id']}#a{article['id']}", status_code=302)


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico on pages that name no icon (a feed, say)."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


routes = [
    Route("/api/health", health),
    Route("/api/groups", list_groups),
    Route("/api/groups/{name}", get_group),
    Route("/api/groups/{name}/threads", list_threads),
    Route("/api/threads/{id}", get_thread),
    Route("/api/articles/{ref:path}", get_article),
    Route("/", home),
    Route("/favicon.ico", favicon),
    Route("/g/{name}", group_page),
    Route("/t/{id:int}", thread_page),
    Route("/t/{id:int}/fragment/a/{article_id:int}", article_fragment),
    Route("/m/{mid:path}", permalink),
]
