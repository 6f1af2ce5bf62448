"""Moot's groups, members and articles as ActivityPub actors and objects:
their ids (URLs under MOOT_PUBLIC_URL) and, from those ids, the local
things they name.

Local actors are named as `keys` stores them: 'instance', 'group:NAME' and
'user:USERNAME'. Every id Moot sends can be fetched: a group's is its page
(/g/NAME), a member's their profile (/u/NAME), the instance actor's /actor,
an article's its permalink (/m/MESSAGE-ID); the pages answer ActivityPub
JSON when asked for it (web/federation.py)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from sqlite3 import Row
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from aiosqlite import Connection

from ..store.db import fetch_one, fetch_value

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


def origin(url: str) -> tuple[str, str, int | None]:
    """A URL's origin (scheme, host, port), lower case; for a malformed URL
    (a bad host or port) ('', '', -1), an origin no other URL has."""
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", "", -1


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs are on the same origin (a malformed one is on none)."""
    return origin(a) == origin(b) and bool(origin(a)[1])


def host_of(url: str) -> str:
    """The host a URL names, lower case; '' for none or a malformed URL."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def local_path(base: str, url: str) -> str | None:
    """The path of `url` when it is on this site (`base`: scheme and host
    compared, case-insensitive host), else None (a malformed URL included)."""
    if not same_origin(base, url):
        return None
    prefix = urlsplit(base).path.rstrip("/")
    path = urlsplit(url).path
    if not path.startswith(prefix + "/"):
        return None
    return path[len(prefix) :]


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


# A database row, or a dict with the same keys (tests, built rows).
Record = Row | Mapping[str, Any]
# The JSON-LD terms Moot's actors use beyond ActivityStreams and security/v1
# (Lemmy's and Mastodon's, named inline so no remote @context is needed).
ACTOR_CONTEXT = [
    *CONTEXT,
    {
        "lemmy": "https://join-lemmy.org/ns#",
        "postingRestrictedToMods": "lemmy:postingRestrictedToMods",
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
    },
]
# An article's object type: a thread's root, and a reply.
PAGE, NOTE = "Page", "Note"


def type_of(value: object) -> str:
    """A JSON-LD object's type ('' for none; the first string of a list)."""
    kind = value.get("type") if isinstance(value, dict) else None
    if isinstance(kind, list):
        kind = next((k for k in kind if isinstance(k, str)), None)
    return kind if isinstance(kind, str) else ""


def followers_url(base: str, group: str) -> str:
    return actor_url(base, f"group:{group}") + "/followers"


def _public_key(base: str, actor: str, public_pem: str) -> dict:
    return {"id": key_id(base, actor), "owner": actor_url(base, actor), "publicKeyPem": public_pem}


def group_actor(base: str, group: Record, moderators: list[str], public_pem: str) -> dict:
    """The Group actor (FEP-1b12) of a groups row: its moderators (usernames)
    as `attributedTo`, a read-only group (status n) as Lemmy's
    postingRestrictedToMods, and whether a Follow waits for approval."""
    name = group["name"]
    me = actor_url(base, f"group:{name}")
    return {
        "@context": ACTOR_CONTEXT,
        "id": me,
        "type": "Group",
        "preferredUsername": name,
        "name": name,
        "summary": html_text(group["description"]),
        "url": me,
        "inbox": me + "/inbox",
        "outbox": me + "/outbox",
        "followers": me + "/followers",
        "endpoints": {"sharedInbox": f"{base}/inbox"},
        "publicKey": _public_key(base, f"group:{name}", public_pem),
        "attributedTo": [actor_url(base, f"user:{u}") for u in moderators],
        "manuallyApprovesFollowers": bool(group["ap_follow_approval"]),
        "postingRestrictedToMods": group["status"] == "n",
        "published": group["created_at"],
    }


def person_actor(base: str, user: Record, public_pem: str) -> dict:
    """The Person actor of a member (a users row)."""
    me = actor_url(base, f"user:{user['username']}")
    return {
        "@context": ACTOR_CONTEXT,
        "id": me,
        "type": "Person",
        "preferredUsername": user["username"],
        "name": user["display_name"],
        "url": me,
        "inbox": me + "/inbox",
        "endpoints": {"sharedInbox": f"{base}/inbox"},
        "publicKey": _public_key(base, f"user:{user['username']}", public_pem),
        "published": user["created_at"],
    }


