"""Posting over HTTP: start a thread, reply, withdraw (JSON), the same as
forms that work without JavaScript, and creating groups (admins). Every
post goes through Site.posting, so the posting rate applies everywhere."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from aiosqlite import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..articles import editing, groups, posting, reading, repetition
from ..people import drafts
from ..runtime.site import Site
from ..stewardship import spam
from ..stewardship.permissions import User, may_cancel, require
from ..store import validate
from ..store.errors import AuthRequired, Forbidden, Invalid, MootError
from .accounts import checked_form
from .common import article_link, current_user, page, sign_in_first, site_of
from .rendering import Span, body_html, quote_for_reply
from .security import read_json


async def create_group(request: Request) -> Response:
    site = site_of(request)
    user = require(await current_user(request), "admin")
    data = await read_json(request)
    async with site.db.transaction() as conn:
        group = await groups.create_group(
            conn,
            user,
            data.get("name"),
            data.get("description", ""),
            data.get("charter", ""),
            data.get("status", "y"),
        )
    return JSONResponse({"group": group}, status_code=201)


async def start_thread(request: Request) -> Response:
    user = require(await current_user(request), "post")
    data = await read_json(request)
    submission = posting.Submission(
        body=data.get("body"),
        subject=data.get("subject"),
        group=request.path_params["name"],
        continued_from=data.get("continued_from"),
    )
    return await _posted(request, user, submission)


async def scored(site: Site, user: User, submission: posting.Submission) -> posting.Submission:
    """The submission with spamd's verdict on it, asked now, before the write
    transaction opens (unchanged when scoring is off)."""
    if site.spamd is None:
        return submission
    message = spam.message(
        author=user.display_name,
        addr=f"{user.username}@{site.config.domain}",
        subject=str(submission.subject or ""),
        body=str(submission.body or ""),
        group=str(submission.group or ""),
    )
    return dataclasses.replace(submission, spam=await site.spam_verdict(user, message))


async def _submit(site: Site, user: User, submission: posting.Submission) -> dict:
    """Score the submission, then post it through the group commit under the site's repetition rules."""
    submission = await scored(site, user, submission)
    rules = repetition.Rules.from_config(site.config)

    async def action(conn: Connection) -> dict:
        result = await posting.submit(
            conn, site.config.domain, user, submission, site.trust_rules, repeat=rules
        )
        # What was sent is no longer a draft: discarded in the post's own transaction.
        article = result.get("article")
        if article:
            await drafts.discard_posted(conn, user.id, article["parent_id"], article["group"])
        else:
            await drafts.discard_posted(conn, user.id, submission.parent, submission.group)
        return result

    return await site.post(user, action)


async def _posted(request: Request, user: User, submission: posting.Submission) -> Response:
    """Submit over the API: 201 with what was posted, or 202 with the queue
    item when it waits for the moderators (of a moderated group, or as spam)."""
    result = await _submit(site_of(request), user, submission)
    return JSONResponse(result, status_code=202 if "held" in result else 201)


async def post_reply(request: Request) -> Response:
    user = require(await current_user(request), "post")
    data = await read_json(request)
    submission = posting.Submission(
        body=data.get("body"), subject=data.get("subject"), parent=request.path_params["ref"]
    )
    return await _posted(request, user, submission)


async def cancel_article(request: Request) -> Response:
    site = site_of(request)
    user = await current_user(request)
    data = await read_json(request)
    async with site.db.transaction() as conn:
        article = await posting.cancel(conn, user, request.path_params["ref"], data.get("reason"))
    return JSONResponse({"article": article})


async def preview(request: Request) -> Response:
    """A text rendered as the thread page would show it, before it is posted."""
    require(await current_user(request), "post")
    data = await read_json(request)
    return JSONResponse({"html": str(body_html(validate.body(data.get("body"))))})


# Forms


async def _poster(request: Request) -> User:
    """Who sends a compose form, which keeps what was typed when it is refused:
    one whose session ended meanwhile is told how to send it again."""
    user = await current_user(request)
    if user is None:
        raise AuthRequired(
            "you are signed out (your session ended, or you signed out in another window): "
            "sign in in another tab, then send this again; what you wrote is kept below"
        )
    return require(user, "post")


