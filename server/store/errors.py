"""The one error hierarchy. Each class carries its HTTP status and machine code;
every transport (JSON, WebSocket, NNTP, CLI) translates it once."""


class MootError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


class Invalid(MootError):
    status, code = 400, "invalid"


class AuthRequired(MootError):
    status, code = 401, "auth_required"


class BadSignature(AuthRequired):
    """A request's HTTP Signature is missing, malformed, stale or does not
    verify (server/federation/signatures.py): the message says which."""

    code = "bad_signature"


class Forbidden(MootError):
    status, code = 403, "forbidden"


class Suspended(Forbidden):
    """The account is suspended site-wide: the body says until when and why."""

    code = "suspended"


class RegistrationClosed(Forbidden):
    """The site takes no new accounts (server/people/registration.py)."""

    code = "registration_closed"


class Unconfirmed(Forbidden):
    """A new account posts once its mail address is confirmed (server/people/registration.py)."""

    code = "unconfirmed"


class NotAccepted(AuthRequired):
    """A sign-in by an applicant whose application is waiting or was refused."""

    code = "not_accepted"


class Banned(Forbidden):
    """The author is banned from this group: the body says which, until when and why."""

    code = "banned"


class NotFound(MootError):
    status, code = 404, "not_found"


class Conflict(MootError):
    status, code = 409, "conflict"


class Archived(Conflict):
    code = "archived"


class Locked(Conflict):
    code = "locked"


class Spam(MootError):
    """SpamAssassin scored the article far above the site's threshold: refused, nothing stored."""

    status, code = 422, "spam"


class TooManyLinks(MootError):
    """An article by a new account carries more links than the site allows them (server/stewardship/trust.py)."""

    status, code = 422, "too_many_links"


class TooLarge(MootError):
    status, code = 413, "too_large"


class UnsupportedMediaType(MootError):
    status, code = 415, "unsupported_media_type"


class RateLimited(MootError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class Unavailable(MootError):
    status, code = 503, "unavailable"


class Busy(RateLimited):
    """Too much of the server's capacity is in use right now; retry shortly."""

    status, code = 503, "busy"
