"""Signing up, signing in and out: the session service every channel uses.

The limits live here, not in an adapter, so the web, the JSON API and a
newsreader's AUTHINFO all meet the same ones: registrations per address,
failed passwords per account and per address."""

from __future__ import annotations

from . import accounts
from .errors import AuthRequired
from .permissions import User
from .site import Site


async def authenticate(site: Site, username: object, password: object, *, address: str) -> User:
    """The user whose password this is; AuthRequired (401) otherwise, and
    RateLimited (429) once the account or the address failed too often."""
    keys = (("user", str(username)[:64]), ("addr", address))
    site.login_failures.check(*keys)
    user = await accounts.authenticate(site.db, username, password)
    if user is None:
        site.login_failures.fail(*keys)
        raise AuthRequired("wrong username or password")
    site.login_failures.clear(keys[0])
    return user


async def sign_in(site: Site, username: object, password: object, *, address: str,
                  replacing: str | None = None) -> tuple[User, str]:
    """Check a password and start a session: the user and the new session
    token (the session `replacing` names, if any, ends: ids rotate)."""
    user = await authenticate(site, username, password, address=address)
    return user, await accounts.start_session(site.db, user, days=site.config.session_days,
                                              replacing=replacing)


async def sign_up(site: Site, username: object, password: object, display_name: object, *,
                  address: str, replacing: str | None = None) -> tuple[User, str]:
    """Register (throttled per address) and start a session. The first
    account of a site without accounts becomes its admin."""
    site.registrations.take(("register", address), what="registering")
    user = await accounts.create_user(site.db, username, password, display_name,
                                      first_becomes_admin=True)
    return user, await accounts.start_session(site.db, user, days=site.config.session_days,
                                              replacing=replacing)


async def sign_out(site: Site, token: str | None) -> None:
    """End the session `token` names (nothing when there is none)."""
    if token:
        await accounts.end_session(site.db, token)
