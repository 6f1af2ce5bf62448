"""People over HTTP: profiles (`/u/{name}`), the reader's own account page
(display name, password, sessions, sign out everywhere, delete), and password
reset links (issued by an admin here or by `moot reset-password`, or mailed
to the member who forgot their password: `/api/password-reset`, `/forgot`),
and recovery codes (made on the account page, used at `/recover`). JSON and
forms side by side; everything but profiles acts on the signed-in reader."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..mail import mailing, noticemail
from ..people import accounts, drafts, killfile, profiles, readstate, recovery, resets, sessions
from ..stewardship.permissions import User, require
from ..store.errors import AuthRequired, Conflict, Invalid, MootError, NotFound, RateLimited, TooLarge
from .accounts import checked_form
from .common import (
    PRIVATE,
    client_address,
    cookies_of,
    current_user,
    page,
    query_string,
    sign_in_first,
    site_of,
)
from .mail import require_mail
from .security import read_json

# The errors the account forms show next to themselves (the rest get the error page).
FORM_ERRORS: tuple[type[MootError], ...] = (Invalid, AuthRequired, TooLarge, RateLimited, Conflict)


def _me(user: User | None) -> User:
    if user is None:
        raise AuthRequired("sign in first")
    return user


async def _reset_link(request: Request, admin: User) -> str:
    """A new reset link for the person the path names, within the admin's rate."""
    site = site_of(request)
    site.reset_links.take(admin.id, "issuing reset links")
    async with site.db.transaction() as conn:
        _, token = await resets.issue(conn, site.secret, request.path_params["name"])
    return f"{request.base_url}reset/{token}"


async def _mail_reset(request: Request, username: object) -> None:
    """Queue a reset link by mail if the account has a confirmed address. Mail
    must be on; the per-address limit is reserved before any work and is the
    same for every name. Asking about a name never refuses its owner's own
    request: resets.mail_link mails an account at most once per window."""
    site = site_of(request)
    require_mail(request)
    site.reset_mail_addresses.take(client_address(request), "asking for reset links")
    async with site.db.transaction() as conn:
        await resets.mail_link(
            conn, site.secret, username, site_url=site.config.site_url, site_name=site.config.site_name
        )


# JSON


async def get_profile(request: Request) -> Response:
    q = request.query_params
    async with site_of(request).db.read() as conn:
        result = await profiles.get_profile(
            conn,
            request.path_params["name"],
            limit=q.get("limit"),
            cursor=q.get("cursor"),
            rules=site_of(request).trust_rules,
        )
    return JSONResponse(result)


async def update_me(request: Request) -> Response:
    user = _me(await current_user(request))
    data = await read_json(request)
    user = await accounts.set_display_name(site_of(request).db, user, data.get("display_name"))
    return JSONResponse({"user": user.to_json()})


async def change_password(request: Request) -> Response:
    user = _me(await current_user(request))
    data = await read_json(request)
    ended = await sessions.change_password(
        site_of(request),
        user,
        data.get("current_password"),
        data.get("new_password"),
        address=client_address(request),
        keep_token=cookies_of(request).session_token(request),
    )
    return JSONResponse({"ended_sessions": ended})


async def my_sessions(request: Request) -> Response:
    user = _me(await current_user(request))
    found = await accounts.list_sessions(
        site_of(request).db, user, cookies_of(request).session_token(request)
    )
    return JSONResponse({"sessions": found}, headers=PRIVATE)


async def end_my_session(request: Request) -> Response:
    user = _me(await current_user(request))
    cookies = cookies_of(request)
    own = await accounts.end_listed_session(
        site_of(request).db, user, request.path_params["id"], cookies.session_token(request)
    )
    response = Response(status_code=204)
    if own:
        cookies.clear_session(response)
    return response


async def sign_out_everywhere(request: Request) -> Response:
    user = _me(await current_user(request))
    await read_json(request)
    await accounts.end_sessions(site_of(request).db, user)
    response = Response(status_code=204)
    cookies_of(request).clear_session(response)
    return response


async def delete_me(request: Request) -> Response:
    user = _me(await current_user(request))
    data = await read_json(request)
    await sessions.delete_account(
        site_of(request), user, data.get("password"), address=client_address(request)
    )
    response = Response(status_code=204)
    cookies_of(request).clear_session(response)
    return response


