"""Signing up, signing in and out: the session service every channel uses.

The limits live here, not in an adapter, so the web, the JSON API and a
newsreader's AUTHINFO all meet the same ones: registrations per address,
failed passwords per (account, address), per address and per account
(moot.runtime.ratelimit.Lockout), uses of reset links and recovery codes,
and the admission gate in front of hashing."""

from __future__ import annotations

from ..runtime.site import Site
from ..stewardship.permissions import User
from ..store import validate
from ..store.errors import AuthRequired, Invalid
from . import accounts, recovery, registration, resets


def _login_name(username: object) -> str | None:
    """The username as the lockout counts it, or None when it cannot name an
    account. Usernames are lower case, so one typed with capitals (a phone's
    first letter) or with spaces around it names the same account."""
    try:
        return validate.username(username.strip().lower() if isinstance(username, str) else username)
    except Invalid:
        return None


async def authenticate(site: Site, username: object, password: object, *, address: str) -> User:
    """The user whose password this is; AuthRequired (401) otherwise;
    RateLimited (429) once the limits are reached or this address already has
    a sign-in being checked; Busy (503) when too many hashes are waiting."""
    name = _login_name(username)
    if name is None or not isinstance(password, str):
        raise AuthRequired("wrong username or password")  # no account can have it: nothing to hash
    attempt = site.lockout.reserve(name, address)
    try:
        async with site.hashing.admit(address):
            user = await accounts.authenticate(site.db, name, password, n=site.config.scrypt_n)
            if user is None:  # an applicant not accepted is told so (NotAccepted)
                await registration.check_application(site.db, name, password, n=site.config.scrypt_n)
    except BaseException:
        attempt.withdrawn()
        raise
    if user is None:
        raise AuthRequired("wrong username or password")  # the reservation stays: a failure
    attempt.succeeded()
    return user


async def confirm_password(site: Site, user: User, password: object, *, address: str) -> None:
    """A signed-in member gives their password again (authenticate's limits
    and answers); a wrong one is called that, since no username was typed."""
    try:
        await authenticate(site, user.username, password, address=address)
    except AuthRequired:
        raise AuthRequired("wrong password: give the password you sign in with") from None


async def sign_in(
    site: Site, username: object, password: object, *, address: str, replacing: str | None = None
) -> tuple[User, str]:
    """Check a password and start a session: the user and the new session
    token (the session `replacing` names, if any, ends: ids rotate)."""
    user = await authenticate(site, username, password, address=address)
    return user, await accounts.start_session(
        site.db, user, days=site.config.session_days, replacing=replacing
    )


async def sign_up(
    site: Site, form: registration.Form, *, address: str, replacing: str | None = None
) -> tuple[User, str] | dict:
    """Register as the site's registration mode says (registration.py) and,
    with an account made, start a session: the user and the session token; in
    approval mode, the application kept (a dict) and no session. Throttled
    per address (site.registrations; a sign-up that fails gives its allowance
    back). The first account of a site without accounts becomes its admin."""
    async with site.db.read() as conn:
        mode = await registration.admissible(conn, form)
    reservation = await site.registrations.reserve(address)
    try:
        async with site.hashing.admit(address):
            if mode == "approval":
                return await registration.apply(site.db, form, n=site.config.scrypt_n)
            user = await accounts.create_user(
                site.db,
                form.username,
                form.password,
                form.display_name,
                welcome=accounts.Welcome(site.config.default_groups, first_is_admin=True),
                then=registration.use_invite(form.invite) if mode == "invite" else None,
                n=site.config.scrypt_n,
            )
    except BaseException:
        await site.registrations.release(reservation)
        raise
    return user, await accounts.start_session(
        site.db, user, days=site.config.session_days, replacing=replacing
    )


async def sign_out(site: Site, token: str | None) -> None:
    """End the session `token` names (nothing when there is none)."""
    if token:
        await accounts.end_session(site.db, token)


async def change_password(
    site: Site, user: User, current: object, new: object, *, address: str, keep_token: str | None
) -> int:
    """Set a new password after checking the current one (wrong ones count as
    failed sign-ins, 401/429); every other session ends. At most
    PASSWORD_CHANGES an hour per account (429). Returns the sessions ended."""
    validate.password(new)
    site.password_changes.take(user.id, "changing the password")  # reserved before the slow hash
    await confirm_password(site, user, current, address=address)
    return await accounts.set_password(site.db, user, new, keep_token=keep_token, n=site.config.scrypt_n)


async def delete_account(site: Site, user: User, password: object, *, address: str) -> None:
    """Delete the account once its password is given again (accounts.delete_account)."""
    await confirm_password(site, user, password, address=address)
    await accounts.delete_account(site.db, user)


async def redeem_reset(site: Site, token: object, password: object, *, address: str) -> User:
    """Use a reset link (resets.redeem), at most RESET_ATTEMPTS an hour per address."""
    site.reset_attempts.take(("reset", address), "using reset links")
    return await resets.redeem(site.db, site.secret, token, password, n=site.config.scrypt_n)


async def new_recovery_codes(site: Site, user: User, password: object, *, address: str) -> list[str]:
    """A new set of recovery codes (recovery.make) once the current password
    is given again (a wrong one counts as a failed sign-in, 401/429); the
    earlier set stops working. The codes are for showing once."""
    await confirm_password(site, user, password, address=address)
    async with site.db.transaction() as conn:
        return await recovery.make(conn, user)


async def redeem_recovery(
    site: Site, username: object, code: object, password: object, *, address: str
) -> User:
    """Use a recovery code (recovery.redeem): at most RESET_ATTEMPTS an hour
    per client address and per account named (the same limits as reset links,
    taken alike whether the name exists), through the hashing gate."""
    name = _login_name(username) or ""
    keys = (("recover", address), ("recover-account", name))
    for key in keys:  # both checked before either is spent
        site.reset_attempts.check(key, "using recovery codes")
    for key in keys:
        site.reset_attempts.take(key, "using recovery codes")
    async with site.hashing.admit(address):
        return await recovery.redeem(site.db, name, code, password, n=site.config.scrypt_n)
