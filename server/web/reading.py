"""Reading over HTTP: groups, thread lists, threads and articles as JSON
(cached until an event touches them) and as pages, the fragments live
updates fetch, and permalinks. Every page reads through the same domain
functions as the JSON; a fragment is the template piece its page uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from itertools import groupby
from typing import Any

from aiosqlite import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..articles import editing, groups, reading, tree
from ..articles.subjects import reply_subject
from ..mail import mailing
from ..people import follows, killfile, newsrc, notifications, profiles, readstate
from ..runtime.hub import last_event_id
from ..runtime.response_cache import ANY_EVENT
from ..stewardship import actions, modlog, queue, suggestions
from ..stewardship.permissions import User, can, moderates
from ..store import validate
from ..store.errors import Invalid, NotFound
from ..store.events import group_topic, thread_topic
from .caching import PRIVATE_CONTROL, Skeleton, cached_json, cached_page, placeholders_of
from .common import THREAD_PAGE, article_link, current_user, page, query_string, site_of

GROUP_PAGE = 50
# Lines per outline page: whole thread pages, so each outline page starts where one does.
OUTLINE_PAGE = 5 * THREAD_PAGE


async def health(request: Request) -> Response:
    """Liveness for load balancers; also the framework's ceiling in the benchmarks."""
    return JSONResponse({"status": "ok"})


# JSON


async def list_groups(request: Request) -> Response:
    user = await current_user(request)
    async with site_of(request).db.read() as conn:
        found = await groups.list_groups(conn)
        if user is None:
            return JSONResponse({"groups": found})
        counts = await readstate.unread_counts(conn, user.id)
        subscribed = set(await readstate.subscribed_groups(conn, user.id))
    for group in found:
        group["unread"] = counts.get(group["name"], 0)
        group["subscribed"] = group["name"] in subscribed
    return JSONResponse({"groups": found}, headers=PERSONAL)


# A signed-in reader's JSON carries their unread counts: never kept by a shared cache.
PERSONAL = {"Cache-Control": PRIVATE_CONTROL, "Vary": "Cookie"}


async def get_group(request: Request) -> Response:
    site = site_of(request)
    async with site.db.read() as conn:
        row = await groups.get_group_row(conn, request.path_params["name"])
        moderators = await groups.moderators_of(conn, row["id"])
    # The group's posting address (groups by email) and its home node (peering), beside
    # the group, whose shape events share.
    address = mailing.group_address(row["name"], site.config.list_domain)
    home = actions.home_json(row, site.config.domain)
    group = {**groups.group_json(row), "moderators": moderators}
    return JSONResponse({"group": group, "address": address, "home": home})


async def list_threads(request: Request) -> Response:
    site, q = site_of(request), request.query_params
    name = request.path_params["name"]

    async def build() -> dict:
        async with site.db.read() as conn:
            group = await groups.get_group_row(conn, name)
            return await reading.list_threads(
                conn, group, state=q.get("state"), limit=q.get("limit"), cursor=q.get("cursor")
            )

    user = await current_user(request)
    if user is not None:
        result = await build()
        async with site.db.read() as conn:
            counts = await readstate.thread_unread(conn, user.id, [t["id"] for t in result["threads"]])
        for thread in result["threads"]:
            thread["unread"] = counts.get(thread["id"], 0)
        return JSONResponse(result, headers=PERSONAL)
    key = ("threads", name, q.get("state"), q.get("limit"), q.get("cursor"))
    return await cached_json(request, key, frozenset({group_topic(name)}), build)


def _api_thread_topic(raw_id: str) -> str:
    """The live topic of the thread an /api path names, for its cached answer:
    the id read as the lookup reads it, "t:?" for one that names no thread
    (its answer is a 404, which no event changes)."""
    try:
        return thread_topic(validate.integer(raw_id, "thread"))
    except Invalid:
        return "t:?"


