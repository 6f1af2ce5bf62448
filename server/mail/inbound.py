"""Mail in: one message for one list address becomes an article, or a clear
refusal, or is dropped (auto-replies, bounces, loops) and logged.

`deliver(site, recipient, data, mail_from, trusted=...)` is the one entry
point for the SMTP/LMTP receiver and `moot deliver`; it answers with an SMTP
reply code and text. Only a member's confirmed address may post, and only
mail shown to come from that member is posted as them (a personal reply key,
DKIM alignment, or a trusted relay's Authentication-Results when `trusted`:
server/mail/identity.py); a member's mail that shows none of these is held
until they confirm it (server/mail/unverified.py). A reply finds its parent
through In-Reply-To/References, or through the signed reply address (or the
thread of the reply key) it was sent to; HTML-only mail is read as text;
attachments are refused; nothing changes unless the article is posted or
held. Mail from anyone else is refused, or held for the moderators where the
group's stranger_mail says so (server/mail/heldmail.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import weakref
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import formatdate
from typing import Any

from ..articles import mbox, messages, posting, repetition
from ..articles.messages import Head, Parsed, mime_problem
from ..runtime.site import Site
from ..stewardship import spam
from ..stewardship.permissions import User
from ..store import validate
from ..store.db import Database, fetch_one, fetch_value
from ..store.errors import Banned, Conflict, Invalid, MootError, RateLimited, Spam, TooLarge
from . import heldmail, identity, mailing, mailqueue, unverified

log = logging.getLogger("moot.mail")

# sysexits.h codes `moot deliver` exits with, as MTAs that pipe expect.
EX_OK, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL, EX_NOPERM = 0, 65, 67, 75, 77
_AUTO_PRECEDENCE = ("bulk", "junk", "list", "auto_reply")


@dataclass(frozen=True)
class Outcome:
    """What became of one message: an SMTP reply code (RFC 5321 §4.2) and text."""

    code: int
    text: str
    article: dict | None = None
    exit_code: int = EX_OK

    @property
    def accepted(self) -> bool:
        return self.code < 400


def _refuse(text: str, exit_code: int = EX_NOPERM, code: int = 550) -> Outcome:
    return Outcome(code, text, exit_code=exit_code)


def _dropped(reason: str, recipient: str) -> Outcome:
    log.info("mail to %s dropped: %s", recipient, reason)
    return Outcome(250, f"dropped: {reason}")


@dataclass(frozen=True)
class _Read:
    """A message read once for the checks below and its article: its header
    fields and content type; `msg` is the email package's reading, None for a
    plain message read without it (messages.plain_message), whose body
    bytes are `payload`."""

    head: Head
    content_type: str
    msg: Message | None
    payload: bytes = b""

    def text(self) -> str:
        """The message's text; Invalid with no text part, TooLarge past the body limit."""
        if self.msg is None:
            return messages.plain_body(self.head, self.payload)
        return messages.read_body(self.msg)


def _read(data: bytes) -> _Read:
    """A plain message (one text/plain part, not an attachment) by a few string
    operations; anything else as the email package reads it: the headers and
    the rest as one payload when it is a single text part, every part parsed
    when it has parts."""
    plain = messages.plain_message(data)
    if plain is not None:
        head, payload = plain
        if (
            "content-disposition" not in head.first
            and "name=" not in head.first.get("content-type", "").lower()
        ):
            return _Read(head, "text/plain", None, payload)
    msg = BytesParser(policy=compat32).parsebytes(data, headersonly=True)
    if msg.get_content_maintype() != "text":
        msg = message_from_bytes(data, policy=compat32)
    return _Read(messages.head_of(msg), msg.get_content_type(), msg)