async def _new_thread_context(conn: Connection, name: str, continued: object) -> dict:
    return {
        "group": await groups.get_group(conn, name),
        "continued_from": reading.thread_json(await posting.continued_thread(conn, continued))
        if continued
        else None,
    }


async def new_thread_form(request: Request) -> Response:
    site = site_of(request)
    if await current_user(request) is None:
        return sign_in_first(request)
    async with site.db.read() as conn:
        context = await _new_thread_context(
            conn, request.path_params["name"], request.query_params.get("continued_from")
        )
    if context["group"]["status"] == "n":  # no form that nobody may send
        raise Forbidden(f"{context['group']['name']} is read-only: nobody posts here.")
    earlier = context["continued_from"]
    return await page(
        request,
        "new_thread.html",
        {
            **context,
            "subject": f"{earlier['subject']} (continued)"[:250] if earlier else "",
            "body": "",
            "error": None,
        },
    )


async def new_thread_submit(request: Request) -> Response:
    form = await checked_form(request)
    site = site_of(request)
    name = request.path_params["name"]
    continued = form.get("continued_from") or None
    submission = posting.Submission(
        body=form.get("body"),
        subject=form.get("subject"),
        group=name,
        continued_from=continued,
        channel="web",
    )
    try:
        started = await _submit(site, await _poster(request), submission)
    except MootError as error:  # shown above the form, which keeps what was typed
        async with site.db.read() as conn:
            context = await _new_thread_context(conn, name, continued)
        return await page(
            request,
            "new_thread.html",
            {
                **context,
                "subject": form.get("subject", ""),
                "body": form.get("body", ""),
                "error": error.message,
            },
            status=error.status,
        )
    if "held" in started:
        return RedirectResponse(f"/g/{name}?held={started['held']['id']}", status_code=303)
    return RedirectResponse(f"/t/{started['thread']['id']}", status_code=303)


async def _reply_context(conn: Connection, article_ref: object) -> dict:
    parent = await reading.get_article(conn, article_ref)
    return {"parent": parent, "thread": await reading.get_thread(conn, parent["thread_id"])}


def _span(request: Request) -> Span | None:
    """The passage to quote: `from` and `to` as LINE.COLUMN of the body (the
    thread page's script maps a selection to them), or none for the whole."""
    ends = [request.query_params.get(name) for name in ("from", "to")]
    if ends == [None, None]:
        return None
    points = []
    for end in ends:
        line, dot, column = (end or "").partition(".")
        if not (dot and line.isdigit() and column.isdigit() and len(line) < 7 and len(column) < 7):
            raise Invalid("from and to name a place in the article as LINE.COLUMN, such as 2.15")
        points.append((int(line), int(column)))
    if points[1] < points[0]:
        raise Invalid("the quoted passage must end after it starts")
    return points[0], points[1]


async def reply_form(request: Request) -> Response:
    """The reply form, prefilled with the article quoted; `?fragment=1` gives
    just the form, which the thread page's script places under the article."""
    site = site_of(request)
    fragment = request.query_params.get("fragment") == "1"
    if await current_user(request) is None and not fragment:
        return sign_in_first(request)
    async with site.db.read() as conn:
        context = await _reply_context(conn, request.path_params["id"])
    parent = context["parent"]
    quoted = quote_for_reply(
        parent["author"]["display_name"], parent["created_at"], parent["body"], _span(request)
    )
    context.update(body=quoted, subject="", error=None)
    return await page(request, "reply_fragment.html" if fragment else "reply.html", context)


async def reply_submit(request: Request) -> Response:
    form = await checked_form(request)
    site = site_of(request)
    submission = posting.Submission(
        body=form.get("body"),
        subject=form.get("subject") or None,
        parent=request.path_params["id"],
        channel="web",
    )
    try:
        posted = await _submit(site, await _poster(request), submission)
    except MootError as error:  # shown above the form, which keeps what was typed
        async with site.db.read() as conn:
            context = await _reply_context(conn, request.path_params["id"])
        context.update(body=form.get("body", ""), subject=form.get("subject", ""), error=error.message)
        return await page(request, "reply.html", context, status=error.status)
    if "held" in posted:
        return RedirectResponse(f"/g/{posted['held']['group']}?held={posted['held']['id']}", status_code=303)
    return RedirectResponse(await article_link(site, posted["article"]), status_code=303)


