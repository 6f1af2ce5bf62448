"""Outgoing mail as bytes (pure functions over rows): articles for list
subscribers and thread followers, digests, notifications and their daily
summaries, confirmation links.

An article mail reuses news.headers (the same Subject, Date, Message-ID and
References as NNTP and mbox), replaces From with the author's display name at
the group's address (never the author's own address: DMARC-safe), and adds
the list headers of RFC 2369, 2919 and 8058 and its permanent link
(Archived-At, RFC 5064). Every header value passes mbox.header_text or
mbox.encoded_words, so no stored text can add a line. The sender signs what
these write with DKIM (signing) as it hands it to the relay."""

from __future__ import annotations

import json
import quopri
from email.message import EmailMessage
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.policy import SMTP
from email.utils import format_datetime, formatdate, quote
from sqlite3 import Row
from typing import Any

from ..articles import mbox
from ..articles.feeds import NOTIFICATION_TITLES, permalink
from ..news import news
from ..store import clock
from ..store.config import Config
from . import mailing

CRLF = b"\r\n"
# RFC 5322 §2.1.1: a line is at most 998 octets; longer body lines go quoted-printable.
LINE_MAX = 998
# news.headers fields a list mail keeps; the rest are news-only or replaced.
_KEPT = ("Subject", "Date", "Message-ID", "References", "MIME-Version")
# Lines and characters of an article a notification mail quotes.
EXCERPT_LINES, EXCERPT_CHARS = 12, 1200


def _lines(fields: list[tuple[str, str]]) -> bytes:
    """Header fields as CRLF lines (a folded value's LF-space becomes CRLF-space)."""
    text = "".join(f"{name}: {value}\n" for name, value in fields)
    return text.replace("\n", "\r\n").encode("utf-8")


