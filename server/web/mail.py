"""Groups by email over HTTP: the account's address and its confirmation
link, per-group mail subscriptions, notifications by mail, RFC 8058
one-click unsubscribe, and the admins' dead letters. Every decision is in
moot.mail.mailing and moot.mail.noticemail."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Awaitable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..articles import repetition
from ..mail import mailing, mailqueue, noticemail, unverified
from ..stewardship.permissions import User, require
from ..store.errors import AuthRequired, Conflict, MootError
from .common import cookies_of, current_user, page, site_of
from .security import read_body, read_form, read_json

# RFC 8058 §3.2: the one-click POST body is small; a kilobyte is plenty.
ONE_CLICK_MAX_BYTES = 1024


def _form_fields(content_type: str, body: bytes) -> list[tuple[object, object]]:
    """A form's (name, value) pairs, sent as multipart/form-data (RFC 7578, what
    RFC 8058 §3.2 shows) or else as application/x-www-form-urlencoded."""
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        return [(k, v.encode()) for k, v in parse_qsl(body.decode("utf-8", "replace"))]
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    form = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    parts = form.iter_parts() if form.is_multipart() else ()
    return [(p.get_param("name", header="content-disposition"), p.get_payload(decode=True)) for p in parts]


async def _signed_in(request: Request) -> User:
    user = await current_user(request)
    if user is None:
        raise AuthRequired("sign in first")
    return user


def require_mail(request: Request) -> None:
    """409 unless outgoing mail is on (MOOT_SMTP_URL)."""
    if not site_of(request).config.smtp_url:
        raise Conflict("mail is off on this site (no MOOT_SMTP_URL)")


async def set_email(request: Request) -> Response:
    user = await _signed_in(request)
    data = await read_json(request)
    require_mail(request)
    site = site_of(request)
    async with site.db.transaction() as conn:
        email = await mailing.set_email(conn, site.secret, user, data.get("email"))
    return JSONResponse({"email": email})


async def notification_mail(request: Request) -> Response:
    user = await _signed_in(request)
    data = await read_json(request)
    if data.get("mode") != "off":
        require_mail(request)
    async with site_of(request).db.transaction() as conn:
        mode = await noticemail.set_mode(conn, user.id, data.get("mode"))
    return JSONResponse({"notification_mail": mode})


async def subscription(request: Request) -> Response:
    user = await _signed_in(request)
    site, name = site_of(request), request.path_params["name"]
    if request.method == "GET":
        async with site.db.read() as conn:
            return JSONResponse({"subscription": await mailing.get_subscription(conn, user, name)})
    data = await read_json(request)
    if data.get("mail") != "none":
        require_mail(request)
    async with site.db.transaction() as conn:
        result = await mailing.set_subscription(conn, user, name, data.get("mail"))
    return JSONResponse({"subscription": result})


def _link_page(
    request: Request,
    title: str,
    message: str,
    *,
    action: str | None = None,
    button: str = "",
    one_click: bool = False,
    status: int = 200,
    held: dict | None = None,
) -> Awaitable[Response]:
    return page(
        request,
        "mail_link.html",
        {
            "title": title,
            "message": message,
            "action": action,
            "button": button,
            "one_click": one_click,
            "held": held,
        },
        status=status,
    )


async def confirm_page(request: Request) -> Response:
    token = request.path_params["token"]
    return await _link_page(
        request,
        "Confirm your address",
        "Confirm that this address may receive mail from this site.",
        action=f"/confirm/{token}",
        button="Confirm",
    )


async def confirm_submit(request: Request) -> Response:
    form = await read_form(request)
    cookies_of(request).check_csrf(request, form.get("csrf"))
    site = site_of(request)
    try:
        async with site.db.transaction() as conn:
            email = await mailing.confirm_email(
                conn, site.secret, request.path_params["token"], site.config.mail_confirm_hours
            )
    except MootError as error:
        return await _link_page(request, "That did not work", error.message, status=error.status)
    return await _link_page(request, "Address confirmed", f"{email} is confirmed.")


async def confirm_json(request: Request) -> Response:
    data = await read_json(request)
    site = site_of(request)
    async with site.db.transaction() as conn:
        email = await mailing.confirm_email(
            conn, site.secret, data.get("token"), site.config.mail_confirm_hours
        )
    return JSONResponse({"email": {"address": email, "confirmed": True}})


async def held_page(request: Request) -> Response:
    """What a held mail's confirmation link would publish; a GET changes nothing."""
    token = request.path_params["token"]
    try:
        async with site_of(request).db.read() as conn:
            held = await unverified.pending(conn, token)
    except MootError as error:
        return await _link_page(request, "That did not work", error.message, status=error.status)
    return await _link_page(
        request,
        "Publish your mail?",
        "This mail came with your address as its sender but nothing showed you sent it. "
        "Publish it only if you did.",
        action=f"/mail/held/{token}",
        button="Publish it",
        held=held,
    )


