"""The moderation queue over HTTP: a group's queue for its moderators (JSON
and a page with forms that works without JavaScript), decisions on one item
or many, members' reports, a member's own waiting articles, and a group's
stranger_mail setting, and a moderator's daily mail of a group's items
waiting more than a day (moot.mail.queuemail). The old held-mail addresses redirect to the queue.
Every decision is in moot.stewardship.queue and moot.stewardship.reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..articles import groups, reading
from ..mail import heldmail, queuemail
from ..runtime.site import Site
from ..stewardship import queue, reports, review, spam
from ..stewardship.permissions import require
from ..store import clock
from ..store.db import fetch_value
from ..store.errors import Invalid, MootError, NotFound
from .accounts import checked_form
from .common import PRIVATE, article_link, cookies_of, current_user, page, sign_in_first, site_of
from .security import read_form_fields, read_json


async def queue_list(request: Request) -> Response:
    user = await current_user(request)
    params = request.query_params
    async with site_of(request).db.read() as conn:
        result = await queue.list_items(
            conn,
            user,
            request.path_params["name"],
            state=params.get("state", "waiting"),
            before=params.get("before"),
        )
    return JSONResponse(result, headers=PRIVATE)


async def queue_decide(request: Request) -> Response:
    """POST .../queue/{id}/{action}: one item; POST .../queue/{action} with `ids`: many."""
    user = await current_user(request)
    data = await read_json(request)
    name, action = request.path_params["name"], request.path_params["action"]
    site = site_of(request)
    async with site.db.transaction() as conn:
        if "id" in request.path_params:
            result = await queue.decide(
                conn, user, name, request.path_params["id"], action, data.get("reason")
            )
        else:
            result = await queue.decide_many(conn, user, name, data.get("ids"), action, data.get("reason"))
    teach(site, result.get("decided", [result]))
    return JSONResponse(result)


def teach(site: Site, decided: list[dict]) -> None:
    """After the decisions committed: spamd learns each item held as spam,
    as ham when approved and as spam when rejected (in the background)."""
    if site.spamd is None:
        return
    for result in decided:
        item = result["item"]
        if item["kind"] != "held" or item["why"] != "spam":
            continue
        author = item["author"]
        if not (author["address"] or author["username"]):
            continue  # its account is gone: nothing to say whose it was
        message = spam.message(
            author=author["display_name"],
            addr=author["address"] or f"{author['username']}@{site.config.domain}",
            subject=item["article"]["subject"],
            body=item["article"]["body"],
            group=item["group"],
            message_id=item["message_id"],
        )
        site.spamd.learn(message, spam=item["state"] == "rejected")


async def my_queue(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        result = await queue.mine(conn, await current_user(request))
    return JSONResponse(result, headers=PRIVATE)


async def report_article(request: Request) -> Response:
    site = site_of(request)
    user = await current_user(request)
    data = await read_json(request)
    async with site.db.transaction() as conn:
        result = await reports.report(
            conn,
            user,
            request.path_params["ref"],
            data.get("reason"),
            data.get("note"),
            threshold=site.config.report_threshold,
            rules=site.trust_rules,
        )
    return JSONResponse(result, status_code=200 if result["already"] else 201)


async def stranger_mail(request: Request) -> Response:
    user = await current_user(request)
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        result = await heldmail.set_stranger_mail(
            conn, user, request.path_params["name"], data.get("stranger_mail"), data.get("reason")
        )
    return JSONResponse(result)


async def review_new(request: Request) -> Response:
    """PUT {review_new, reason?} /api/groups/{name}/review-new: new accounts' posts there wait (moderator)."""
    user = await current_user(request)
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        result = await review.set_group(
            conn, user, request.path_params["name"], data.get("review_new"), data.get("reason")
        )
    return JSONResponse(result)


async def review_all(request: Request) -> Response:
    """GET or PUT {review_new, reason?} /api/admin/review-new: the site-wide switch (admin)."""
    user = await current_user(request)
    if request.method == "GET":
        async with site_of(request).db.read() as conn:
            require(user, "admin")
            return JSONResponse({"review_new": await review.site_wide(conn)}, headers=PRIVATE)
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        result = await review.set_site_wide(conn, user, data.get("review_new"), data.get("reason"))
    return JSONResponse(result)


# The pages and their forms, which work without JavaScript


def waited(stamp: str, now: str) -> str:
    """How long from `stamp` to `now`, in the largest whole unit: '3 hours'."""
    seconds = (datetime.fromisoformat(now) - datetime.fromisoformat(stamp)).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return "less than a minute"


async def queue_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    """A group's queue for its moderators: what waits, or `?state=` what was decided."""
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    name, params = request.path_params["name"], request.query_params
    async with site_of(request).db.read() as conn:
        result = await queue.list_items(
            conn, user, name, state=params.get("state", "waiting"), before=params.get("before")
        )
        group = await groups.get_group(conn, name)
        if site_of(request).config.federation:  # the fediverse panel: whether Follows wait
            follow_approval = await fetch_value(
                conn, "SELECT ap_follow_approval FROM groups WHERE name = ?", (group["name"],)
            )
            group = {**group, "follow_approval": bool(follow_approval)}
    now = clock.now()
    for item in result["items"]:
        item["waited"] = waited(item["created_at"], item["decided_at"] or now)
    context = {**result, "group": group, "error": error}
    return await page(request, "queue.html", context, status=status, headers=PRIVATE)


