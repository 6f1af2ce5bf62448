"""Maintenance over HTTP: split, merge, move, lock, archive, references,
archive policy, roles, suspensions, the public moderation log and undo
(JSON), the log page and the split preview. Thin adapters over the domain functions.

Who may call what (the authorisation table test checks every row):
  moderators of the group (site moderators and admins moderate every group;
      a move, or a split or merge across groups, needs both groups):
      split, merge, move, archive, unarchive, lock, unlock, reference, group
      policy, undo of an entry on the group, a ban (suspend or unsuspend with
      `group`), the group's bans, ban, unban   (anonymous 401, member 403)
  admin: role, suspend, unsuspend, a group's status (the policy's `status`),
      appointing and removing a group's moderators, undoing either
                                      (anonymous 401, member and moderator 403)
  moderators of some group: the thread search a merge picks its target from
      (of their groups only), the merge preview (both threads' groups)
                                      (anonymous 401, member 403)
  anyone: modlog, split suggestions, a group's moderators"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiosqlite import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..articles import groups, reading
from ..articles.subjects import base_subject
from ..articles.tree import MAX_DEPTH
from ..stewardship import actions, bans, groupmods, maintenance, modlog, suggestions, suspensions
from ..stewardship.permissions import User, moderates, require, require_moderator
from ..store.errors import Forbidden, Invalid, NotFound
from .common import PRIVATE, current_user, page, query_string, site_of
from .moderation_forms import article_named
from .security import read_json


@asynccontextmanager
async def _moderating(
    request: Request, permission: str = "track"
) -> AsyncIterator[tuple[Connection, User, dict]]:
    """A moderator's (or admin's) JSON request: who asks, checked first to
    hold `permission` (signed in: the domain function checks that they
    moderate the group the action concerns), the body, and the transaction
    the action runs in."""
    user = require(await current_user(request), permission)
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        yield conn, user, data


async def split_thread(request: Request) -> Response:
    async with _moderating(request) as (conn, user, data):
        result = await actions.split(
            conn,
            site_of(request).config.domain,
            user,
            maintenance.Split(
                request.path_params["id"],
                data.get("article_id"),
                data.get("reason"),
                subject=data.get("subject"),
                group=data.get("group"),
            ),
        )
    return JSONResponse(result, status_code=201)


async def merge_thread(request: Request) -> Response:
    async with _moderating(request) as (conn, user, data):
        result = await actions.merge(
            conn,
            site_of(request).config.domain,
            user,
            maintenance.Merge(request.path_params["id"], data.get("into_article_id"), data.get("reason")),
        )
    return JSONResponse(result)


async def move_thread(request: Request) -> Response:
    async with _moderating(request) as (conn, user, data):
        result = await actions.move(
            conn,
            site_of(request).config.domain,
            user,
            request.path_params["id"],
            data.get("group"),
            reason=data.get("reason"),
        )
    return JSONResponse(result)


def _state_action(action: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        async with _moderating(request) as (conn, user, data):
            result = await maintenance.set_state(
                conn, user, request.path_params["id"], action, data.get("reason")
            )
        return JSONResponse(result)

    endpoint.__name__ = f"{action}_thread"
    return endpoint


async def set_reference(request: Request) -> Response:
    async with _moderating(request) as (conn, user, data):
        result = await maintenance.set_reference(
            conn, user, request.path_params["id"], data.get("on"), data.get("reason")
        )
    return JSONResponse(result)


async def set_policy(request: Request) -> Response:
    """The archive policy (moderators) and, when the body names `status`, the
    group's status (admins); a body naming only `status` leaves the archive policy."""
    async with _moderating(request) as (conn, user, data):
        name = request.path_params["name"]
        if "status" not in data or data.keys() & {"archive_after_days", "archive_after_articles"}:
            result = await maintenance.set_policy(
                conn,
                user,
                name,
                archive_after_days=data.get("archive_after_days"),
                archive_after_articles=data.get("archive_after_articles"),
                reason=data.get("reason"),
            )
        if "status" in data:
            result = await maintenance.set_status(conn, user, name, data["status"], data.get("reason"))
    return JSONResponse(result)


