"""What remote actors send to an inbox (a group's /g/NAME/inbox, a member's
/u/NAME/inbox or the shared /inbox: all taken the same way), checked in this
order, each refusal a 4xx that leaves nothing stored:

1. size and shape: at most BODY_MAX bytes, an ActivityPub or JSON media
   type (415 otherwise), JSON nesting bounded (validate.JSON_DEPTH_MAX; 400), an object;
2. the instance: nothing from a host an admin blocked (ap_blocks, or a
   domain above it) is taken (403), checked before any key is fetched;
3. the signature (HTTP Signatures, either scheme: signatures.py): the key
   is fetched through its owner (client.actor_of_key); a failed check
   fetches it once more (the actor may have rotated it); unsigned, badly
   signed, or signed by someone other than the activity's `actor`: 401.
   A JSON-LD `signature` in the body is never looked at (CVE-2022-24307),
   and no remote @context is ever fetched;
4. origins: the activity's id must be on its actor's origin (scheme, host,
   port); an object whose id is elsewhere, or that came as a bare id, is
   fetched from its id rather than believed (the class of CVE-2024-23832);
   a Note or Page must be attributed to the actor;
5. replays: an activity id taken in the last SEEN_DAYS (ap_seen, longer
   than any signature's window) is answered 202 again and does nothing;
6. what it does: Follow{Group} and Undo{Follow} (follows.py);
   Create{Note|Page} becomes an article (`_create`: only if public or
   addressed to the group, and only where its inReplyTo chain reaches a
   Moot article or it opens a thread in a group addressed); Update{Note|Page}
   edits it and Delete withdraws it, by its own actor only, each kept as
   the object's last activity (ap_objects.activity, in the transaction
   that applies it) for the group to announce as received;
   Update{Person} refreshes the cached actor (key rotation); anything else
   is answered 202 and ignored.

An article from the fediverse passes the community-defense path every
channel does (docs/FEDERATION.md): the posting rate (per actor, a new
actor's share of it), bans (Author.keys: 'actor:URL', 'domain:HOST'),
spamd's verdict (asked before the write), the repetition check, the queue
of a moderated group, and trust: a remote actor counts as new until
`trust_new_posts` of its articles were published here (their ap_objects
rows), so its posts wait in a group that reviews new accounts' posts and
carry at most `trust_new_links` links, and one spamd could not score is
held. Its author is `name@host` (handle cleaned: no bidi or invisible
characters, an IDN host in punycode), channel 'fediverse', its Message-ID
`<ap.HASH@HOST>` (a hash of the object's id, HOST the object's: every site
that takes it derives the same one)."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from sqlite3 import Row
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiosqlite import Connection

from ..articles import editing, held, posting, repetition, tree
from ..articles.authors import Author
from ..articles.groups import get_group_row
from ..articles.reading import ARTICLE_SELECT
from ..articles.subjects import reply_subject
from ..stewardship import queue, spam, trust
from ..store import clock, validate
from ..store.db import fetch_one, fetch_value
from ..store.errors import Conflict, Forbidden, Invalid, Locked, NotFound, TooLarge, UnsupportedMediaType
from . import follows, html, objects, outbox, signatures
from .client import FetchError, ascii_host, clean

if TYPE_CHECKING:
    from ..runtime.site import Site
    from .client import Client, RemoteActor

log = logging.getLogger("moot.federation")

# The largest body taken (the web adapter caps what it reads at this too).
BODY_MAX = 256 * 1024
# How long an activity id is remembered: far past any signature's window
# (signatures.py), and past the days a remote server retries a delivery.
SEEN_DAYS = 7
# Remote objects fetched to find where a reply belongs (its inReplyTo chain).
PARENT_HOPS = 3
# The media types an activity may come as.
MEDIA_TYPES = (*objects.AS_TYPES, "application/json")
# The names of the public collection.
PUBLIC_NAMES = frozenset({objects.PUBLIC, "as:Public", "Public"})
ARTICLE_TYPES = ("Note", "Page", "Article")
ACTOR_TYPES = ("Person", "Service", "Application", "Group", "Organization")
# The reason in the public log when a held post's actor deletes it before a
# moderator decided on it.
WITHDRAWN = "withdrawn by its author"


# What an ASCII host name (or an IPv6 address, without brackets) is made of.
_HOST_CHARS = re.compile(r"[a-z0-9._:-]+")


class Ignored(Exception):
    """An activity taken and left alone (202): why, for the log."""


@dataclass(frozen=True)
class Activity:
    """An activity whose signature and origins were checked: its parsed JSON,
    the raw text it came as, the actor that signed it and its object (the
    embedded copy when on the actor's origin, else as fetched; a bare id when
    it could not be, or need not be, fetched)."""

    data: dict
    raw: str
    actor: RemoteActor
    object: Any

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def type(self) -> str:
        return objects.type_of(self.data)


async def receive(
    site: Site,
    client: Client,
    *,
    inbox: str,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
) -> int:
    """Take one inbox POST (see the module's docstring for the checks, in
    order); returns the status to answer, 202. Raises a MootError (4xx)
    for a refusal: nothing is stored then."""
    if not site.config.federation:
        raise NotFound("federation is off on this site")
    headers = {k.lower(): v for k, v in headers.items()}
    data, raw = _parse(headers, body)
    actor_id = _id(data.get("actor"))
    if actor_id is None:
        raise Invalid("the activity names no actor")
    blocks = await _blocked_hosts(site)
    for url in (actor_id, signatures.key_id_of(headers)):
        if outbox.blocked(objects.host_of(url), blocks):
            raise Forbidden("this site takes nothing from that instance")
    actor = await _signer(client, method, target, headers, body)
    if actor.uri != actor_id:
        raise signatures.BadSignature(
            f"the request is signed by {actor.uri[:200]}, not by the activity's actor {actor_id[:200]}"
        )
    if outbox.blocked(actor.host, blocks):
        raise Forbidden("this site takes nothing from that instance")
    activity_id = _id(data.get("id"))
    if activity_id is None or not objects.same_origin(activity_id, actor.uri):
        raise Invalid("the activity's id must be a URL on its actor's server")
    data["id"] = activity_id
    async with site.db.read() as conn:
        if await fetch_value(conn, "SELECT 1 FROM ap_seen WHERE activity_id = ?", (activity_id,)):
            return 202
    try:
        activity = Activity(data, raw, actor, await _object(client, data, actor))
        await _dispatch(site, client, activity)
    except Ignored as why:
        log.info("ignored %s %s from %s: %s", objects.type_of(data), activity_id[:200], actor.uri[:200], why)
        await site.db.run(lambda conn: _seen(conn, activity_id))
    return 202


def _parse(headers: Mapping[str, str], body: bytes) -> tuple[dict, str]:
    """The activity as a dict and as text, or the 4xx saying what is wrong with it."""
    if len(body) > BODY_MAX:
        raise TooLarge(f"an activity is at most {BODY_MAX} bytes")
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise UnsupportedMediaType("send the activity as Content-Type: application/activity+json")
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the activity is not UTF-8") from None
    data = validate.json_object(raw, "the activity")  # its nesting bounded before it is parsed
    return data, raw


async def _signer(
    client: Client, method: str, target: str, headers: Mapping[str, str], body: bytes
) -> RemoteActor:
    """The actor whose key signed the request; BadSignature (401) when none
    did: the key is fetched again once if the first check fails."""
    key_id = signatures.key_id_of(headers)
    for refresh in (False, True):
        try:
            actor = await client.actor_of_key(key_id, refresh=refresh)
        except FetchError as e:
            raise signatures.BadSignature(
                f"the key {key_id[:200]} could not be fetched: {e.message}"
            ) from None
        try:
            signatures.verify(method, target, headers, body, actor.public_pem)
            return actor
        except signatures.BadSignature:
            if refresh:
                raise
    raise AssertionError("unreachable")


async def _object(client: Client, data: dict, actor: RemoteActor) -> Any:
    """The activity's object, to be believed: embedded and on the actor's
    origin (with an id there), or fetched from its id. A bare id that names
    no article-like thing (a Follow's group, a Delete's target) stays an id."""
    obj = data.get("object")
    if isinstance(obj, list):
        obj = obj[0] if len(obj) == 1 else None
    if isinstance(obj, dict):
        oid = _id(obj.get("id"))
        if oid is not None and objects.same_origin(oid, actor.uri):
            return obj
        if oid is None:
            if objects.type_of(data) in ("Follow", "Undo", "Like", "Announce", "Accept", "Reject"):
                return obj
            raise Invalid("the activity's object has no id")
        if objects.type_of(data) in ("Create", "Update"):
            return await _fetch(client, oid)
        return oid  # a Delete's or Undo's target: only its id is used
    if isinstance(obj, str) and objects.type_of(data) in ("Create", "Update"):
        return await _fetch(client, obj)
    return obj


async def _fetch(client: Client, url: str) -> dict:
    try:
        fetched = await client.get_json(url)
    except FetchError as e:
        raise Invalid(f"the object {url[:200]} could not be fetched: {e.message}") from None
    if not isinstance(fetched, dict) or _id(fetched.get("id")) != url:
        raise Invalid(f"the object fetched from {url[:200]} does not have that id")
    return fetched


async def _dispatch(site: Site, client: Client, activity: Activity) -> None:
    kind, obj = activity.type, activity.object
    otype = objects.type_of(obj) if isinstance(obj, dict) else ""
    if kind == "Follow":
        await _follow(site, activity)
    elif kind == "Undo" and (otype == "Follow" or isinstance(obj, str)):
        await _undo(site, activity)
    elif kind == "Create" and otype in ARTICLE_TYPES:
        await _create(site, client, activity)
    elif kind == "Update" and otype in ARTICLE_TYPES:
        await _update(site, activity)
    elif kind == "Update" and otype in ACTOR_TYPES:
        if _id(obj.get("id")) != activity.actor.uri:
            raise Forbidden("an actor updates only itself")
        await client.actor(activity.actor.uri, refresh=True)
        raise Ignored("the actor is fetched anew")
    elif kind == "Delete":
        await _delete(site, activity)
    else:
        raise Ignored("nothing to do with it here")


# -- follows


async def _local_group(site: Site, url: object) -> Row | None:
    """The group a local group actor's id names, or None."""
    path = objects.local_path(site.config.site_url, url) if isinstance(url, str) else None
    if path is None or not path.startswith("/g/") or "/" in path[3:]:
        return None
    async with site.db.read() as conn:
        try:
            return await get_group_row(conn, unquote(path[3:]))
        except (NotFound, Invalid):
            return None