def _automatic(read: _Read, mail_from: str, config_domain: str, list_domain: str) -> str | None:
    """Why a message is machine-made or ours coming back (to drop it), or None."""
    if mail_from in ("", "<>"):
        return "null return path: a bounce or notification (RFC 5321 §4.5.5)"
    first = read.head.first
    auto = first.get("auto-submitted", "no").strip().lower()
    if not auto.startswith("no"):
        return f"Auto-Submitted: {auto[:40]} (RFC 3834 §5)"
    if first.get("precedence", "").strip().lower() in _AUTO_PRECEDENCE:
        return "Precedence marks an automatic message"
    if first.get("x-autoreply") or first.get("x-autorespond"):
        return "an auto-reply"
    if read.content_type == "multipart/report":
        return "a delivery or disposition report (RFC 6522)"
    list_id = first.get("list-id", "").lower()
    if list_id and f".{list_domain.lower()}>" in list_id:
        return "our own list mail came back (List-Id)"
    mid = first.get("message-id", "").strip().lower()
    if mid.endswith(f"@{config_domain.lower()}>") or mid.endswith(f"@{list_domain.lower()}>"):
        return "our own Message-ID came back (a loop)"
    return None


def _mime_problem(msg: Message) -> str | None:
    """Why the message's structure is refused: attachments, malformed MIME."""
    if any(
        type(d).__name__
        in (
            "StartBoundaryNotFoundDefect",
            "CloseBoundaryNotFoundDefect",
            "MultipartInvariantViolationDefect",
            "NoBoundaryInMultipartDefect",
        )
        for part in msg.walk()
        for d in part.defects
    ):
        return "the message's MIME structure is malformed; send it as plain text"
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = str(part.get("Content-Disposition", "")).lower()
        if (
            part.get_content_maintype() != "text"
            or disposition.startswith("attachment")
            or part.get_filename()
        ):
            return (
                "attachments are not accepted: send the text alone and link to files "
                "(articles are plain text)"
            )
    return None


# The list names known to exist, by database: a group is never deleted or
# renamed, so a name once found stays true, and later mail to it needs no read.
_lists: weakref.WeakKeyDictionary[Database, set[str]] = weakref.WeakKeyDictionary()


async def list_exists(site: Site, name: str) -> bool:
    """Whether a group named `name` exists (read once per name and process)."""
    known = _lists.setdefault(site.db, set())
    if name in known:
        return True
    async with site.db.read() as conn:
        found = await mailqueue.group_exists(conn, name)
    if found:
        known.add(name)
    return found


async def _member(site: Site, address: str | None) -> User | None:
    """The account whose confirmed address `address` is, or None. Kept briefly
    (site.members, as sessions are): a member's next mail needs no read."""
    if not address:
        return None

    async def read() -> tuple[User | None, float | None]:
        async with site.db.read() as conn:
            row = await mailing.member_by_address(conn, address)
        return (None, None) if row is None else (User.from_row(row), math.inf)  # strangers: not kept

    member: User | None = await site.members.value(address, read)
    return member


async def _parent(site: Site, parsed: Parsed, reply_to: int | None, group_name: str | None) -> int | None:
    """The article a message answers: the signed reply address first, then the
    nearest of its References and In-Reply-To known here, and for mail to a
    group's address known in that group: what it names in other groups does
    not take it there (a personal reply address's thread may, see _by_key)."""
    if reply_to is None and not parsed.parent_id and not parsed.refs:
        return None  # a new thread: nothing to read
    async with site.db.read() as conn:
        if reply_to is not None and await fetch_value(
            conn, "SELECT 1 FROM articles WHERE id = ?", (reply_to,)
        ):
            return reply_to
        for ref in [parsed.parent_id, *reversed(parsed.refs)]:
            if ref:
                found = await fetch_value(
                    conn,
                    "SELECT a.id FROM articles a JOIN groups g ON g.id = a.group_id"
                    " WHERE a.message_id = ?1 AND (?2 IS NULL OR g.name = ?2)",
                    (ref, group_name),
                )
                if found is not None:
                    return int(found)
    return None