async def issue_reset(request: Request) -> Response:
    admin = require(await current_user(request), "admin")
    await read_json(request)
    url = await _reset_link(request, admin)
    return JSONResponse({"url": url, "expires_in": resets.VALID_SECONDS}, status_code=201, headers=PRIVATE)


async def use_reset(request: Request) -> Response:
    data = await read_json(request)
    user = await sessions.redeem_reset(
        site_of(request), data.get("token"), data.get("password"), address=client_address(request)
    )
    return JSONResponse({"user": user.to_json()})


async def password_reset(request: Request) -> Response:
    """A reset link by mail: always 202 and the same words, whatever the name."""
    data = await read_json(request)
    await _mail_reset(request, data.get("username"))
    return JSONResponse({"status": resets.MAILED}, status_code=202, headers=PRIVATE)


async def find_people(request: Request) -> Response:
    """Members whose username starts with `prefix`: an @mention completed as it is typed."""
    _me(await current_user(request))
    async with site_of(request).db.read() as conn:
        found = await profiles.find_people(conn, request.query_params.get("prefix"))
    return JSONResponse({"people": found}, headers=PRIVATE)


async def my_recovery_codes(request: Request) -> Response:
    """How many of my recovery codes are unused (never the codes)."""
    user = _me(await current_user(request))
    async with site_of(request).db.read() as conn:
        left = await recovery.remaining(conn, user.id)
    return JSONResponse({"remaining": left}, headers=PRIVATE)


async def new_recovery_codes(request: Request) -> Response:
    """A new set of recovery codes, given the current password; shown this once."""
    user = _me(await current_user(request))
    data = await read_json(request)
    codes = await sessions.new_recovery_codes(
        site_of(request), user, data.get("password"), address=client_address(request)
    )
    return JSONResponse({"codes": codes}, status_code=201, headers={"Cache-Control": "no-store"})


async def use_recovery_code(request: Request) -> Response:
    data = await read_json(request)
    user = await sessions.redeem_recovery(
        site_of(request),
        data.get("username"),
        data.get("code"),
        data.get("password"),
        address=client_address(request),
    )
    return JSONResponse({"user": user.to_json()}, headers=PRIVATE)


# Pages and forms


async def _forgot(
    request: Request, *, notice: str | None = None, error: str | None = None, status: int = 200
) -> Response:
    mail_on = bool(site_of(request).config.smtp_url)
    return await page(
        request,
        "forgot.html",
        {"mail_on": mail_on, "notice": notice, "error": error},
        status=status,
        headers=PRIVATE,
    )


async def forgot_page(request: Request) -> Response:
    return await _forgot(request)


async def forgot_submit(request: Request) -> Response:
    form = await checked_form(request)
    try:
        await _mail_reset(request, form.get("username", ""))
    except (*FORM_ERRORS, Conflict) as error:  # type: ignore[misc]  # mypy cannot unpack here
        return await _forgot(request, error=error.message, status=error.status)
    return await _forgot(
        request,
        notice="If the account has a confirmed address, a mail with a link to choose a new password"
        f" is on its way; the link works once, within {resets.VALID_SECONDS // 60} minutes.",
    )


async def _recover(
    request: Request, *, username: str = "", error: str | None = None, status: int = 200
) -> Response:
    return await page(
        request,
        "recover.html",
        {"mail_on": bool(site_of(request).config.smtp_url), "username": username, "error": error},
        status=status,
        headers=PRIVATE,
    )


async def recover_page(request: Request) -> Response:
    return await _recover(request)


async def recover_submit(request: Request) -> Response:
    form = await checked_form(request)
    username = form.get("username", "")
    try:
        if form.get("password") != form.get("password2"):
            raise Invalid("the passwords differ")
        user = await sessions.redeem_recovery(
            site_of(request),
            username,
            form.get("code"),
            form.get("password"),
            address=client_address(request),
        )
    except FORM_ERRORS as error:
        return await _recover(request, username=username, error=error.message, status=error.status)
    return _sign_in_again(user)


def _sign_in_again(user: User) -> Response:
    """After a new password is set (every session ended): the sign-in page,
    saying so, with the name filled in."""
    return RedirectResponse("/login" + query_string(next="/account", changed=user.username), status_code=303)


