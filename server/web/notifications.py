"""Notifications and follows over HTTP: the reader's inbox (JSON and page),
marking notifications read, and following or unfollowing threads (by mail
too) and groups (JSON and forms). Everything here acts on the signed-in
reader's own state."""

from __future__ import annotations

from aiosqlite import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..articles import feeds, reading
from ..people import follows, notifications
from ..stewardship.permissions import require
from ..store import validate
from ..store.errors import Invalid
from .accounts import checked_form
from .common import (
    PRIVATE,
    current_user,
    form_on,
    json_on,
    page,
    query_string,
    set_group_switch,
    sign_in_first,
    site_of,
)
from .exports import feed_site
from .mail import require_mail
from .security import read_json


async def list_notifications(request: Request) -> Response:
    user = require(await current_user(request), "track")
    q = request.query_params
    async with site_of(request).db.read() as conn:
        result = await notifications.list_notifications(
            conn, user.id, limit=q.get("limit"), cursor=q.get("cursor")
        )
    return JSONResponse(result, headers=PRIVATE)


async def mark_read(request: Request) -> Response:
    user = require(await current_user(request), "track")
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        left = await notifications.mark_read(conn, user.id, data.get("ids", notifications.EVERY))
    return JSONResponse({"unread": left})


async def follow_thread(request: Request) -> Response:
    user = require(await current_user(request), "track")
    if request.method == "GET":
        async with site_of(request).db.read() as conn:
            thread = await reading.thread_row(conn, request.path_params["id"])
            return JSONResponse(await follows.thread_follow(conn, user.id, thread["id"]), headers=PRIVATE)
    data = await read_json(request)
    on, mail = json_on(data), data.get("mail")
    if mail is not None and not isinstance(mail, bool):
        raise Invalid("mail must be true or false")
    if mail and not on:
        raise Invalid("mail needs on: true (a thread is mailed to its followers)")
    if mail:
        require_mail(request)
    async with site_of(request).db.transaction() as conn:
        thread = await reading.thread_row(conn, request.path_params["id"])
        await _follow(conn, user.id, thread["id"], on, mail)
        result = await follows.thread_follow(conn, user.id, thread["id"])
    return JSONResponse(result)


async def _follow(conn: Connection, user_id: int, thread_id: int, on: bool, mail: bool | None) -> None:
    """Follow or unfollow a thread; `mail` True or False also starts or stops its mail."""
    if not on:
        await follows.unfollow(conn, user_id, thread_id)
    elif mail is None:
        await follows.follow(conn, user_id, thread_id)
    else:
        await follows.set_mail(conn, user_id, thread_id, mail)


async def follow_group(request: Request) -> Response:
    user = require(await current_user(request), "track")
    on = json_on(await read_json(request))
    name = await set_group_switch(request, user, follows.set_group_follow, on)
    return JSONResponse({"group": name, "following": on})


async def new_feed(request: Request) -> Response:
    user = require(await current_user(request), "track")
    await read_json(request)
    # reserved before the write, so concurrent requests cannot all pass the check
    site_of(request).feed_keys.take(user.id, "making feed URLs")
    async with site_of(request).db.transaction() as conn:
        key = await notifications.new_feed_key(conn, user.id)
    return JSONResponse({"url": _feed_url(request, key)}, status_code=201, headers=PRIVATE)


async def revoke_feed(request: Request) -> Response:
    user = require(await current_user(request), "track")
    await read_json(request)
    async with site_of(request).db.transaction() as conn:
        await notifications.revoke_feed_key(conn, user.id)
    return Response(status_code=204)


def _feed_url(request: Request, key: str) -> str:
    return f"{request.base_url}feeds/notifications/{key}.atom"