async def _follow(site: Site, activity: Activity) -> None:
    group = await _local_group(site, _id(activity.object))
    if group is None:
        raise Ignored("the Follow names no group here")
    data = activity.data

    async def action(conn: Connection) -> None:
        if await _seen(conn, activity.id):
            await follows.follow(conn, dict(group), activity.actor, data, base=site.config.site_url)

    await site.db.run(action)


async def _undo(site: Site, activity: Activity) -> None:
    obj = activity.object
    follow = obj if isinstance(obj, dict) else {"id": obj}
    if isinstance(obj, dict) and _id(obj.get("actor")) not in (None, activity.actor.uri):
        raise Forbidden("an actor undoes only its own Follow")
    group = await _local_group(site, _id(follow.get("object"))) if isinstance(obj, dict) else None
    if isinstance(obj, dict) and group is None:
        raise Ignored("the Follow undone names no group here")

    async def action(conn: Connection) -> None:
        if not await _seen(conn, activity.id):
            return
        if group is not None:
            await follows.undo(conn, dict(group), activity.actor, follow)
            return
        # Undo of a bare id: whichever of the actor's follows has that Follow id.
        rows = await conn.execute_fetchall(
            "SELECT g.* FROM ap_followers f JOIN groups g ON g.id = f.group_id WHERE f.actor = ? AND f.follow_id = ?",
            (activity.actor.uri, follow["id"]),
        )
        for row in rows:
            await follows.undo(conn, dict(row), activity.actor, follow)

    await site.db.run(action)