def _body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body bytes with CRLF line ends) for UTF-8 text."""
    raw = text.replace("\r\n", "\n").encode("utf-8")
    if raw.isascii() and all(len(line) <= LINE_MAX for line in raw.split(b"\n")):
        return "7bit", raw.replace(b"\n", CRLF)
    # RFC 2045 §6.7: quoted-printable keeps every line short and every byte 7-bit.
    encoded = quopri.encodestring(raw)
    return "quoted-printable", encoded.replace(b"\n", CRLF)


def list_id(group: str, list_domain: str) -> str:
    """RFC 2919 §2: a List-Id is a dot-atom under a domain the site controls."""
    return f"<{group}.{list_domain}>"


def list_headers(group: str, description: str, config: Config) -> list[tuple[str, str]]:
    """The headers every list mail of a group carries, one-click unsubscribe aside."""
    address = mailing.group_address(group, config.list_domain)
    description = mbox.header_text(description)[:80]
    # RFC 2919 §3: the description is a phrase: a quoted string, or encoded words when not ASCII.
    label = (
        ""
        if not description
        else (
            f'"{quote(description)}"'
            if description.isascii() and "=?" not in description
            else mbox.encoded_words(description, "List-Id")
        )
    )
    return [
        ("List-Id", f"{label} {list_id(group, config.list_domain)}".strip()),  # RFC 2919
        ("List-Post", f"<mailto:{address}>"),  # RFC 2369 §3.4
        ("List-Archive", f"<{config.site_url}/g/{group}>"),  # RFC 2369 §3.6
        ("Precedence", "list"),
        # RFC 3834 §5: sent by a program, so responders must not answer it.
        ("Auto-Submitted", "auto-generated"),
    ]


def unsubscribe_headers(config: Config, token: str) -> list[tuple[str, str]]:
    """RFC 8058 §3.1: an HTTPS URI and List-Unsubscribe-Post make it one click."""
    return [
        ("List-Unsubscribe", f"<{config.site_url}/unsubscribe/{token}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


def archived_at(article: Row, config: Config) -> str:
    """The article's permanent link on the site (RFC 5064's Archived-At)."""
    return permalink(config.site_url + "/", article["message_id"])


def footer(article: Row, config: Config) -> str:
    link = archived_at(article, config)
    return (
        f"\n\n-- \nPosted to {article['group_name']}: {link}\n"
        f"Reply to this mail to answer on the site; your mail settings: {config.site_url}/g/{article['group_name']}\n"
    )


def article_parts(article: Row, description: str, config: Config) -> tuple[bytes, bytes]:
    """(common header block, body) of an article's list mail: the same bytes for
    every recipient; `article_message` adds the recipient's own lines."""
    domain = config.domain
    fields = [(n, v) for n, v in news.headers(article, domain) if n in _KEPT]
    group = article["group_name"]
    fields.insert(
        0, ("From", mbox.address(article["author_name"], mailing.group_address(group, config.list_domain)))
    )
    fields.insert(1, ("To", mailing.group_address(group, config.list_domain)))
    refs = mbox.references(article)
    if refs:
        fields.append(("In-Reply-To", mbox.header_text(refs[-1])))
    fields += list_headers(group, description, config)
    fields.append(("Archived-At", f"<{archived_at(article, config)}>"))  # RFC 5064
    encoding, body = _body(article["body"] + footer(article, config))
    fields += [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", encoding)]
    return _lines(fields), body


def article_message(parts: tuple[bytes, bytes], config: Config, unsubscribe: str, reply_to: str) -> bytes:
    """One recipient's list mail: the common parts, their one-click unsubscribe
    and their own reply address (a personal reply key: server/mail/identity.py)."""
    head, body = parts
    own = [("Reply-To", mbox.header_text(reply_to)), *unsubscribe_headers(config, unsubscribe)]
    return head + _lines(own) + CRLF + body


def confirmation_message(row: Row, config: Config) -> bytes:
    """The mail with an address's confirmation link."""
    data = data_of(row)
    link = f"{config.site_url}/confirm/{data['token']}"
    text = (
        f"Hello {mbox.header_text(data.get('name', ''))},\n\n"
        f"someone (we hope you) gave this address to an account on {config.site_name}.\n"
        f"To confirm it, open this link within {config.mail_confirm_hours} hours:\n\n{link}\n\n"
        "If it was not you, ignore this mail: nothing will be sent to you.\n"
    )
    return _simple(row, config, f"Confirm your address for {config.site_name}", text)


def notice_message(row: Row, config: Config) -> bytes:
    """A plain notice queued by another feature (a password-reset link, a
    rejected message): `data` holds its `subject` and `text`, and
    `auto_replied` when it answers a mail (RFC 3834 §5: Auto-Submitted: auto-replied)."""
    data = data_of(row)
    subject, text = data.get("subject"), data.get("text")
    if not isinstance(subject, str) or not isinstance(text, str):
        raise ValueError("a notice needs a subject and a text")
    return _simple(row, config, subject, text, auto="auto-replied" if data.get("auto_replied") else None)


def _notice_line(n: Row, config: Config) -> tuple[str, str]:
    """(what happened, the link to it) for one notification (noticemail's rows)."""
    who = n["actor_name"] or "the site"
    subject = n["article_subject"] or n["thread_subject"] or ""
    if n["article_message_id"]:
        link = permalink(config.site_url + "/", n["article_message_id"])
    else:
        link = f"{config.site_url}/modlog#e{n['entry_id']}"
    where = f" in {n['group_name']}" if n["group_name"] else ""
    return f"{NOTIFICATION_TITLES[n['kind']].format(who=who)}{where}: {subject}", link


def _off_footer(config: Config, token: str, how: str) -> str:
    return (
        f"\n-- \nYou get {how} because you asked for notifications by mail.\n"
        f"Turn them off: {config.site_url}/unsubscribe/{token} (or on {config.site_url}/account)\n"
    )


def notification_message(row: Row, n: Row, config: Config, token: str) -> bytes:
    """One notification (noticemail.notification's row): what happened, an
    excerpt of the article, links to it and to the inbox, a one-click way off."""
    line, link = _notice_line(n, config)
    text = f"{line}\n\n"
    if n["article_body"] and n["article_status"] == "ok":
        lines = n["article_body"][:EXCERPT_CHARS].splitlines()[:EXCERPT_LINES]
        text += "".join(f"> {quoted}\n" for quoted in lines) + "\n"
    text += f"Read it: {link}\nYour notifications: {config.site_url}/notifications\n"
    text += _off_footer(config, token, "a mail for each notification")
    subject = mbox.header_text(line)[:200]
    return _simple(row, config, subject, text, unsubscribe_headers(config, token))


def summary_message(row: Row, items: list[Row], total: int, config: Config, token: str) -> bytes:
    """The daily summary of a reader's unread notifications (at most
    noticemail.SUMMARY_MAX listed, the rest counted)."""
    plural = "s" if total != 1 else ""
    text = f"You have {total} unread notification{plural} on {config.site_name}:\n\n"
    for n in items:
        line, link = _notice_line(n, config)
        text += f"- {line}\n  {link}\n"
    if total > len(items):
        text += f"\n... and {total - len(items)} more.\n"
    text += f"\nYour notifications: {config.site_url}/notifications\n"
    text += _off_footer(config, token, "this summary once a day")
    subject = f"{total} unread notification{plural} on {config.site_name}"
    return _simple(row, config, subject, text, unsubscribe_headers(config, token))


def _simple(
    row: Row,
    config: Config,
    subject: str,
    text: str,
    extra: list[tuple[str, str]] | None = None,
    auto: str | None = None,
) -> bytes:
    encoding, body = _body(text)
    fields = [
        ("From", mbox.address(config.site_name, f"moot@{config.list_domain}")),
        ("To", mbox.header_text(row["recipient"])),
        ("Subject", mbox.encoded_words(subject, "Subject")),
        ("Date", formatdate(usegmt=True)),
        ("Message-ID", mbox.header_text(row["message_id"])),
        ("Auto-Submitted", auto or "auto-generated"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", encoding),
        *(extra or []),
    ]
    return _lines(fields) + CRLF + body


def data_of(row: Row) -> dict[str, Any]:
    """A queued mail's `data` as a dict."""
    value = json.loads(row["data"] or "{}")
    return value if isinstance(value, dict) else {}


def digest_message(row: Row, group: Row, articles: list[Row], config: Config, unsubscribe: str) -> bytes:
    """A daily digest: MIME multipart/digest (RFC 2046 §5.1.5), one message/rfc822 per article."""
    outer = MIMEMultipart("digest")
    name = group["name"]
    outer["From"] = mbox.address(
        f"{config.site_name} digest", mailing.group_address(name, config.list_domain)
    )
    outer["To"] = mbox.header_text(row["recipient"])
    outer["Subject"] = mbox.header_text(
        f"{name} digest: {len(articles)} new article" + ("s" if len(articles) != 1 else "")
    )
    outer["Date"] = formatdate(usegmt=True)
    outer["Message-ID"] = mbox.header_text(row["message_id"])
    for field, value in list_headers(name, group["description"], config) + unsubscribe_headers(
        config, unsubscribe
    ):
        outer[field] = value
    contents = "".join(
        f"- {mbox.header_text(a['subject'])} ({mbox.header_text(a['author_name'])})\n" for a in articles
    )
    intro = EmailMessage()
    intro.set_content(f"New in {name}:\n\n{contents}", subtype="plain", charset="utf-8")
    outer.attach(MIMEMessage(intro))  # RFC 2046 §5.1.5: parts are messages
    for a in articles:
        part = EmailMessage()
        part["From"] = mbox.address(a["author_name"], mailing.group_address(name, config.list_domain))
        part["Subject"] = mbox.header_text(a["subject"])
        part["Date"] = format_datetime(clock.parse(a["created_at"]))
        part["Message-ID"] = mbox.header_text(a["message_id"])
        part["Archived-At"] = f"<{archived_at(a, config)}>"
        part.set_content(a["body"] + footer(a, config), subtype="plain", charset="utf-8")
        outer.attach(MIMEMessage(part))
    return outer.as_bytes(policy=SMTP)
