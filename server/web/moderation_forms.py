"""Moderation without JavaScript: each action the thread page's dialog
offers (split, merge, move, lock, archive, the reference shelf) and undo in
the log are also a link to a small form page that posts here, calls the same
domain function as the JSON API and redirects to where the thread went."""

from __future__ import annotations

import re

from aiosqlite import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..articles import groups, reading
from ..articles.subjects import base_subject
from ..stewardship import actions, groupmods, maintenance, modlog, undo
from ..stewardship.permissions import moderates, require, require_moderator
from ..store.errors import Invalid, MootError, NotFound
from .accounts import checked_form
from .common import current_user, page, sign_in_first, site_of

# action -> (title, what it does, the fields besides the reason, whether a reason is required)
ACTIONS: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "split": (
        "Split from here",
        "This article and every reply below it become a new thread.",
        ("subject", "group"),
        True,
    ),
    "merge": (
        "Merge into another thread",
        "This whole thread becomes a reply to the article you name, in its thread.",
        ("target",),
        True,
    ),
    "move": (
        "Move to another group",
        "The thread and all its articles move; their Message-IDs stay the same.",
        ("group",),
        True,
    ),
    "lock": ("Lock this thread", "Only moderators can post to a locked thread.", (), False),
    "unlock": ("Unlock this thread", "Everyone can reply again.", (), False),
    "archive": (
        "Archive this thread",
        "Archived threads are read-only and listed in the group's archive.",
        (),
        False,
    ),
    "unarchive": ("Unarchive this thread", "The thread becomes open again.", (), False),
    "reference": (
        "Put on the reference shelf",
        "The thread is listed under “Read these first” on the group page.",
        (),
        False,
    ),
    "unreference": (
        "Take off the reference shelf",
        "The thread is no longer listed under “Read these first”.",
        (),
        False,
    ),
}
# The actions only a group's home node makes (actions.NotHome elsewhere).
STRUCTURAL = ("split", "merge", "move")
_ANCHOR = re.compile(r"(?:^|#a)(\d{1,18})\Z")
_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


async def article_named(conn: Connection, text: str) -> int:
    """An article id from what a moderator typed: 123, #a123, a link ending in #a123, or a Message-ID."""
    value = text.strip()[:1000]
    anchor = _ANCHOR.search(value)
    if anchor:
        return int(anchor[1])
    mid = _MESSAGE_ID.search(value)
    if mid:
        return int((await reading.get_article(conn, mid[0]))["id"])
    raise Invalid("name the article by its number, its #a link or its Message-ID")


async def _context(request: Request, action: str) -> dict:
    """What the form page shows, once the reader is known to moderate the thread's group."""
    if action not in ACTIONS:
        raise NotFound(f"no moderation action named {action[:40]!r}")
    title, intro, fields, required = ACTIONS[action]
    user = await current_user(request)
    async with site_of(request).db.read() as conn:
        thread = await reading.get_thread(conn, request.path_params["id"])
        require_moderator(user, thread["group"])
        article = None
        if action == "split":
            article = await reading.get_article(conn, request.query_params.get("article"))
            if article["thread_id"] != thread["id"]:
                raise NotFound("that article is not in this thread now")
        names = [g["name"] for g in await groups.list_groups(conn) if moderates(user, g["name"])]
        names = names if "group" in fields else []
        home = actions.home_json(
            await groups.get_group_row(conn, thread["group"]), site_of(request).config.domain
        )
    return {
        # Split, merge and move are made on the group's home node only (docs/PEERING.md).
        "elsewhere": None if home["here"] or action not in STRUCTURAL else home["node"],
        "thread": thread,
        "action": action,
        "title": title,
        "intro": intro,
        "fields": fields,
        "reason_required": required,
        "article": article,
        "group_names": names,
        "error": None,
        "values": {
            "subject": base_subject(article["subject"]) if article else "",
            "group": thread["group"] if action == "split" else "",
            "target": "",
            "reason": "",
        },
    }


async def moderate_form(request: Request) -> Response:
    """The form for one action on a thread (`?article=` names the split's article)."""
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    return await page(request, "moderate.html", await _context(request, request.path_params["action"]))


