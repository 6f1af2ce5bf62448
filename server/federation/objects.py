"""Moot's groups, members and articles as ActivityPub actors and objects:
their ids (URLs under MOOT_PUBLIC_URL) and, from those ids, the local
things they name.

Local actors are named as `keys` stores them: 'instance', 'group:NAME' and
'user:USERNAME'. Every id Moot sends can be fetched: a group's is its page
(/g/NAME), a member's their profile (/u/NAME), the instance actor's /actor,
an article's its permalink (/m/MESSAGE-ID); the pages answer ActivityPub
JSON when asked for it (web/federation.py)."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

# The media types that ask a page for its ActivityPub form.
AS_TYPES = ("application/activity+json", "application/ld+json")
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
CONTEXT = ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]


def actor_url(base: str, actor: str) -> str:
    """The id of local actor `actor` ('instance', 'group:NAME', 'user:NAME') on the site at `base`."""
    if actor == "instance":
        return f"{base}/actor"
    kind, _, name = actor.partition(":")
    if kind == "group":
        return f"{base}/g/{quote(name, safe='')}"
    if kind == "user":
        return f"{base}/u/{quote(name, safe='')}"
    raise ValueError(f"not a local actor: {actor!r}")


def key_id(base: str, actor: str) -> str:
    """The id of local actor `actor`'s public key (its actor id with #main-key)."""
    return actor_url(base, actor) + "#main-key"


def article_url(base: str, message_id: str) -> str:
    """The id of the article with `message_id` (angle brackets included): its permalink."""
    return f"{base}/m/" + quote(message_id, safe="@!$&'()*+,;=:")


def local_path(base: str, url: str) -> str | None:
    """The path of `url` when it is on this site (`base`: scheme and host
    compared, case-insensitive host), else None."""
    mine, theirs = urlsplit(base), urlsplit(url)
    if (mine.scheme, (mine.hostname or "").lower(), mine.port) != (
        theirs.scheme,
        (theirs.hostname or "").lower(),
        theirs.port,
    ):
        return None
    prefix = mine.path.rstrip("/")
    if not theirs.path.startswith(prefix + "/"):
        return None
    return theirs.path[len(prefix) :]


def local_object(base: str, url: str) -> tuple[str, str | int] | None:
    """What `url` names on this site: ('article', MESSAGE-ID) for a permalink
    (/m/...), ('thread', ID) for a thread page (/t/ID, whose object is the
    thread's root); None for anything else or another site."""
    path = local_path(base, url)
    if path is None:
        return None
    if path.startswith("/m/"):
        ref = unquote(path[3:]).strip()
        return "article", ref if ref.startswith("<") else f"<{ref}>"
    if path.startswith("/t/") and path[3:].isdigit():
        return "thread", int(path[3:])
    return None