async def withdraw_form(request: Request) -> Response:
    """Withdrawing without JavaScript: a page that asks to confirm (403 at
    once, with the reason, for a reader who may not withdraw it)."""
    site = site_of(request)
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    async with site.db.read() as conn:
        row = await reading.article_row(conn, request.path_params["id"])
        may_cancel(user, row["user_id"], row["group_name"])
        article = await reading.get_article(conn, request.path_params["id"])
        thread = await reading.get_thread(conn, article["thread_id"])
    return await page(
        request, "withdraw.html", {"article": article, "thread": thread, "reason": "", "error": None}
    )


async def withdraw_submit(request: Request) -> Response:
    form = await checked_form(request)
    site = site_of(request)
    user = await current_user(request)
    try:
        async with site.db.transaction() as conn:
            article = await posting.cancel(conn, user, request.path_params["id"], form.get("reason") or None)
    except MootError as error:  # shown above the form
        async with site.db.read() as conn:
            article = await reading.get_article(conn, request.path_params["id"])
            thread = await reading.get_thread(conn, article["thread_id"])
        return await page(
            request,
            "withdraw.html",
            {"article": article, "thread": thread, "reason": form.get("reason", ""), "error": error.message},
            status=error.status,
        )
    return RedirectResponse(await article_link(site_of(request), article), status_code=303)


async def _edit(request: Request, user: User, ref: object, fields: Mapping[str, object]) -> dict:
    """Edit the article `ref` names to the body and subject `fields` give."""
    site = site_of(request)

    async def action(conn: Connection) -> dict:  # an edit spends from the posting rate
        article = await editing.edit(
            conn,
            user,
            ref,
            fields.get("body"),
            fields.get("subject"),
            grace_minutes=site.config.edit_grace_minutes,
            rules=site.trust_rules,
        )
        await drafts.discard(conn, user.id, f"edit:{article['id']}")  # sent: no longer a draft
        return article

    return await site.post(user, action)


async def edit_article(request: Request) -> Response:
    user = require(await current_user(request), "post")
    article = await _edit(request, user, request.path_params["ref"], await read_json(request))
    return JSONResponse({"article": article})


async def edit_form(request: Request) -> Response:
    site = site_of(request)
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    async with site.db.read() as conn:  # refused at once when the edit could not be sent
        await editing.editable(
            conn, user, request.path_params["id"], grace_minutes=site.config.edit_grace_minutes
        )
        article = await reading.get_article(conn, request.path_params["id"])
    return await page(
        request,
        "edit.html",
        {"article": article, "body": article["body"], "subject": article["subject"], "error": None},
    )


async def edit_submit(request: Request) -> Response:
    form = await checked_form(request)
    try:
        article = await _edit(request, await _poster(request), request.path_params["id"], form)
    except MootError as error:  # shown above the form, which keeps what was typed
        async with site_of(request).db.read() as conn:
            article = await reading.get_article(conn, request.path_params["id"])
        return await page(
            request,
            "edit.html",
            {
                "article": article,
                "body": form.get("body", ""),
                "subject": form.get("subject", ""),
                "error": error.message,
            },
            status=error.status,
        )
    return RedirectResponse(await article_link(site_of(request), article), status_code=303)


async def history_page(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        result = await editing.history(conn, request.path_params["id"])
    return await page(request, "history.html", result)


routes = [
    Route("/api/groups", create_group, methods=["POST"]),
    Route("/api/groups/{name}/threads", start_thread, methods=["POST"]),
    Route("/api/articles/{ref:path}/replies", post_reply, methods=["POST"]),
    Route("/api/articles/{ref:path}/cancel", cancel_article, methods=["POST"]),
    Route("/api/preview", preview, methods=["POST"]),
    Route("/g/{name}/new", new_thread_form),
    Route("/g/{name}/new", new_thread_submit, methods=["POST"]),
    Route("/a/{id:int}/reply", reply_form),
    Route("/a/{id:int}/reply", reply_submit, methods=["POST"]),
    Route("/a/{id:int}/withdraw", withdraw_form),
    Route("/a/{id:int}/withdraw", withdraw_submit, methods=["POST"]),
    Route("/api/articles/{ref:path}", edit_article, methods=["PUT"]),
    Route("/a/{id:int}/edit", edit_form),
    Route("/a/{id:int}/edit", edit_submit, methods=["POST"]),
    Route("/a/{id:int}/history", history_page),
]