async def get_thread(request: Request) -> Response:
    site, q = site_of(request), request.query_params
    raw_id = request.path_params["id"]
    topic = _api_thread_topic(raw_id)

    async def build() -> dict:
        async with site.db.read() as conn:
            return await reading.thread_page(conn, raw_id, limit=q.get("limit"), cursor=q.get("cursor"))

    key = ("thread", raw_id, q.get("limit"), q.get("cursor"))
    return await _read_or_cached(request, key, topic, build, "articles")


async def _read_or_cached(
    request: Request, key: tuple, topic: str, build: Callable[[], Awaitable[dict]], items: str
) -> Response:
    """`build()`'s JSON about one thread: for a signed-in reader, fresh, each
    of its `items` saying whether they have read it (reading it here does
    not mark it); for anyone else, the cached answer under `key`."""
    user = await current_user(request)
    if user is None:
        return await cached_json(request, key, frozenset({topic}), build)
    site, result = site_of(request), await build()
    async with site.db.read() as conn:
        unread = await readstate.unread_articles(
            conn, user.id, [item["id"] for item in result[items]], site.reads.pending
        )
    for item in result[items]:
        item["unread"] = item["id"] in unread
    return JSONResponse(result, headers=PERSONAL)


async def article_history(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        return JSONResponse(await editing.history(conn, request.path_params["ref"]))


async def get_article(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        return JSONResponse({"article": await reading.get_article(conn, request.path_params["ref"])})


# The reply tree, laid out without recursion (a 1,000-deep argument must not
# hit Python's recursion limit): each article says how many open levels to
# close before it, whether it opens a level for its replies, and how many
# replies that level holds on this page.

# Past this many levels of nesting a page stops indenting (a phone has no
# room left) and offers "Continue this branch": the sub-tree on a page of its own.
BRANCH_EVERY = 6


def layout(page_articles: list[dict]) -> tuple[list[dict], int]:
    """`[{article, close_before, opens, replies, direct, level, parent}]` and the
    levels left open after the last one (`level`: the nesting on this page). An article whose parent is not on this page
    starts at the top level; `parent` is the parent on the page, or None;
    `replies` counts the article's replies (all levels) on this page, `direct`
    those that answer it."""
    by_id = {a["id"]: a for a in page_articles}
    items: list[dict] = []
    stack: list[int] = []  # indexes of the articles whose level of replies is open
    for index, article in enumerate(page_articles):
        close = 0
        while stack and page_articles[stack[-1]]["id"] != article["parent_id"]:
            opened = stack.pop()
            items[opened]["replies"] = index - opened - 1
            close += 1
        if stack:
            items[stack[-1]]["direct"] += 1
        nxt = page_articles[index + 1] if index + 1 < len(page_articles) else None
        opens = nxt is not None and nxt["parent_id"] == article["id"]
        items.append(
            {
                "article": article,
                "close_before": close,
                "opens": opens,
                "replies": 0,
                "direct": 0,
                "level": len(stack),
                "parent": by_id.get(article["parent_id"]),
            }
        )
        if opens:
            stack.append(index)
    left = len(stack)
    while stack:
        opened = stack.pop()
        items[opened]["replies"] = len(items) - opened - 1
    return items, left


def flat_item(article: dict, parent: dict | None = None) -> dict:
    """A layout item that opens and closes no level (flat view, fragments)."""
    return {
        "article": article,
        "close_before": 0,
        "opens": False,
        "replies": 0,
        "direct": 0,
        "level": 0,
        "parent": parent,
    }


async def _parents_off_page(conn: Connection, page_articles: list[dict]) -> dict[int, dict]:
    """The parents of articles whose parent is on an earlier page (few: at most
    the depth of the page boundary), so "in reply to" can name them."""
    on_page = {a["id"] for a in page_articles}
    missing = {
        a["parent_id"] for a in page_articles if a["parent_id"] is not None and a["parent_id"] not in on_page
    }
    found = {}
    for parent_id in sorted(missing)[:64]:
        try:
            found[parent_id] = await reading.get_article(conn, parent_id)
        except NotFound:
            continue
    return found


async def provenance(conn: Connection, thread: dict) -> dict:
    """What a thread page says of a split or an emptying: `split_off` (the
    earlier thread's subject and this one's root date, so that "started" is
    the date of its first article, not of the split) and `emptied`
    (modlog.emptied_by)."""
    told: dict[str, Any] = {"split_off": None, "emptied": None}
    if "split_from" in thread:
        source = await reading.get_thread(conn, thread["split_from"]["thread_id"])
        root = await reading.get_article(conn, thread["root_article_id"])
        told["split_off"] = {"subject": source["subject"], "root_at": root["created_at"]}
    if "merged_into" in thread:
        told["emptied"] = await modlog.emptied_by(conn, thread["id"])
    return told


def subject_changed(article: dict, parent: dict | None) -> bool:
    """Whether a reply changed the subject (a drift worth showing, and a split hint)."""
    if parent is None:
        return article["parent_id"] is None
    return bool(article["subject"] != reply_subject(parent["subject"]))


# Pages


async def home(request: Request) -> Response:
    site = site_of(request)
    all_read = "all-read" in request.query_params  # where "Next unread" ends when none is left
    deleted = "account-deleted" in request.query_params  # where deleting one's account ends

    async def build() -> dict:
        async with site.db.read() as conn:
            since = await last_event_id(conn)
            all_groups = await groups.list_groups(conn)
        names = {g["name"] for g in all_groups}
        for g in all_groups:  # indent under the listed groups whose name this one extends
            g["level"] = sum(1 for i, c in enumerate(g["name"]) if c == "." and g["name"][:i] in names)
        sections = [
            (top, list(members))
            for top, members in groupby(all_groups, key=lambda g: g["name"].split(".")[0])
        ]
        return {
            "sections": sections,
            "canonical": "/",
            "since": since,
            "all_read": all_read,
            "deleted": deleted,
        }

    async def unread(user: User, page: Skeleton) -> dict[str, bytes]:
        async with site.db.read() as conn:
            counts = await readstate.unread_counts(conn, user.id)
            mine = await readstate.subscribed_groups(conn, user.id)
        marks = unread_macros(request)
        out = {name: str(marks.unread(name, count)).encode("utf-8") for name, count in counts.items()}
        out["x:mine"] = str(marks.your_groups(mine, counts)).encode("utf-8")
        return out

    # Every event can change a group's counts or add a group.
    return await cached_page(
        request, (all_read, deleted), frozenset({ANY_EVENT}), "home.html", build, unread=unread
    )


async def group_page(request: Request) -> Response:
    site = site_of(request)
    name = request.path_params["name"]
    cursor = request.query_params.get("cursor")
    held = "held" in request.query_params  # after a submission that waits for the moderators

    async def build() -> dict:
        async with site.db.read() as conn:
            since = await last_event_id(conn)
            row = await groups.get_group_row(conn, name)
            group = {**groups.group_json(row), "moderators": await groups.moderators_of(conn, row["id"])}
            listing = await reading.list_threads(conn, row, state="open", limit=GROUP_PAGE, cursor=cursor)
            references = await reading.reference_threads(conn, row) if not cursor else []
        return {
            "group": group,
            "home": actions.home_json(row, site.config.domain),
            "threads": listing["threads"],
            "references": references,
            "since": since,
            "older": query_string(cursor=listing["next_cursor"]) if listing["next_cursor"] else None,
            "first_page": not cursor,
            "held": held,
            "canonical": f"/g/{group['name']}" + query_string(cursor=cursor),
            "mail_address": mailing.group_address(group["name"], site.config.list_domain)
            if site.config.smtp_url
            else None,
        }

    async def unread(user: User, page: Skeleton) -> dict[str, bytes]:
        """Each listed thread's unread count (bold when it has some) and the group's."""
        keys = page.keys
        thread_ids = [int(k[2:]) for k in keys if k.startswith("t:")]
        async with site.db.read() as conn:
            row = await groups.get_group_row(conn, name)
            counts = await readstate.thread_unread(conn, user.id, thread_ids)
            total = await readstate.group_unread(conn, user.id, row["id"], row["last_number"])
            following = await follows.follows_group(conn, user.id, row["id"])
            rules = await killfile.rules_of(conn, user.id)
            subscribed = row["name"] in await readstate.subscribed_groups(conn, user.id)
            waiting = await queue.waiting_count(conn, row["id"]) if moderates(user, name) else 0
        marks = unread_macros(request)
        out = {"x:queue": str(marks.queue_count(waiting)).encode()} if waiting else {}
        out.update({f"t:{t}": str(marks.thread_count(n)).encode() for t, n in counts.items()})
        out.update({f"tc:{t}": b" unread" for t in counts})
        for rule in rules:  # muted threads stay listed, marked and greyed
            if rule.field == "thread" and rule.score <= killfile.KILL and f"t:{rule.pattern}" in keys:
                out[f"tc:{rule.pattern}"] = b" killed"
                out[f"t:{rule.pattern}"] = b'<span class="muted-note">muted</span>'
        if total:
            out["x:group"] = str(marks.group_count(total)).encode()
        out["x:follow"] = str(
            marks.follow_form(f"/g/{name}/follow", following, placeholders_of(request).csrf, "group")
        ).encode()
        out["x:subscribe"] = str(
            marks.subscribe_form(name, subscribed, placeholders_of(request).csrf)
        ).encode()
        return out

    return await cached_page(
        request,
        (name, cursor, held),
        frozenset({group_topic(name)}),
        "group.html",
        build,
        unread=unread,
        group=name,
    )


def unread_macros(request: Request) -> Any:
    """_unread.html's macros: the one place the reader's own marks are written."""
    return request.app.state.templates.env.get_template("_unread.html").module


def reader_part(request: Request, page: Skeleton, macro: str, *args: Hashable) -> bytes:
    """An _unread.html macro's HTML, rendered once per page and arguments and
    kept with the page: readers differ in which parts they get (a "new" mark,
    a form's follow or unfollow state), not in the parts' text. A form's CSRF
    token is the placeholder here, put in per request (caching.personalise)."""
    parts = page.memo.setdefault("parts", {})
    key = (macro, *args)
    found: bytes | None = parts.get(key)
    if found is None:
        found = parts[key] = str(getattr(unread_macros(request), macro)(*args)).encode()
    return found


async def thread_page(request: Request) -> Response:
    view = request.query_params.get("view", "tree")
    if view not in ("tree", "flat"):
        raise Invalid("view is tree or flat")
    cursor = request.query_params.get("cursor")
    branch = request.query_params.get("branch") or None
    if branch is not None:
        branch = str(validate.integer(branch, "branch"))
    site = site_of(request)
    thread_id = request.path_params["id"]
    user, group_name = await current_user(request), None
    if user is not None and user.groups and not can(user, "moderate"):  # a group's own moderator
        async with site.db.read() as conn:
            group_name = (await reading.thread_row(conn, thread_id))["group_name"]
    moderator = moderates(user, group_name)
    reported = "reported" in request.query_params  # after the reader's report on an article

    async def build() -> dict:
        async with site.db.read() as conn:
            since = await last_event_id(conn)
            result = await reading.thread_page(
                conn, thread_id, limit=THREAD_PAGE, cursor=cursor, branch=branch
            )
            thread = result["thread"]
            group = await groups.get_group(conn, thread["group"])
            off_page = await _parents_off_page(conn, result["articles"])
            hidden = await reading.hidden_texts(conn, result["articles"])
            told = await provenance(conn, thread)
            mentioned = await profiles.mentioned_accounts(conn, (a["body"] for a in result["articles"]))
            split_hints = None
            if moderator and "merged_into" not in thread:
                found = (await suggestions.split_suggestions(conn, thread["id"]))["suggestions"]
                split_hints = suggestions.by_branch(found)
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
            "thread": thread,
            "group": group,
            "items": items,
            "left_open": left,
            "view": view,
            "since": since,
            "suggestions": split_hints,
            **told,
            "hidden_texts": hidden,
            "mentioned": mentioned,
            "reported": reported,
            "branch": result["articles"][0] if branch and result["articles"] else None,
            "branch_every": BRANCH_EVERY,
            "next_page": base
            + query_string(view=None if view == "tree" else view, branch=branch, cursor=result["next_cursor"])
            if result["next_cursor"]
            else None,
            "first_page": not cursor,
            "canonical": base + query_string(branch=branch, cursor=cursor),
        }

    # Only this thread's events change the page, a moderator's too: the move
    # dialog's list of groups comes with the dialog (/fragment/mod-dialog).
    topics = {thread_topic(thread_id)}

    async def unread(user: User, page: Skeleton) -> dict[str, bytes]:
        """ "new" on the articles this reader had not read, a jump to the first
        of them; the articles shown are then marked read (written shortly after)."""
        if "rows" not in page.memo:  # the same for every reader: kept with the page
            page.memo["shown"] = [int(k[2:]) for k in page.keys if k.startswith("a:")]
            async with site.db.read() as conn:
                page.memo["rows"] = await readstate.page_rows(conn, page.memo["shown"])
        shown, page_rows = page.memo["shown"], page.memo["rows"]
        async with site.db.read() as conn:
            marks_now, rules, following, muted, inbox = await readstate.reader_view(
                conn, user.id, {r["group_id"] for r in page_rows}, int(thread_id)
            )
            waiting = (
                await queue.waiting_count(conn, page_rows[0]["group_id"]) if moderator and page_rows else 0
            )
            # read already, yet notified: showing them reads the notifications too
            notified = set(await notifications.notified_among(conn, user.id, shown) if inbox else ())
        seen = readstate.classify(page_rows, shown, user.id, marks_now, rules, site.reads.pending)
        for group_id, numbers in seen.shown.items():
            site.reads.note(user.id, group_id, numbers)
        for row in page_rows:
            if row["id"] in notified:
                site.reads.note(user.id, row["group_id"], newsrc.of_numbers([row["number"]]))
        new = reader_part(request, page, "new_mark")
        out = {f"a:{a}": new for a in seen.unread}
        classes = {a: " new" for a in seen.unread}
        for a in seen.high:
            classes[a] = classes.get(a, "") + " high"
        opening = reader_part(request, page, "killed_open")
        for a in seen.killed:
            classes[a] = classes.get(a, "") + " killed"
            out[f"k:{a}"], out[f"ke:{a}"] = opening, b"</details>"
        out.update({f"c:{a}": c.encode() for a, c in classes.items()})
        if seen.unread:
            first = unread_macros(request).first_unread(seen.unread[0], len(seen.unread))
            out["x:first"] = str(first).encode()
        csrf = placeholders_of(request).csrf
        action = f"/t/{thread_id}/follow"
        follow = reader_part(request, page, "follow_form", action, following, csrf, "thread")
        if site.config.smtp_url:  # by mail: each new article of the thread, in list form
            follow += b" " + reader_part(request, page, "mail_follow_form", action, following == 2, csrf)
        out["x:follow"] = follow
        out["x:mute"] = reader_part(request, page, "mute_form", f"/t/{thread_id}/mute", muted, csrf, "thread")
        out["x:inbox"] = reader_part(request, page, "inbox", inbox) if inbox else b""
        if waiting:
            out["x:queue"] = str(unread_macros(request).queue_count(waiting)).encode()
        return out

    return await cached_page(
        request,
        (thread_id, view, cursor, branch, reported),
        frozenset(topics),
        "thread.html",
        build,
        unread=unread,
        group=group_name,
    )


def outline_links(thread_id: int, lines: list[dict], cursor: str | None) -> None:
    """Sets each line's `href`: the article's anchor on the thread page that
    shows it. The outline page starts where a thread page does (after
    `cursor`), and a thread page's cursor is the last article before it."""
    for index, line in enumerate(lines):
        start = (
            cursor
            if index < THREAD_PAGE
            else tree.cursor(lines[index // THREAD_PAGE * THREAD_PAGE - 1]["id"])
        )
        line["href"] = f"/t/{thread_id}" + query_string(cursor=start) + f"#a{line['id']}"


async def outline_page(request: Request) -> Response:
    """A thread's outline: one line per article (author, date, a changed
    subject), in tree order and paged, each linking to the article on its
    thread page; a reader's unread articles are marked, and stay unread."""
    site = site_of(request)
    thread_id = request.path_params["id"]
    cursor = request.query_params.get("cursor") or None

    async def build() -> dict:
        async with site.db.read() as conn:
            since = await last_event_id(conn)
            result = await reading.outline_page(conn, thread_id, limit=OUTLINE_PAGE, cursor=cursor)
            group = await groups.get_group(conn, result["thread"]["group"])
        thread, lines = result["thread"], result["lines"]
        outline_links(thread["id"], lines, cursor)
        base = f"/t/{thread['id']}/outline"
        return {
            "thread": thread,
            "group": group,
            "lines": lines,
            "since": since,
            "next_page": base + query_string(cursor=result["next_cursor"]) if result["next_cursor"] else None,
            "first_page": not cursor,
            "canonical": base + query_string(cursor=cursor),
        }

    async def unread(user: User, page: Skeleton) -> dict[str, bytes]:
        shown = [int(k[2:]) for k in page.keys if k.startswith("a:")]
        async with site.db.read() as conn:
            new = await readstate.unread_articles(conn, user.id, shown, site.reads.pending)
        mark = reader_part(request, page, "new_mark")
        return {f"a:{a}": mark for a in new}

    return await cached_page(
        request,
        (thread_id, cursor),
        frozenset({thread_topic(thread_id)}),
        "outline.html",
        build,
        unread=unread,
    )


async def get_outline(request: Request) -> Response:
    """One page of a thread's outline as JSON (the outline page's lines, with
    each line's `href`); a signed-in reader's lines say whether they are unread."""
    site, raw_id = site_of(request), request.path_params["id"]
    cursor = request.query_params.get("cursor") or None
    topic = _api_thread_topic(raw_id)

    async def build() -> dict:
        async with site.db.read() as conn:
            result = await reading.outline_page(conn, raw_id, limit=OUTLINE_PAGE, cursor=cursor)
        outline_links(result["thread"]["id"], result["lines"], cursor)
        return result

    return await _read_or_cached(request, ("outline", raw_id, cursor), topic, build, "lines")


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
        group = await groups.get_group(conn, thread["group"])
        hidden = await reading.hidden_texts(conn, [article])
        mentioned = await profiles.mentioned_accounts(conn, [article["body"]])
    item = {**flat_item(article, parent), "subject_changed": subject_changed(article, parent)}
    user = await current_user(request)
    if user is not None:  # rendered per reader: their rules hide it here too
        async with site_of(request).db.read() as conn:
            rules = await killfile.rules_of(conn, user.id)
            item["killed"] = article["id"] in await killfile.killed_ids(conn, rules, [article["id"]])
    context = {"thread": thread, "group": group, "item": item, "hidden_texts": hidden, "mentioned": mentioned}
    return await page(request, "fragment_article.html", context)


async def permalink(request: Request) -> Response:
    """/m/{message-id}: wherever the article lives now (a split moves it)."""
    ref = request.path_params["mid"].strip()
    if not ref.startswith("<"):
        ref = f"<{ref}>"
    try:
        ref = validate.message_id(ref)
    except Invalid:
        raise NotFound("no article has that Message-ID") from None
    site = site_of(request)
    async with site.db.read() as conn:
        article = await reading.get_article(conn, ref)
    return RedirectResponse(await article_link(site, article), status_code=302)


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico on pages that name no icon (a feed, say)."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


routes = [
    Route("/api/health", health),
    Route("/api/groups", list_groups),
    Route("/api/groups/{name}", get_group),
    Route("/api/groups/{name}/threads", list_threads),
    Route("/api/threads/{id}", get_thread),
    Route("/api/threads/{id}/outline", get_outline),
    Route("/api/articles/{ref:path}/history", article_history),  # before the catch-all below
    Route("/api/articles/{ref:path}", get_article),
    Route("/", home),
    Route("/favicon.ico", favicon),
    Route("/g/{name}", group_page),
    Route("/t/{id:int}", thread_page),
    Route("/t/{id:int}/outline", outline_page),
    Route("/t/{id:int}/fragment/a/{article_id:int}", article_fragment),
    Route("/m/{mid:path}", permalink),
]