async def queue_form(request: Request) -> Response:
    """Approve or reject one item (`/g/{name}/queue/{id}/{action}`), the checked
    ones (`/g/{name}/queue/{action}`, `ids`), or set the group's stranger_mail
    (`/g/{name}/stranger-mail`): 303 back to the queue, or the page with the error."""
    user = await current_user(request)
    fields = await read_form_fields(request, max_fields=queue.MANY_MAX + 10)
    form = dict(fields)
    cookies_of(request).check_csrf(request, form.get("csrf"))
    site, name = site_of(request), request.path_params["name"]
    action, reason = request.path_params.get("action"), form.get("reason") or None
    failed: list[dict] = []
    decided: list[dict] = []
    try:
        async with site.db.transaction() as conn:
            if action is None:
                await heldmail.set_stranger_mail(conn, user, name, form.get("stranger_mail"), reason)
            elif "id" in request.path_params:
                decided = [await queue.decide(conn, user, name, request.path_params["id"], action, reason)]
            else:
                ids = [value for key, value in fields if key == "ids"]
                if not ids:
                    raise Invalid("Tick the items to approve or reject first.")
                many = await queue.decide_many(conn, user, name, ids, action, reason)
                decided, failed = many["decided"], many["failed"]
    except MootError as error:
        if error.status in (401, 403):
            raise
        return await queue_page(request, error=error.message, status=error.status)
    teach(site, decided)
    if failed:  # the others' decisions stand
        told = "; ".join(f"item {f['id']}: {f['error']['message']}" for f in failed)
        return await queue_page(request, error=f"Not decided: {told}", status=409)
    return RedirectResponse(f"/g/{name}/queue", status_code=303)


async def my_queue_page(request: Request) -> Response:
    """A member's own waiting submissions and hidden articles."""
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    async with site_of(request).db.read() as conn:
        result = await queue.mine(conn, user)
    return await page(request, "queue_mine.html", result, headers=PRIVATE)


async def _report_page(
    request: Request, *, values: dict, error: str | None = None, status: int = 200
) -> Response:
    async with site_of(request).db.read() as conn:
        article = await reading.get_article(conn, request.path_params["id"])
    if article["status"] not in ("ok", "hidden"):
        raise NotFound("that article was withdrawn: there is nothing to report")
    context = {"article": article, "values": values, "error": error}
    return await page(request, "report.html", context, status=status, headers=PRIVATE)


async def report_form(request: Request) -> Response:
    if await current_user(request) is None:
        return sign_in_first(request)
    return await _report_page(request, values={"reason": "", "note": ""})


async def report_submit(request: Request) -> Response:
    form = await checked_form(request)
    site = site_of(request)
    user = await current_user(request)
    try:
        async with site.db.transaction() as conn:
            await reports.report(
                conn,
                user,
                request.path_params["id"],
                form.get("reason"),
                form.get("note") or None,
                threshold=site.config.report_threshold,
                rules=site.trust_rules,
            )
            article = await reading.get_article(conn, request.path_params["id"])
    except MootError as error:
        if error.status in (401, 403, 404):
            raise
        values = {"reason": form.get("reason", ""), "note": form.get("note", "")}
        return await _report_page(request, values=values, error=error.message, status=error.status)
    return RedirectResponse(await article_link(site, article, reported=1), status_code=303)


async def queue_mail(request: Request) -> Response:
    """GET or PUT {"daily": bool} /api/groups/{name}/queue/mail: the moderator's own choice."""
    user = await current_user(request)
    name = request.path_params["name"]
    if request.method == "GET":
        async with site_of(request).db.read() as conn:
            return JSONResponse(await queuemail.get(conn, user, name), headers=PRIVATE)
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        result = await queuemail.set_daily(conn, user, name, data.get("daily"))
    return JSONResponse(result)


def _moved(to: str, status: int) -> Callable[[Request], Awaitable[Response]]:
    """A handler that sends an old held-mail address on to its queue address."""

    async def handler(request: Request) -> Response:
        return RedirectResponse(to.format(**request.path_params), status_code=status)

    return handler


routes = [
    Route("/api/groups/{name}/queue", queue_list),
    Route("/api/groups/{name}/queue/mail", queue_mail, methods=["GET", "PUT"]),
    Route("/api/groups/{name}/queue/{id:int}/{action:str}", queue_decide, methods=["POST"]),
    Route("/api/groups/{name}/queue/{action:str}", queue_decide, methods=["POST"]),
    Route("/api/me/queue", my_queue),
    Route("/api/articles/{ref:path}/report", report_article, methods=["POST"]),
    Route("/api/groups/{name}/stranger-mail", stranger_mail, methods=["PUT"]),
    Route("/api/groups/{name}/review-new", review_new, methods=["PUT"]),
    Route("/api/admin/review-new", review_all, methods=["GET", "PUT"]),
    Route("/api/groups/{name}/held-mail", _moved("/api/groups/{name}/queue", 301)),
    Route(
        "/api/groups/{name}/held-mail/{id:int}/{action:str}",
        _moved("/api/groups/{name}/queue/{id}/{action}", 308),
        methods=["POST"],
    ),
    Route("/g/{name}/held-mail", _moved("/g/{name}/queue", 301)),
    Route("/g/{name}/queue", queue_page),
    Route("/g/{name}/queue/{id:int}/{action:str}", queue_form, methods=["POST"]),
    Route("/g/{name}/queue/{action:str}", queue_form, methods=["POST"]),
    Route("/g/{name}/stranger-mail", queue_form, methods=["POST"]),
    Route("/queue/mine", my_queue_page),
    Route("/a/{id:int}/report", report_form),
    Route("/a/{id:int}/report", report_submit, methods=["POST"]),
]