async def feed(request: Request) -> Response:
    """The Atom feed behind the secret URL: the 50 newest notifications."""
    async with site_of(request).db.read() as conn:
        owner = await notifications.feed_owner(conn, request.path_params["key"])
        result = await notifications.list_notifications(conn, owner["id"])
    body = feeds.notifications_feed(
        dict(owner), result["notifications"], **feed_site(request), self_url=str(request.url)
    )
    # The URL is a secret: no shared cache may keep it, no page may link out with it.
    return Response(
        body,
        media_type=feeds.CONTENT_TYPE,
        headers={**PRIVATE, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"},
    )


# Pages and forms


async def inbox_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    cursor = request.query_params.get("cursor")
    return await _inbox(request, user.id, cursor)


async def _inbox(request: Request, user_id: int, cursor: str | None, feed_url: str | None = None) -> Response:
    async with site_of(request).db.read() as conn:
        result = await notifications.list_notifications(conn, user_id, cursor=cursor)
        has_feed = await notifications.has_feed_key(conn, user_id)
    older = query_string(cursor=result["next_cursor"]) if result["next_cursor"] else None
    return await page(
        request,
        "notifications.html",
        {**result, "older": older, "first_page": not cursor, "has_feed": has_feed, "feed_url": feed_url},
        headers=PRIVATE,
    )


async def feed_form(request: Request) -> Response:
    """Make (or replace) the feed URL and show it once; or revoke it."""
    user = require(await current_user(request), "track")
    form = await checked_form(request)
    site = site_of(request)
    if form.get("action") == "revoke":
        async with site.db.transaction() as conn:
            await notifications.revoke_feed_key(conn, user.id)
        return RedirectResponse("/notifications", status_code=303)
    site.feed_keys.take(user.id, "making feed URLs")
    async with site.db.transaction() as conn:
        key = await notifications.new_feed_key(conn, user.id)
    return await _inbox(request, user.id, None, _feed_url(request, key))


async def mark_read_form(request: Request) -> Response:
    """All of the reader's notifications read, or with `id` that one."""
    user = require(await current_user(request), "track")
    form = await checked_form(request)
    one = form.get("id")
    ids = notifications.EVERY if one is None else [validate.integer(one, "id")]
    async with site_of(request).db.transaction() as conn:
        await notifications.mark_read(conn, user.id, ids)
    return RedirectResponse("/notifications", status_code=303)


async def follow_thread_form(request: Request) -> Response:
    """`on` 1 or 0 follows or unfollows; `mail` 1 or 0, when sent, starts or stops the thread's mail."""
    user = require(await current_user(request), "track")
    form = await checked_form(request)
    on, mail = form_on(form), form_on(form, "mail") if "mail" in form else None
    if mail:
        require_mail(request)
    async with site_of(request).db.transaction() as conn:
        thread = await reading.thread_row(conn, request.path_params["id"])
        await _follow(conn, user.id, thread["id"], on, mail)
    return RedirectResponse(f"/t/{thread['id']}", status_code=303)


async def follow_group_form(request: Request) -> Response:
    user = require(await current_user(request), "track")
    form = await checked_form(request)
    name = await set_group_switch(request, user, follows.set_group_follow, form_on(form))
    return RedirectResponse(f"/g/{name}", status_code=303)


routes = [
    Route("/api/notifications", list_notifications),
    Route("/api/notifications/read", mark_read, methods=["POST"]),
    Route("/api/threads/{id}/follow", follow_thread, methods=["GET", "POST"]),
    Route("/api/groups/{name}/follow", follow_group, methods=["POST"]),
    Route("/api/notifications/feed", new_feed, methods=["POST"]),
    Route("/api/notifications/feed/revoke", revoke_feed, methods=["POST"]),
    Route("/feeds/notifications/{key}.atom", feed),
    Route("/notifications", inbox_page),
    Route("/notifications/feed", feed_form, methods=["POST"]),
    Route("/notifications/read", mark_read_form, methods=["POST"]),
    Route("/t/{id:int}/follow", follow_thread_form, methods=["POST"]),
    Route("/g/{name}/follow", follow_group_form, methods=["POST"]),
]