# -- articles


def message_id_of(object_id: str) -> str:
    """The Message-ID of the article an object becomes: `<ap.HASH@HOST>`, HASH
    the first 20 bytes of SHA-256 of its id in lower-case base32, HOST its
    id's host (punycode, no port). Never the URL itself in a header."""
    digest = base64.b32encode(hashlib.sha256(object_id.encode("utf-8")).digest()[:20]).decode().lower()
    return f"<ap.{digest}@{_ascii_host(objects.host_of(object_id))}>"


def shown_name(actor: RemoteActor) -> str:
    """How an actor's articles name it: name@host (its handle, client.py's
    `clean` again: no controls, bidi or invisible characters, joiners
    included), the host in punycode."""
    handle = actor.handle if isinstance(actor.handle, str) else ""
    name, _, host = handle.rpartition("@")
    name = clean(name, validate.DISPLAY_NAME_MAX, name=True).lstrip("@").strip() or "unknown"
    return f"{name}@{_ascii_host(host or actor.host)}"[:200]


async def _create(site: Site, client: Client, activity: Activity) -> None:
    obj: dict = activity.object
    object_id = _attributed(activity)
    base = site.config.site_url
    addressed = _addressees(activity.data) | _addressees(obj)
    group, parent = await _place(site, client, obj, addressed)
    public = bool(addressed & PUBLIC_NAMES) or objects.actor_url(base, f"group:{group['name']}") in addressed
    if not public:
        raise Ignored("addressed to neither the public nor the group: never published")
    author = Author(shown_name(activity.actor), actor=activity.actor.uri)
    body = _text(obj)
    if objects.type_of(obj) == "Note" and parent is not None:
        subject = reply_subject(parent["subject"])
    else:
        subject = _line(obj.get("name")) or _line(obj.get("summary")) or _line(body.split("\n", 1)[0])
        if not subject:
            raise Invalid("a new thread needs a name")
        if parent is not None and objects.type_of(obj) != "Page":
            subject = reply_subject(parent["subject"])
    message_id = message_id_of(object_id)
    rules = site.trust_rules
    async with site.db.read() as conn:
        if await fetch_value(conn, "SELECT 1 FROM ap_objects WHERE object_id = ?", (object_id,)):
            raise Ignored("that object is here already")
        accepted = await fetch_value(conn, "SELECT count(*) FROM ap_objects WHERE actor = ?", (author.actor,))
    new = accepted < rules.new_posts
    found = len(validate.links(body))
    if new and found > rules.new_links:
        raise Invalid(
            f"an actor new here may put at most {rules.new_links} links in an article (this one has {found})"
        )
    verdict = None
    if site.spamd is not None:
        verdict = await site.spam_verdict(
            None,
            spam.message(
                author=author.name,
                addr=author.name,
                subject=subject,
                body=body,
                group=group["name"],
                message_id=message_id,
            ),
        )
    as_spam = spam.judge(verdict, None) or (new and verdict is not None and verdict.score is None)
    bucket = site.new_posts if new else site.posts
    key = ("actor", author.actor)
    bucket.take(key)
    repeat = repetition.Rules.from_config(site.config)

    async def action(conn: Connection) -> None:
        if not await _seen(conn, activity.id) or await fetch_value(
            conn,
            "SELECT 1 FROM articles WHERE message_id = ?"
            " UNION ALL SELECT 1 FROM queue WHERE message_id = ? AND kind = 'held' AND state = 'waiting'",
            (message_id, message_id),
        ):
            return  # taken already (published, or waiting for the moderators)
        fresh = await fetch_one(conn, "SELECT * FROM groups WHERE id = ?", (group["id"],))
        assert fresh is not None
        if fresh["status"] == "n":
            raise Forbidden(f"{fresh['name']} is read-only")
        place = None
        if parent is not None:
            place = await fetch_one(conn, posting.PLACE_SELECT + " WHERE a.id = ?", (parent["id"],))
            assert place is not None  # articles are never deleted
            await _thread_open(conn, place["thread_id"])
            place = await tree.anchor(conn, place, posting.PLACE_SELECT)
        await posting.check_not_banned(conn, fresh, author)
        repeated = await repetition.screen_arrival(conn, repeat, author, fresh["id"], body)
        why = "spam" if as_spam else "repeat" if repeated else "moderated" if fresh["status"] == "m" else None
        if why is None and new and await trust.reviews_new(conn, fresh["id"]):
            why = "new"
        if why is not None:
            await held.hold(
                conn,
                held.Held(
                    group_id=fresh["id"],
                    why=why,
                    channel="fediverse",
                    message_id=message_id,
                    author=author,
                    subject=subject,
                    body=body,
                    parent_id=place["id"] if place is not None else None,
                    spam_score=verdict.score if why == "spam" and verdict is not None else None,
                    spam_rules=verdict.rules_text if why == "spam" and verdict is not None else "",
                    activity=activity.raw,
                ),
            )
            return
        article = posting.NewArticle(subject, body, author, message_id, clock.now(), channel="fediverse")
        shown = await posting.publish_arrival(conn, fresh, place, article)
        await _keep(conn, shown["id"], object_id, activity)

    try:
        await site.db.run(action)
    except BaseException:
        bucket.refund(key)
        raise