async def _from_stranger(
    site: Site, parsed: Parsed, body: str, group_name: str | None, reply_to: int | None, mail_from: str
) -> Outcome:
    """Mail from an address that is no member's: held for the moderators when
    its group's stranger_mail says `moderate`, else refused with an explanation."""
    async with site.db.read() as conn:
        group = await fetch_one(
            conn,
            "SELECT id, name, stranger_mail FROM groups WHERE name = ?"
            if group_name is not None
            else "SELECT g.id, g.name, g.stranger_mail FROM articles a JOIN groups g ON g.id = a.group_id"
            " WHERE a.id = ?",
            (group_name if group_name is not None else reply_to,),
        )
    sender = parsed.author_addr or "an unknown sender"
    if group is None or group["stranger_mail"] != "moderate" or not parsed.author_addr:
        # Only an address the operator gave (MOOT_PUBLIC_URL): `moot deliver` run by
        # an MTA knows nothing of where the site is served.
        config = site.config
        where = f"at {config.site_url}/" if config.public_url else f"on {config.site_name}"
        return _refuse(
            f"mail from {sender} is not accepted here: "
            f"only members post by mail, from the address they confirmed in their account "
            f"settings {where}. Nothing was posted."
        )
    try:
        async with site.db.transaction() as conn:
            stranger = posting.Author(
                sender, address=parsed.author_addr
            )  # a ban of the address or its domain
            await posting.check_not_banned(conn, group, stranger)
            status = await heldmail.hold(
                conn,
                group["id"],
                dataclasses.replace(parsed, body=body),
                mail_from=mail_from.strip().strip("<>"),
                reply_to=reply_to,
            )
    except Banned as error:
        return _refuse(f"the message cannot be posted: {error.message}")
    if status == "full":
        return _refuse(
            f"the moderators of {group['name']} have too many messages waiting; try again later",
            EX_TEMPFAIL,
            451,
        )
    log.info("mail from %s to %s held for the moderators (%s)", sender, group["name"], status)
    return Outcome(250, f"held for the moderators of {group['name']}")