async def _perform(request: Request, action: str, form: dict[str, str]) -> str:
    """Do `action` as the form asks; returns where to go next."""
    site = site_of(request)
    user = require(await current_user(request), "track")  # the domain checks the groups
    thread_id = request.path_params["id"]
    reason = form.get("reason") or None
    async with site.db.transaction() as conn:
        if action == "split":
            result = await actions.split(
                conn,
                site.config.domain,
                user,
                maintenance.Split(
                    thread_id,
                    request.query_params.get("article"),
                    reason,
                    subject=form.get("subject") or None,
                    group=form.get("group") or None,
                ),
            )
            return f"/t/{result['thread']['id']}"
        if action == "merge":
            target = await article_named(conn, form.get("target", ""))
            result = await actions.merge(
                conn, site.config.domain, user, maintenance.Merge(thread_id, target, reason)
            )
            return f"/t/{result['thread']['id']}#a{target}"
        if action == "move":
            await actions.move(conn, site.config.domain, user, thread_id, form.get("group"), reason=reason)
        elif action in ("reference", "unreference"):
            await maintenance.set_reference(conn, user, thread_id, action == "reference", reason)
        else:
            await maintenance.set_state(conn, user, thread_id, action, reason)
    return f"/t/{thread_id}"


async def moderate_submit(request: Request) -> Response:
    form = await checked_form(request)
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise NotFound(f"no moderation action named {action[:40]!r}")
    try:
        target = await _perform(request, action, form)
    except MootError as error:  # above the form, which keeps what was typed
        context = await _context(request, action)
        context["values"].update({k: form.get(k, "") for k in ("subject", "group", "target", "reason")})
        return await page(request, "moderate.html", {**context, "error": error.message}, status=error.status)
    return RedirectResponse(target, status_code=303)


async def undo_form(request: Request) -> Response:
    """Undoing a logged split or merge without JavaScript."""
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    async with site_of(request).db.read() as conn:
        entry = await modlog.get_entry(conn, request.path_params["id"])
    require_moderator(user, entry["group"], *([entry["other_group"]] if entry["other_group"] else []))
    undo.check_undoable(entry)  # no form for what cannot be undone: the page says why
    return await page(request, "undo.html", {"entry": entry, "reason": "", "error": None})


async def undo_submit(request: Request) -> Response:
    form = await checked_form(request)
    site = site_of(request)
    try:
        user = require(await current_user(request), "track")  # the domain checks the groups
        async with site.db.transaction() as conn:
            done = await actions.undo_entry(
                conn, site.config.domain, user, request.path_params["id"], form.get("reason")
            )
    except MootError as error:
        async with site.db.read() as conn:
            entry = await modlog.get_entry(conn, request.path_params["id"])
        return await page(
            request,
            "undo.html",
            {"entry": entry, "reason": form.get("reason", ""), "error": error.message},
            status=error.status,
        )
    return RedirectResponse(f"/modlog#e{done['id']}", status_code=303)


async def group_moderator_submit(request: Request) -> Response:
    """An admin's form on the group page: `username` made a moderator of the
    group (`change` add) or removed (remove); back to the group page."""
    form = await checked_form(request)
    name = request.path_params["name"]
    change = groupmods.appoint if form.get("change") == "add" else groupmods.dismiss
    try:
        async with site_of(request).db.transaction() as conn:
            await change(conn, await current_user(request), name, form.get("username"), form.get("reason"))
    except MootError as error:  # the form again, as typed, with why it was refused
        if error.status in (401, 403):
            raise
        context = {
            "group": {"name": name},
            "moderator_username": form.get("username", ""),
            "error": error.message,
        }
        return await page(request, "group_moderators.html", context, status=error.status)
    return RedirectResponse(f"/g/{name}#moderators", status_code=303)


routes = [
    Route("/t/{id:int}/moderate/{action}", moderate_form),
    Route("/t/{id:int}/moderate/{action}", moderate_submit, methods=["POST"]),
    Route("/modlog/{id:int}/undo", undo_form),
    Route("/modlog/{id:int}/undo", undo_submit, methods=["POST"]),
    Route("/g/{name}/moderators", group_moderator_submit, methods=["POST"]),
]