async def _keep(conn: Connection, article_id: int, object_id: str, activity: Activity) -> None:
    await conn.execute(
        "INSERT INTO ap_objects (article_id, object_id, actor, activity, received_at) VALUES (?, ?, ?, ?, ?)",
        (article_id, object_id, activity.actor.uri, activity.raw, clock.now()),
    )


async def _last(conn: Connection, article_id: int, activity: Activity) -> None:
    """Keep `activity` (an Update or Delete just applied, in the same
    transaction) as the last one received for the article's object: the
    group announces it as received (outbox.py)."""
    await conn.execute("UPDATE ap_objects SET activity = ? WHERE article_id = ?", (activity.raw, article_id))


async def _thread_open(conn: Connection, thread_id: int) -> None:
    state = await fetch_value(conn, "SELECT state FROM threads WHERE id = ?", (thread_id,))
    if state == "archived":
        raise Conflict("this thread is archived")
    if state == "locked":
        raise Locked("this thread is locked")


async def _place(site: Site, client: Client, obj: dict, addressed: set[str]) -> tuple[Row, Row | None]:
    """Where an object goes: (its group, the article it answers, None for a
    new thread). A reply goes under the nearest article of its inReplyTo
    chain found here (a local id, or an object taken in before), fetching at
    most PARENT_HOPS unknown remote parents on the way up; an object with no
    inReplyTo opens a thread in the group it is addressed to. Ignored when
    neither reaches anything here."""
    base = site.config.site_url
    reply_to = _id(obj.get("inReplyTo"))
    if reply_to is None:
        for url in sorted(addressed):
            group = await _local_group(site, url)
            if group is not None:
                return group, None
        raise Ignored("it answers nothing and is addressed to no group here")
    for _hop in range(PARENT_HOPS + 1):
        found = await _article_named(site, base, reply_to)
        if found is not None:
            async with site.db.read() as conn:
                group = await fetch_one(conn, "SELECT * FROM groups WHERE id = ?", (found["group_id"],))
            assert group is not None
            return group, found
        if objects.local_path(base, reply_to) is not None or _hop == PARENT_HOPS:
            break
        try:
            parent = await client.get_json(reply_to)
        except FetchError:
            break
        up = _id(parent.get("inReplyTo")) if isinstance(parent, dict) else None
        if up is None:
            break
        reply_to = up
    raise Ignored("its inReplyTo chain reaches no article here")


