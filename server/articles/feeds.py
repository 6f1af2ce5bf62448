"""Atom 1.0 feeds (RFC 4287) of a group's new threads and of a thread's
articles, built from rows by pure functions.

Entry ids are `mid:` URIs (RFC 2392) of Message-IDs, which never change, so
a feed reader sees the same entry wherever a split or move takes the
article. Text goes through ElementTree (escaped) after the characters XML
1.0 cannot carry are dropped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from sqlite3 import Row
from urllib.parse import quote

CONTENT_TYPE = "application/atom+xml; charset=utf-8"
ATOM_NS = "http://www.w3.org/2005/Atom"
# XML 1.0 §2.2 allows tab, newline, CR, U+0020-U+D7FF, U+E000-U+FFFD and
# U+10000-U+10FFFF; these are the rest. Written as what is refused: the negated
# class of the allowed ranges took 7-30 ms to compile at every start.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# RFC 3986 pchar minus '/', the characters a mid: URI may carry unencoded.
_MID_SAFE = "@!$&'()*+,;=:._~-"


def xml_text(value: object) -> str:
    return _NOT_XML.sub("", str(value or ""))


def mid_uri(message_id: str) -> str:
    """`<a@b>` as the RFC 2392 URI `mid:a@b`, percent-encoded where needed."""
    return "mid:" + quote(message_id.strip("<>"), safe=_MID_SAFE)


def permalink(base_url: str, message_id: str) -> str:
    return f"{base_url}m/{quote(message_id, safe='@')}"


def tag_uri(domain: str, date: str, specific: str) -> str:
    """An RFC 4151 tag: URI, stable as long as the domain and the thing are."""
    return f"tag:{quote(domain, safe='.-')},{date[:10]}:{quote(specific, safe='/.-_')}"


def _el(parent: ET.Element, name: str, text: object = None, **attrs: object) -> ET.Element:
    element = ET.SubElement(parent, name, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _feed(
    feed_id: str, title: str, subtitle: str, self_url: str, html_url: str, updated: str, entries: list[dict]
) -> bytes:
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _el(feed, "id", feed_id)
    _el(feed, "title", title)
    if subtitle:
        _el(feed, "subtitle", subtitle)
    _el(feed, "updated", updated)
    _el(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _el(feed, "link", rel="alternate", type="text/html", href=html_url)
    _el(feed, "generator", "Moot")
    for e in entries:
        entry = _el(feed, "entry")
        _el(entry, "id", e.get("id") or mid_uri(e["message_id"]))
        _el(entry, "title", e["title"])
        _el(entry, "link", rel="alternate", type="text/html", href=e["link"])
        _el(entry, "published", e["created_at"])
        _el(entry, "updated", e["created_at"])
        author = _el(entry, "author")
        _el(author, "name", e["author_name"])
        _el(entry, "content", e["body"], type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def _entry(row: Row, title: str, link: str, created_at: str) -> dict:
    """An article (its row) as a feed entry under `title`, linked at `link`, dated `created_at`."""
    return {
        "message_id": row["message_id"],
        "title": title,
        "link": link,
        "created_at": created_at,
        "author_name": row["author_name"],
        "body": row["body"],
    }


def group_feed(group: Row, rows: Iterable[Row], *, base_url: str, domain: str, site_name: str) -> bytes:
    """A group's newest threads, one entry per thread: its first article."""
    name = group["name"]
    entries = [_entry(r, r["thread_subject"], f"{base_url}t/{r['thread_id']}", r["started_at"]) for r in rows]
    updated = max([e["created_at"] for e in entries], default=group["created_at"])
    return _feed(
        tag_uri(domain, group["created_at"], f"groups/{name}"),
        f"{name} — {site_name}",
        group["description"],
        f"{base_url}api/groups/{quote(name)}/feed.atom",
        f"{base_url}g/{quote(name)}",
        updated,
        entries,
    )


def thread_feed(thread: Row, rows: Iterable[Row], *, base_url: str, domain: str, site_name: str) -> bytes:
    """A thread's newest articles, one entry each, linked by permalink."""
    entries = [_entry(r, r["subject"], permalink(base_url, r["message_id"]), r["created_at"]) for r in rows]
    updated = max([e["created_at"] for e in entries], default=thread["created_at"])
    return _feed(
        tag_uri(domain, thread["created_at"], f"threads/{thread['id']}"),
        f"{thread['subject']} — {site_name}",
        f"a thread in {thread['group_name']}",
        f"{base_url}api/threads/{thread['id']}/feed.atom",
        f"{base_url}t/{thread['id']}",
        updated,
        entries,
    )


NOTIFICATION_TITLES = {
    "reply": "Reply from {who}",
    "mention": "{who} mentioned you",
    "follow": "{who} in a thread you follow",
    "moderation": "Moderation of your thread",
}


def notifications_feed(
    user: dict, items: list[dict], *, base_url: str, domain: str, site_name: str, self_url: str
) -> bytes:
    """A reader's notifications (notifications.notification_json), newest first."""
    entries = []
    for n in items:
        article, thread = n["article"], n["thread"]
        who = (
            article["author"]["display_name"]
            if article
            else n["actor"]["display_name"]
            if n["actor"]
            else "the site"
        )
        subject = article["subject"] if article else thread["subject"] if thread else ""
        if article:
            link, body = f"{base_url}t/{article['thread_id']}#a{article['id']}", article["body"]
        else:
            link = f"{base_url}modlog#e{n['entry_id']}"
            said = n.get("text") or f"{who} acted on your thread \u201c{subject}\u201d"
            body = f"{said}: see the moderation log."
        entries.append(
            {
                "id": tag_uri(domain, n["created_at"], f"notifications/{n['id']}"),
                "message_id": "",
                "title": n.get("text") or NOTIFICATION_TITLES[n["kind"]].format(who=who) + f": {subject}",
                "link": link,
                "created_at": n["created_at"],
                "author_name": who,
                "body": body,
            }
        )
    updated = max([e["created_at"] for e in entries], default=user["created_at"])
    return _feed(
        tag_uri(domain, user["created_at"], f"users/{user['username']}/notifications"),
        f"Notifications for {user['username']} — {site_name}",
        "",
        self_url,
        f"{base_url}notifications",
        updated,
        entries,
    )