async def profile_page(request: Request) -> Response:
    cursor = request.query_params.get("cursor")
    user = await current_user(request)
    async with site_of(request).db.read() as conn:
        result = await profiles.get_profile(
            conn, request.path_params["name"], cursor=cursor, rules=site_of(request).trust_rules
        )
        muted = user is not None and await killfile.mutes(conn, user.id, "author", result["user"]["username"])
    older = query_string(cursor=result["next_cursor"]) if result["next_cursor"] else None
    return await page(
        request,
        "profile.html",
        {
            "profile": result["user"],
            "articles": result["articles"],
            "older": older,
            "first_page": not cursor,
            "reset_link": None,
            "muted": muted,
            "canonical": f"/u/{result['user']['username']}" + query_string(cursor=cursor),
        },
    )


async def reset_link_form(request: Request) -> Response:
    """An admin makes a reset link on the person's profile; it is shown once."""
    admin = require(await current_user(request), "admin")
    await checked_form(request)
    url = await _reset_link(request, admin)
    async with site_of(request).db.read() as conn:
        result = await profiles.get_profile(
            conn, request.path_params["name"], rules=site_of(request).trust_rules
        )
    return await page(
        request,
        "profile.html",
        {
            "profile": result["user"],
            "articles": result["articles"],
            "older": None,
            "first_page": True,
            "muted": False,
            "reset_link": url,
        },
        headers=PRIVATE,
    )


async def _account(
    request: Request,
    user: User,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    typed: dict[str, str] | None = None,
    recovery_codes: list[str] | None = None,
) -> Response:
    """The account page; `typed` is what a refused form keeps in its fields
    (by field name: the current password of a refused change, a display name,
    an address, a pasted .newsrc), `recovery_codes` the codes just made (shown
    this once), and a page holding either is stored by no cache."""
    site = site_of(request)
    found = await accounts.list_sessions(site.db, user, cookies_of(request).session_token(request))
    async with site.db.read() as conn:
        email = await mailing.address_json(conn, user.id)
        notification_mail = await noticemail.get_mode(conn, user.id)
        kept = await drafts.drafts_of(conn, user.id)
        recovery_left = await recovery.remaining(conn, user.id)
    return await page(
        request,
        "account.html",
        {
            "sessions": found,
            "notice": notice,
            "error": error,
            "mail_on": bool(site.config.smtp_url),
            "email": email,
            "notification_mail": notification_mail,
            "drafts": kept,
            "typed": typed or {},
            "recovery_codes": recovery_codes,
            "recovery_left": recovery_left,
        },
        status=status,
        headers={"Cache-Control": "no-store"} if typed or recovery_codes else PRIVATE,
    )


async def account_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    return await _account(request, user)


# The fields of the account page's forms that a refused form gives back as typed (never a password).
TYPED_BACK = {"name": ("display_name",), "email": ("email",), "newsrc": ("newsrc",)}