async def _article_named(site: Site, base: str, url: str) -> Row | None:
    """The article a URL names here: a local permalink or thread page, or an object taken in before."""
    named = objects.local_object(base, url)
    async with site.db.read() as conn:
        if named is not None and named[0] == "article":
            return await fetch_one(conn, ARTICLE_SELECT + " WHERE a.message_id = ?", (named[1],))
        if named is not None:
            return await fetch_one(
                conn,
                ARTICLE_SELECT + " JOIN threads t ON t.root_article_id = a.id WHERE t.id = ?",
                (named[1],),
            )
        return await fetch_one(
            conn,
            ARTICLE_SELECT + " JOIN ap_objects o ON o.article_id = a.id WHERE o.object_id = ?",
            (url,),
        )


async def _mine(site: Site, activity: Activity, object_id: str) -> Row:
    """The article from `object_id` that the activity's actor wrote (Ignored when none is here)."""
    async with site.db.read() as conn:
        row = await fetch_one(
            conn,
            "SELECT a.id, a.parent_id, o.actor FROM ap_objects o JOIN articles a ON a.id = o.article_id"
            " WHERE o.object_id = ?",
            (object_id,),
        )
    if row is None:
        raise Ignored("no article here is that object")
    if row["actor"] != activity.actor.uri:
        raise Forbidden("only its own actor updates or deletes an object")
    return row