async def split_suggestions(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        return JSONResponse(await suggestions.split_suggestions(conn, request.path_params["id"]))


async def list_modlog(request: Request) -> Response:
    q = request.query_params
    async with site_of(request).db.read() as conn:
        page = await modlog.list_entries(
            conn, group=q.get("group"), limit=q.get("limit"), cursor=q.get("cursor")
        )
    return JSONResponse(page)


async def get_modlog_entry(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        return JSONResponse({"entry": await modlog.get_entry(conn, request.path_params["id"])})


async def undo_entry(request: Request) -> Response:
    async with _moderating(request) as (conn, user, data):
        entry = await actions.undo_entry(
            conn, site_of(request).config.domain, user, request.path_params["id"], data.get("reason")
        )
    return JSONResponse({"entry": entry})


async def group_moderators(request: Request) -> Response:
    """A group's own moderators: `{group, moderators}` (anyone may read it)."""
    async with site_of(request).db.read() as conn:
        group = await groups.get_group(conn, request.path_params["name"])
    return JSONResponse({"group": group["name"], "moderators": group["moderators"]})


async def appoint_moderator(request: Request) -> Response:
    """An admin makes a member a moderator of the group: `{entry, moderators}`."""
    return await _moderator_change(request, groupmods.appoint, 201)


async def remove_moderator(request: Request) -> Response:
    """An admin removes a member from the group's moderators: `{entry, moderators}`."""
    return await _moderator_change(request, groupmods.dismiss, 200)


async def _moderator_change(
    request: Request, change: Callable[..., Awaitable[dict]], status: int
) -> Response:
    async with _moderating(request, "admin") as (conn, user, data):
        name = request.path_params["name"]
        entry = await change(conn, user, name, data.get("username"), data.get("reason"))
        moderators = (await groups.get_group(conn, name))["moderators"]
    return JSONResponse({"entry": entry, "moderators": moderators}, status_code=status)


async def set_role(request: Request) -> Response:
    async with _moderating(request, "admin") as (conn, user, data):
        changed = await maintenance.change_role(
            conn, user, request.path_params["username"], data.get("role"), data.get("reason")
        )
    return JSONResponse({"user": changed.to_json()})


async def _with_entry(conn: Connection, result: dict) -> JSONResponse:
    """A suspension's or ban's answer, with its log entry in place of the entry's id."""
    entry = await modlog.get_entry(conn, result.pop("entry_id"))
    return JSONResponse({**result, "entry": entry})


async def suspend_user(request: Request) -> Response:
    """Suspend site-wide (admins), or with `group` ban from that group (its moderators)."""
    async with _moderating(request, "track") as (conn, user, data):
        name = request.path_params["username"]
        days, reason, remove_days = data.get("days"), data.get("reason"), data.get("remove_days")
        if data.get("group") is not None:
            result = await bans.ban(conn, user, data["group"], name, days, reason, remove_days=remove_days)
        else:
            result = await suspensions.suspend(conn, user, name, days, reason, remove_days=remove_days)
        return await _with_entry(conn, result)


async def unsuspend_user(request: Request) -> Response:
    async with _moderating(request, "track") as (conn, user, data):
        name, reason = request.path_params["username"], data.get("reason")
        if data.get("group") is not None:
            return await _with_entry(conn, await bans.unban(conn, user, data["group"], name, reason))
        return JSONResponse({"user": await suspensions.unsuspend(conn, user, name, reason)})


async def group_bans(request: Request) -> Response:
    user = require(await current_user(request), "track")  # None would be the operator
    async with site_of(request).db.read() as conn:
        found = await bans.bans(conn, user, request.path_params["name"])
    return JSONResponse(found, headers=PRIVATE)


async def ban_author(request: Request) -> Response:
    async with _moderating(request, "track") as (conn, user, data):
        result = await bans.ban(
            conn,
            user,
            request.path_params["name"],
            data.get("author"),
            data.get("days"),
            data.get("reason"),
            remove_days=data.get("remove_days"),
        )
        return await _with_entry(conn, result)


async def unban_author(request: Request) -> Response:
    async with _moderating(request, "track") as (conn, user, data):
        result = await bans.unban(
            conn, user, request.path_params["name"], data.get("author"), data.get("reason")
        )
        return await _with_entry(conn, result)


# Counting a sub-tree for the split preview stops here: "10000+".
PREVIEW_CAP = 10_000


async def split_preview(request: Request) -> Response:
    """What a split from `?article=` would do: how many articles move, where, under what subject."""
    site = site_of(request)
    user = await current_user(request)
    q = request.query_params
    async with site.db.read() as conn:
        thread = await reading.get_thread(conn, request.path_params["id"])
        require_moderator(user, thread["group"])
        row = await reading.article_row(conn, q.get("article"))
        if row["thread_id"] != thread["id"]:
            raise NotFound("that article is not in this thread now")
        group = await groups.get_group(conn, q.get("group") or thread["group"])
        count, more = await reading.subtree_size(conn, row, PREVIEW_CAP)
    subject = (q.get("subject") or "").strip() or base_subject(row["subject"]) or row["subject"]
    return await page(
        request,
        "split_preview.html",
        {"count": count, "more": more, "group": group["name"], "subject": subject},
    )


async def _moderated(conn: Connection, user: User | None) -> list[str]:
    """The names of the groups `user` moderates; Forbidden when there are none."""
    user = require_moderator(user)
    names = [g["name"] for g in await groups.list_groups(conn) if moderates(user, g["name"])]
    if not names:
        raise Forbidden("this needs the moderator role")
    return names


async def mod_dialog(request: Request) -> Response:
    """The moderation dialog as a fragment, with the group names its group field offers."""
    async with site_of(request).db.read() as conn:
        names = await _moderated(conn, await current_user(request))
    return await page(request, "_mod_dialog.html", {"group_names": names})


async def find_threads(request: Request) -> Response:
    """`{threads}`: a moderator's search for a merge's target, `?q=` words of
    the subject (or the thread's number), `?group=` one of their groups."""
    q = request.query_params
    async with site_of(request).db.read() as conn:
        user = await current_user(request)
        names, group = await _moderated(conn, user), q.get("group")
        if group:
            if group not in names:
                require_moderator(user, group)
                raise NotFound(f"no group named {group[:80]!r}")
            names = [group]
        found = await reading.find_threads(conn, q.get("q", ""), names, q.get("limit"))
    return JSONResponse({"threads": found}, headers=PRIVATE)


async def merge_preview(request: Request) -> Response:
    """What merging this thread under `?target=` (an article's number, #a link
    or Message-ID) would do: where it would hang and how many articles move."""
    user = await current_user(request)
    async with site_of(request).db.read() as conn:
        source = await maintenance.live_thread(conn, request.path_params["id"])
        require_moderator(user, source["group_name"])
        target = await reading.article_row(
            conn, await article_named(conn, request.query_params.get("target", ""))
        )
        if target["thread_id"] == source["id"]:
            raise Invalid("cannot merge a thread into itself or into one of its own articles")
        into = await maintenance.live_thread(conn, target["thread_id"])
        require_moderator(user, into["group_name"])
        too_deep = target["depth"] + 1 + await maintenance.deepest(conn, source["id"]) >= MAX_DEPTH
    return await page(
        request,
        "merge_preview.html",
        {"source": source, "target": target, "into": into, "too_deep": too_deep},
    )


async def modlog_page(request: Request) -> Response:
    q = request.query_params
    async with site_of(request).db.read() as conn:
        listing = await modlog.list_entries(conn, group=q.get("group"), limit=50, cursor=q.get("cursor"))
    next_cursor = listing["next_cursor"]
    return await page(
        request,
        "modlog.html",
        {
            "entries": listing["entries"],
            "group_filter": q.get("group", ""),
            "canonical": "/modlog" + query_string(group=q.get("group"), cursor=q.get("cursor")),
            "older": query_string(group=q.get("group"), cursor=next_cursor) if next_cursor else None,
        },
    )


routes = [
    Route("/api/threads/{id}/split", split_thread, methods=["POST"]),
    Route("/api/threads/{id}/merge", merge_thread, methods=["POST"]),
    Route("/api/threads/{id}/move", move_thread, methods=["POST"]),
    *[
        Route(f"/api/threads/{{id}}/{action}", _state_action(action), methods=["POST"])
        for action in maintenance.STATE_ACTIONS
    ],
    Route("/api/threads/{id}/reference", set_reference, methods=["POST"]),
    Route("/api/threads/{id}/split-suggestions", split_suggestions),
    Route("/api/groups/{name}/policy", set_policy, methods=["PUT"]),
    Route("/api/modlog", list_modlog),
    Route("/api/modlog/{id}", get_modlog_entry),
    Route("/api/modlog/{id}/undo", undo_entry, methods=["POST"]),
    Route("/api/users/{username}/role", set_role, methods=["POST"]),
    Route("/api/users/{username}/suspend", suspend_user, methods=["POST"]),
    Route("/api/users/{username}/unsuspend", unsuspend_user, methods=["POST"]),
    Route("/api/groups/{name}/moderators", group_moderators),
    Route("/api/groups/{name}/moderators", appoint_moderator, methods=["POST"]),
    Route("/api/groups/{name}/moderators/remove", remove_moderator, methods=["POST"]),
    Route("/api/groups/{name}/bans", group_bans),
    Route("/api/groups/{name}/bans", ban_author, methods=["POST"]),
    Route("/api/groups/{name}/bans/unban", unban_author, methods=["POST"]),
    Route("/modlog", modlog_page),
    Route("/t/{id:int}/fragment/split-preview", split_preview),
    Route("/t/{id:int}/fragment/merge-preview", merge_preview),
    Route("/fragment/mod-dialog", mod_dialog),
    Route("/api/threads", find_threads),
]