def instance_actor(base: str, domain: str, public_pem: str) -> dict:
    """The instance actor (Application at /actor): it signs the site's fetches."""
    me = actor_url(base, "instance")
    return {
        "@context": ACTOR_CONTEXT,
        "id": me,
        "type": "Application",
        "preferredUsername": domain,
        "name": domain,
        "url": base + "/",
        "inbox": f"{base}/inbox",
        "endpoints": {"sharedInbox": f"{base}/inbox"},
        "publicKey": _public_key(base, "instance", public_pem),
        "manuallyApprovesFollowers": True,
    }


def html_text(text: str) -> str:
    """Plain text as HTML: escaped, paragraphs at blank lines, line breaks kept."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line, quote=False) for line in p.strip("\n").split("\n")) + "</p>"
        for p in paragraphs
    )


# An article row with what its object needs: group, thread, author's account,
# the parent's id, and the ActivityPub ids of itself and its parent when
# they came from the fediverse.
ARTICLE_SELECT = (
    "SELECT a.id, a.message_id, a.thread_id, a.user_id, a.parent_id, a.subject, a.body, a.author_name,"
    " a.created_at, a.edited_at, a.status, a.notice, g.name AS group_name, u.username,"
    " o.object_id, o.actor AS ap_actor, o.activity AS ap_activity,"
    " p.message_id AS parent_message_id, po.object_id AS parent_object_id"
    " FROM articles a JOIN groups g ON g.id = a.group_id"
    " LEFT JOIN users u ON u.id = a.user_id"
    " LEFT JOIN ap_objects o ON o.article_id = a.id"
    " LEFT JOIN articles p ON p.id = a.parent_id"
    " LEFT JOIN ap_objects po ON po.article_id = a.parent_id"
)


def object_id(base: str, article: Record) -> str:
    """The id of an article's object: its own for one from the fediverse, else its permalink."""
    return article["object_id"] or article_url(base, article["message_id"])


def author_id(base: str, article: Record) -> str | None:
    """The actor that wrote an article: a member's Person, a remote actor, or
    None for an author with no actor here (a peer's, a stranger's mail, an import)."""
    if article["ap_actor"]:
        return str(article["ap_actor"])
    if article["username"]:
        return actor_url(base, f"user:{article['username']}")
    return None


def article_object(base: str, article: Record) -> dict:
    """An article (an ARTICLE_SELECT row) as a Page (a thread's root, with
    `name`), a Note (a reply, with `inReplyTo`) or, once withdrawn or
    removed, a Tombstone. An author with no actor here is named in the
    text and the group is its attributedTo."""
    group = actor_url(base, f"group:{article['group_name']}")
    kind = PAGE if article["parent_id"] is None else NOTE
    me = object_id(base, article)
    if article["status"] == "cancelled":
        return {"id": me, "type": "Tombstone", "formerType": kind}
    author = author_id(base, article)
    content = html_text(article["body"])
    if author is None:
        content = f"<p>{html.escape(article['author_name'], quote=False)} wrote:</p>" + content
    made: dict[str, Any] = {
        "id": me,
        "type": kind,
        "attributedTo": author or group,
        "audience": group,
        "to": [PUBLIC],
        "cc": [followers_url(base, article["group_name"])],
        "content": content,
        "mediaType": "text/html",
        "source": {"content": article["body"], "mediaType": "text/plain"},
        "published": article["created_at"],
        "url": f"{base}/t/{article['thread_id']}#a{article['id']}",
    }
    if kind == PAGE:
        made["name"] = article["subject"]
    else:
        made["inReplyTo"] = article["parent_object_id"] or article_url(base, article["parent_message_id"])
    if article["edited_at"]:
        made["updated"] = article["edited_at"]
    return made


def with_context(thing: dict) -> dict:
    """A document served or sent at the top level: the @context first."""
    return {"@context": CONTEXT, **thing}


async def article_row(
    conn: Connection, *, message_id: str | None = None, article_id: int | None = None
) -> Row | None:
    """One article's ARTICLE_SELECT row by Message-ID or id; None when there
    is none, or it is held from readers (hidden) or no one's article (a
    placeholder for a message an import did not have)."""
    where, key = ("a.message_id = ?", message_id) if message_id is not None else ("a.id = ?", article_id)
    row = await fetch_one(conn, f"{ARTICLE_SELECT} WHERE {where}", (key,))
    if row is None or row["status"] == "hidden" or row["notice"] and '"missing"' in row["notice"]:
        return None
    return row


async def thread_root_row(conn: Connection, thread_id: int) -> Row | None:
    """The ARTICLE_SELECT row of a thread's root (None: no such thread, or no root shown)."""
    root = await fetch_value(conn, "SELECT root_article_id FROM threads WHERE id = ?", (thread_id,))
    return None if root is None else await article_row(conn, article_id=root)