async def account_form(request: Request) -> Response:
    """One POST per action of the account page (`/account/{action}`)."""
    site, cookies = site_of(request), cookies_of(request)
    user = _me(await current_user(request))
    form = await checked_form(request)
    action = request.path_params["action"]
    try:
        if action == "name":
            user = await accounts.set_display_name(site.db, user, form.get("display_name"))
            request.scope["moot"]["user"] = user
            return await _account(request, user, notice="Your display name is changed.")
        if action == "password":
            if form.get("new_password") != form.get("new_password2"):
                # only the two new ones are typed again
                typed = {"current_password": form.get("current_password", "")}
                return await _account(
                    request, user, error="the new passwords differ", status=400, typed=typed
                )
            ended = await sessions.change_password(
                site,
                user,
                form.get("current_password"),
                form.get("new_password"),
                address=client_address(request),
                keep_token=cookies.session_token(request),
            )
            return await _account(
                request,
                user,
                notice=f"Your password is changed; {ended} other "
                f"session{'' if ended == 1 else 's'} signed out.",
            )
        if action == "recovery-codes":
            codes = await sessions.new_recovery_codes(
                site, user, form.get("password"), address=client_address(request)
            )
            return await _account(
                request,
                user,
                notice="New recovery codes are made; the ones you had no longer work.",
                recovery_codes=codes,
            )
        if action == "email":
            require_mail(request)
            async with site.db.transaction() as conn:
                email = await mailing.set_email(conn, site.secret, user, form.get("email", ""))
            return await _account(
                request,
                user,
                notice=f"A confirmation link is on its way to {email['address']}."
                if email["address"]
                else "Your address is removed.",
            )
        if action == "notification-mail":
            mode = form.get("mode")
            if mode != "off":
                require_mail(request)
            async with site.db.transaction() as conn:
                mode = await noticemail.set_mode(conn, user.id, mode)
            return await _account(request, user, notice=f"Notifications by mail: {mode}.")
        if action == "reply-keys":
            async with site.db.transaction() as conn:
                await mailing.revoke_reply_keys(conn, user)
            return await _account(
                request, user, notice="The reply addresses of the list mail you were sent no longer work."
            )
        if action == "newsrc":
            site.newsrc_imports.take(user.id, "importing .newsrc files")
            async with site.db.transaction() as conn:
                result = await readstate.import_newsrc(conn, user.id, form.get("newsrc", ""))
            skipped = f"; not on this site: {', '.join(result['unknown'])}" if result["unknown"] else ""
            return await _account(
                request,
                user,
                notice=f"Read marks taken for {result['groups']} "
                f"group{'' if result['groups'] == 1 else 's'}{skipped}.",
            )
        if action == "end-session":
            if await accounts.end_listed_session(
                site.db, user, form.get("session"), cookies.session_token(request)
            ):
                response = RedirectResponse("/", status_code=303)
                cookies.clear_session(response)
                return response
            return await _account(request, user, notice="That session is signed out.")
        if action == "sign-out-everywhere":
            await accounts.end_sessions(site.db, user)
            response = RedirectResponse("/", status_code=303)
            cookies.clear_session(response)
            return response
        if action == "delete":
            if form.get("confirm") != "delete":
                raise Invalid("tick the box to confirm")
            await sessions.delete_account(site, user, form.get("password"), address=client_address(request))
            response = RedirectResponse("/?account-deleted", status_code=303)  # the front page says so
            cookies.clear_session(response)
            return response
    except FORM_ERRORS as error:
        typed = {field: form.get(field, "") for field in TYPED_BACK.get(action, ())}
        return await _account(request, user, error=error.message, status=error.status, typed=typed)
    raise NotFound("no such account action")


async def reset_page(request: Request) -> Response:
    site = site_of(request)
    holder = await resets.holder(site.db, site.secret, request.path_params["token"])
    return await page(request, "reset.html", {"holder": holder, "error": None}, headers=PRIVATE)


async def reset_submit(request: Request) -> Response:
    site = site_of(request)
    form = await checked_form(request)
    token = request.path_params["token"]
    holder = await resets.holder(site.db, site.secret, token)
    try:
        if form.get("password") != form.get("password2"):
            raise Invalid("the passwords differ")
        user = await sessions.redeem_reset(site, token, form.get("password"), address=client_address(request))
    except FORM_ERRORS as error:
        return await page(
            request,
            "reset.html",
            {"holder": holder, "error": error.message},
            status=error.status,
            headers=PRIVATE,
        )
    return _sign_in_again(user)


routes = [
    Route("/api/people", find_people),
    Route("/api/users/{name}", get_profile),
    Route("/api/users/{name}/reset-link", issue_reset, methods=["POST"]),
    Route("/api/me", update_me, methods=["PUT"]),
    Route("/api/me/password", change_password, methods=["POST"]),
    Route("/api/me/sessions", my_sessions),
    Route("/api/me/sessions/{id}", end_my_session, methods=["DELETE"]),
    Route("/api/me/sign-out-everywhere", sign_out_everywhere, methods=["POST"]),
    Route("/api/me/delete", delete_me, methods=["POST"]),
    Route("/api/me/recovery-codes", my_recovery_codes),
    Route("/api/me/recovery-codes", new_recovery_codes, methods=["POST"]),
    Route("/api/recover", use_recovery_code, methods=["POST"]),
    Route("/api/reset", use_reset, methods=["POST"]),
    Route("/api/password-reset", password_reset, methods=["POST"]),
    Route("/forgot", forgot_page),
    Route("/forgot", forgot_submit, methods=["POST"]),
    Route("/recover", recover_page),
    Route("/recover", recover_submit, methods=["POST"]),
    Route("/u/{name}", profile_page),
    Route("/u/{name}/reset-link", reset_link_form, methods=["POST"]),
    Route("/account", account_page),
    Route("/account/{action}", account_form, methods=["POST"]),
    Route("/reset/{token}", reset_page),
    Route("/reset/{token}", reset_submit, methods=["POST"]),
]