async def _update(site: Site, activity: Activity) -> None:
    obj: dict = activity.object
    object_id = _attributed(activity)
    row = await _mine(site, activity, object_id)
    body = _text(obj)
    subject = _line(obj.get("name")) if objects.type_of(obj) == "Page" and row["parent_id"] is None else None
    grace = site.config.edit_grace_minutes

    async def action(conn: Connection) -> None:
        if not await _seen(conn, activity.id):
            return
        fresh = await fetch_one(conn, ARTICLE_SELECT + " WHERE a.id = ?", (row["id"],))
        assert fresh is not None
        if fresh["status"] not in ("ok", "hidden"):
            raise Conflict("a withdrawn article cannot be edited")
        until = editing.editable_until(fresh["created_at"], grace)
        if clock.now() >= until:
            raise Conflict(f"the {grace} minutes to edit it are over: it can only be withdrawn now")
        await editing.revise(conn, fresh, body, subject or fresh["subject"])
        await _last(conn, fresh["id"], activity)

    await site.db.run(action)


async def _delete(site: Site, activity: Activity) -> None:
    object_id = _id(activity.object)
    if object_id is None:
        raise Invalid("a Delete names what it deletes")
    if object_id == activity.actor.uri:
        raise Ignored("an actor's own deletion: its articles stay")
    if not objects.same_origin(object_id, activity.actor.uri):
        raise Forbidden("an actor deletes only its own objects")
    if await _withdraw_held(site, activity, object_id):
        return
    row = await _mine(site, activity, object_id)

    async def action(conn: Connection) -> None:
        if not await _seen(conn, activity.id):
            return
        fresh = await fetch_one(conn, "SELECT * FROM articles WHERE id = ?", (row["id"],))
        assert fresh is not None
        if fresh["status"] in ("ok", "hidden"):
            await posting.withdraw_own(conn, fresh)
            await _last(conn, fresh["id"], activity)

    await site.db.run(action)