async def deliver(
    site: Site, recipient: str, data: bytes, mail_from: str = "", *, trusted: bool = False
) -> Outcome:
    """Take one message for `recipient` (see the module's contract). `trusted`:
    it came by a trusted path (LMTP, `moot deliver`, a configured relay), so
    the relay's Authentication-Results are believed."""
    config = site.config
    if len(data) > config.mail_max_bytes:
        return _refuse(
            f"the message is {len(data)} bytes; the limit is {config.mail_max_bytes}", EX_DATAERR, 552
        )
    local, _, domain = recipient.strip().strip("<>").rpartition("@")
    if domain.lower() != config.list_domain.lower() or not local:
        return _refuse(f"no list here for {recipient[:100]!r}", EX_NOUSER)
    local = local.lower()
    problem = mime_problem(data)
    if problem is not None:
        return _refuse(problem, EX_DATAERR)
    read = _read(data)
    if not read.head.fields:
        return _refuse("this is not an email message (no headers)", EX_DATAERR)

    queue_id = mailing.bounce_target(site.secret, local)
    if queue_id is not None:
        report = read.content_type == "multipart/report" and b"failed" in data.lower()
        if not report:
            return _dropped("mail to a return path that is not a delivery failure report", recipient)
        async with site.db.transaction() as conn:
            address = await mailqueue.record_bounce(conn, queue_id, config.mail_bounce_limit)
        log.info("bounce for %s recorded", address)
        return Outcome(250, "bounce recorded")

    reply_to = mailing.reply_target(site.secret, local)
    group_name = None
    group_local, key = identity.split_local(local)
    if reply_to is None:
        try:
            group_name = validate.group_name(group_local)
        except Invalid:
            return _refuse(f"no list named {local[:80]!r} here", EX_NOUSER)
        if not await list_exists(site, group_name):
            return _refuse(f"no list named {group_name!r} here", EX_NOUSER)

    why = _automatic(read, mail_from, config.domain, config.list_domain)
    if why is not None:
        return _dropped(why, recipient)

    problem = _mime_problem(read.msg) if read.msg is not None else None
    if problem is not None:
        return _refuse(problem, EX_DATAERR)
    try:
        if len(data) > mbox.MESSAGE_MAX_BYTES:
            raise TooLarge(f"the message is {len(data)} bytes; the limit is {mbox.MESSAGE_MAX_BYTES}")
        if not read.head.first.get("date"):  # the article is dated when it is posted: no reason to refuse
            read.head.first["date"] = formatdate()
        parsed = messages.parse_read(read.head, read.text(), data)  # the fields the checks above read
    except (Invalid, TooLarge) as error:
        return _refuse(f"the message cannot be read: {error.message}", EX_DATAERR)
    if validate.reserved_message_id(parsed.message_id):  # a control's form: no member may take it
        return _refuse(
            f"the Message-ID {parsed.message_id[:80]} has a form this server reserves for control articles",
            EX_DATAERR,
        )
    body = parsed.body  # an HTML-only message's is its text (messages.read_body)
    if not body.strip():
        return _refuse("the message cannot be posted: the message has no text", EX_DATAERR)
    user = await _member(site, parsed.author_addr)
    try:  # spamd reads the mail as it came, before any write transaction opens
        verdict = await site.spam_verdict(user, data)
    except RateLimited as error:
        return _refuse(f"try again later: {error.message}", EX_TEMPFAIL, 451)
    if user is None:
        try:
            spam.judge(verdict, None)  # a stranger's mail waits for the moderators anyway
        except Spam as error:
            return _refuse(error.message)
        return await _from_stranger(site, parsed, body, group_name, reply_to, mail_from)

    parent = await _parent(site, parsed, reply_to, group_name)
    shown, parent = await _shown(
        site, user, parsed.author_addr, key, parent, data, read.head, recipient, group_name, trusted
    )
    if not shown:
        try:  # judged as a stranger's would be: spam is never quoted back to the member
            as_spam = spam.judge(verdict, None)
        except Spam as error:
            return _refuse(error.message)
        return await _unproven(site, user, parsed, body, group_name, parent, mail_from, ask=not as_spam)
    message_id = None if parsed.derived_id else parsed.message_id
    if parent is not None:  # a reply keeps its parent's subject unless it says otherwise
        subject = parsed.subject if parsed.subject != "(no subject)" else None
        submission = posting.Submission(
            body=body, subject=subject, parent=parent, message_id=message_id, channel="mail", spam=verdict
        )
    else:
        submission = posting.Submission(
            body=body,
            subject=parsed.subject,
            group=group_name,
            message_id=message_id,
            channel="mail",
            spam=verdict,
        )
    address = parsed.author_addr or ""
    repeat = repetition.Rules.from_config(config)

    async def store(conn: Any) -> dict:  # a ThreadConnection (Database.run)
        # Delivered before (an MTA's retry): read here, in the write's own hop.
        if message_id and await fetch_value(
            conn, "SELECT 1 FROM articles WHERE message_id = ?", (message_id,)
        ):
            return {"already": True}
        posted = await posting.submit(conn, config.domain, user, submission, site.trust_rules, repeat=repeat)
        if "held" in posted:  # acknowledged in the transaction that holds it
            await _acknowledge_held(conn, address, posted["held"], config.list_domain)
        return posted

    try:
        posted = await site.post(user, store)
    except RateLimited as error:
        return _refuse(f"try again later: {error.message}", EX_TEMPFAIL, 451)
    except MootError as error:
        if message_id and isinstance(error, Conflict):
            async with site.db.read() as conn:  # the same message, delivered twice at once
                if await fetch_value(conn, "SELECT 1 FROM articles WHERE message_id = ?", (message_id,)):
                    return Outcome(250, f"already posted as {message_id}")
        return _refuse(f"the message cannot be posted: {error.message}")
    if "already" in posted:
        return Outcome(250, f"already posted as {message_id}")
    if "held" in posted:
        held = posted["held"]
        log.info("mail to %s held for the moderators as queue item %s", held["group"], held["id"])
        return Outcome(250, f"held for the moderators of {held['group']}")
    article = posted["article"]
    log.info("mail from %s posted as %s", user.username, article["message_id"])
    return Outcome(250, f"posted as {article['message_id']}", article)