async def held_submit(request: Request) -> Response:
    """Publish a held mail as its member: the link's token is the credential, once."""
    form = await read_form(request)
    cookies_of(request).check_csrf(request, form.get("csrf"))
    site = site_of(request)
    try:
        async with site.db.transaction() as conn:
            posted = await unverified.confirm(
                conn,
                site.config.domain,
                request.path_params["token"],
                site.trust_rules,
                repetition.Rules.from_config(site.config),
            )
    except MootError as error:
        return await _link_page(request, "That did not work", error.message, status=error.status)
    if "held" in posted:
        return await _link_page(
            request, "Confirmed", f"It now waits for the moderators of {posted['held']['group']}."
        )
    return await _link_page(
        request, "Published", f"Your mail is posted as {posted['article']['message_id']}."
    )


async def unsubscribe_page(request: Request) -> Response:
    token = request.path_params["token"]
    return await _link_page(
        request,
        "Unsubscribe",
        "Stop this mail?",
        action=f"/unsubscribe/{token}",
        button="Unsubscribe",
        one_click=True,
    )


async def unsubscribe_submit(request: Request) -> Response:
    """RFC 8058 §3.2: a POST whose body holds List-Unsubscribe=One-Click, sent by
    a mail client without cookies, so the signed token is the only credential."""
    body = await read_body(request, ONE_CLICK_MAX_BYTES)
    if ("List-Unsubscribe", b"One-Click") not in _form_fields(request.headers.get("content-type", ""), body):
        return await _link_page(
            request, "That did not work", "the request lacks List-Unsubscribe=One-Click", status=400
        )
    site = site_of(request)
    try:
        async with site.db.transaction() as conn:
            result = await mailing.unsubscribe(conn, site.secret, request.path_params["token"])
    except MootError as error:
        return await _link_page(request, "That did not work", error.message, status=error.status)
    return await _link_page(request, "Unsubscribed", f"No more mail for {result['stopped']}.")


async def dead_letters(request: Request) -> Response:
    require(await current_user(request), "admin")
    before = request.query_params.get("before")
    async with site_of(request).db.read() as conn:
        rows = await mailqueue.dead_letters(conn, before=int(before) if before and before.isdigit() else None)
    return JSONResponse({"dead_letters": rows})


async def retry_dead_letter(request: Request) -> Response:
    require(await current_user(request), "admin")
    await read_json(request)
    async with site_of(request).db.transaction() as conn:
        await mailqueue.requeue(conn, int(request.path_params["id"]))
    return Response(status_code=204)


routes = [
    Route("/api/me/email", set_email, methods=["PUT"]),
    Route("/api/me/notification-mail", notification_mail, methods=["PUT"]),
    Route("/api/groups/{name}/subscription", subscription, methods=["GET", "PUT"]),
    Route("/api/confirm", confirm_json, methods=["POST"]),
    Route("/confirm/{token}", confirm_page),
    Route("/confirm/{token}", confirm_submit, methods=["POST"]),
    Route("/mail/held/{token}", held_page),
    Route("/mail/held/{token}", held_submit, methods=["POST"]),
    Route("/unsubscribe/{token}", unsubscribe_page),
    Route("/unsubscribe/{token}", unsubscribe_submit, methods=["POST"]),
    Route("/api/admin/mail/dead", dead_letters),
    Route("/api/admin/mail/dead/{id:int}/retry", retry_dead_letter, methods=["POST"]),
]