async def _withdraw_held(site: Site, activity: Activity, object_id: str) -> bool:
    """A Delete of a post still waiting in a queue: rejected by the site as
    WITHDRAWN (its actor's own only). False when none waits."""
    message_id = message_id_of(object_id)
    async with site.db.read() as conn:
        waiting = await fetch_one(
            conn,
            "SELECT id, actor FROM queue WHERE message_id = ? AND kind = 'held' AND state = 'waiting'",
            (message_id,),
        )
    if waiting is None:
        return False
    if waiting["actor"] != activity.actor.uri:
        raise Forbidden("only its own actor deletes an object")

    async def action(conn: Connection) -> None:
        if await _seen(conn, activity.id):
            await queue.withdraw(conn, waiting["id"], WITHDRAWN)

    await site.db.run(action)
    return True


# -- small pieces


async def _seen(conn: Connection, activity_id: str) -> bool:
    """Remember `activity_id` (in the transaction that acts on it); False when
    it was remembered already (a replay: do nothing). Forgets ids older than SEEN_DAYS."""
    await conn.execute("DELETE FROM ap_seen WHERE received_at < ?", (clock.ago(seconds=SEEN_DAYS * 86400),))
    cur = await conn.execute(
        "INSERT OR IGNORE INTO ap_seen (activity_id, received_at) VALUES (?, ?)", (activity_id, clock.now())
    )
    return cur.rowcount == 1


async def _blocked_hosts(site: Site) -> list[str]:
    async with site.db.read() as conn:
        return await outbox.blocked_hosts(conn)


def _attributed(activity: Activity) -> str:
    """The object's id, once it is sure the object is the actor's own: on its
    origin and attributed to it (Forbidden otherwise)."""
    obj: dict = activity.object
    object_id = _id(obj.get("id"))
    if object_id is None:
        raise Invalid("the object has no id")
    attributed = obj.get("attributedTo")
    owners = {_id(a) for a in (attributed if isinstance(attributed, list) else [attributed])}
    if activity.actor.uri not in owners or not objects.same_origin(object_id, activity.actor.uri):
        raise Forbidden("the object is not attributed to the activity's actor")
    return object_id


def _text(obj: dict) -> str:
    """The object's text: its HTML content as plain text (html.py), a content
    warning (a Note's summary) before it; checked as every article's body is."""
    body = html.to_text(obj.get("content"))
    if not body:
        source = obj.get("source")
        if isinstance(source, dict) and isinstance(source.get("content"), str):
            body = html.to_text("<pre>" + source["content"][: html.TEXT_MAX] + "</pre>")
    warning = _line(obj.get("summary")) if objects.type_of(obj) == "Note" else ""
    if warning:
        body = f"[{warning}]\n\n{body}"
    return validate.body(body)


def _line(value: object) -> str:
    """A one-line text (a name, a summary) made fit for a subject: plain, bounded; '' for none."""
    if not isinstance(value, str):
        return ""
    return clean(html.to_text(value) if "<" in value else value, validate.SUBJECT_MAX)


def _id(value: object) -> str | None:
    """The id a JSON-LD reference names: a URL string, or an object's `id`; None for anything else."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= 2048:
        return value
    return None


def _addressees(obj: object) -> set[str]:
    """Whom an activity or object is addressed to (to, cc, audience; bto and bcc are never published)."""
    found: set[str] = set()
    if not isinstance(obj, dict):
        return found
    for field in ("to", "cc", "audience"):
        value = obj.get(field)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                found.add(item)
            elif isinstance(item, dict) and isinstance(item.get("id"), str):
                found.add(item["id"])
    return found


def _ascii_host(host: str) -> str:
    """A host name in ASCII (IDNA punycode for an international one), fit
    for a Message-ID and a shown name; 'invalid' for none or a malformed one."""
    try:
        host = ascii_host(clean(host, 253))
    except FetchError:
        return "invalid"
    return host if _HOST_CHARS.fullmatch(host) else "invalid"