async def _shown(
    site: Site,
    member: User,
    parsed_from: str | None,
    key: identity.ReplyKey | None,
    parent: int | None,
    data: bytes,
    head: Head,
    recipient: str,
    group_name: str | None,
    trusted: bool,
) -> tuple[bool, int | None]:
    """(whether the mail is shown to come from `member`, the article it answers):
    a reply key of theirs for the thread it answers (a new reply to the key's
    thread goes under its first article), a trusted relay's word, or DKIM."""
    config = site.config
    if (key is not None and key.user_id == member.id) or (group_name is None and parent is not None):
        shown, parent, group_name = await _by_key(site, member, key, parent, group_name)
        if shown:
            return True, parent
    author = (parsed_from or "").lower()
    if trusted and identity.relay_vouches(
        head.all("authentication-results"), config.mail_authserv_id, author
    ):
        return True, parent
    if "dkim-signature" in head.first:
        addresses = {recipient.strip().strip("<>").lower()}
        if group_name:
            addresses.add(mailing.group_address(group_name, config.list_domain).lower())
        signer = await asyncio.to_thread(identity.dkim_author, data, addresses, site.dkim_dns)
        if signer is not None and signer == author:
            return True, parent
    return False, parent


async def _by_key(
    site: Site, member: User, key: identity.ReplyKey | None, parent: int | None, group_name: str | None
) -> tuple[bool, int | None, str | None]:
    """_shown's reads: (whether `key` is `member`'s valid key for the thread
    `parent` is in, the article the mail answers, the group's name when the
    mail's address did not give it)."""
    async with site.db.read() as conn:
        if key is not None and key.user_id == member.id:
            generation = await mailing.reply_key_generation(conn, member.id)
            if identity.check_key(site.secret, key, generation, identity.today()):
                root = await fetch_one(
                    conn,
                    "SELECT t.root_article_id, a.thread_id FROM threads t LEFT JOIN articles a ON a.id = ?"
                    " WHERE t.id = ?",
                    (parent, key.thread_id),
                )
                if root is not None and parent is None:
                    return True, int(root["root_article_id"]), group_name
                if root is not None and root["thread_id"] == key.thread_id:
                    return True, parent, group_name
        if group_name is None and parent is not None:
            group_name = await fetch_value(
                conn,
                "SELECT g.name FROM articles a JOIN groups g ON g.id = a.group_id WHERE a.id = ?",
                (parent,),
            )
    return False, parent, group_name


async def _unproven(
    site: Site,
    user: User,
    parsed: Parsed,
    body: str,
    group_name: str | None,
    parent: int | None,
    mail_from: str,
    *,
    ask: bool,
) -> Outcome:
    """A member's mail that showed nothing: held, and the member asked unless
    not `ask` (spamd would hold it: it waits for the moderators only;
    server/mail/unverified.py)."""
    config = site.config
    async with site.db.transaction() as conn:
        group_id = await fetch_value(
            conn,
            "SELECT id FROM groups WHERE name = ?"
            if parent is None
            else "SELECT group_id FROM articles WHERE id = ?",
            (group_name if parent is None else parent,),
        )
        if group_id is None:
            return _refuse("the article this mail answers is gone; nothing was posted")
        status = await unverified.hold(
            conn,
            user,
            group_id,
            dataclasses.replace(parsed, body=body),
            message_id=parsed.message_id if not parsed.derived_id else posting.new_message_id(config.domain),
            parent_id=parent,
            mail_from=mail_from.strip().strip("<>"),
            site_url=config.site_url,
            confirm_hours=config.mail_confirm_hours,
            list_domain=config.list_domain,
            ask=ask,
        )
    if status == "full":
        return _refuse("too many messages wait for confirmation here; try again later", EX_TEMPFAIL, 451)
    log.info("mail from %s's address held: not shown to come from them (%s)", user.username, status)
    return Outcome(250, "held until its sender confirms it")


async def _acknowledge_held(conn: Any, address: str, item: dict, list_domain: str) -> None:
    """Tell a member, at their confirmed `address`, that their mail to a
    moderated group waits for its moderators (queued in the caller's transaction)."""
    await mailqueue.queue_mail(
        conn,
        "notice",
        address,
        data={
            "subject": f"Your message to {item['group']} waits for its moderators",
            "text": f"Hello,\n\nyour message \u201c{item['subject']}\u201d to {item['group']} was "
            "received. The group is moderated: it appears once one of its moderators approves it.\n",
        },
        domain_for_id=list_domain,
    )
