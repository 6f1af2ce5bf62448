"""The mail sender: takes due mail from the queue after each commit (and on
a short poll, for other processes' mail), renders it, hands it to the relay
of MOOT_SMTP_URL over one SMTP connection per batch, signed with DKIM when
MOOT_MAIL_DKIM_KEY is set (server/mail/signing.py), and records the outcome:
sent, retried with backoff, or dead. A mail is marked sent only after the
relay accepted it, so a crash in between sends it again, with the same
Message-ID (at least once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
from collections import Counter
from dataclasses import dataclass
from sqlite3 import Row
from urllib.parse import parse_qs, unquote, urlsplit

from aiosqlite import Connection

from ..mail import identity, mailformat, mailing, mailqueue, noticemail, signing
from ..runtime.site import Site

log = logging.getLogger("moot.mail")

# Mails taken from the queue at once: one SMTP connection carries them all.
BATCH = 200
# Seconds a relay may take to answer before the batch counts as failed.
SMTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Relay:
    """Where outgoing mail goes, from MOOT_SMTP_URL."""

    host: str
    port: int
    security: str  # 'plain', 'starttls' or 'tls'
    username: str | None
    password: str | None
    cafile: str | None

    @classmethod
    def from_url(cls, url: str) -> Relay:
        """smtp://host[:25], smtp+starttls://user:pass@host[:587], smtps://user:pass@host[:465]."""
        parts = urlsplit(url)
        security = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}[parts.scheme]
        port = parts.port or {"plain": 25, "starttls": 587, "tls": 465}[security]
        cafile = parse_qs(parts.query).get("cafile", [None])[0]
        return cls(
            parts.hostname or "localhost",
            port,
            security,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            cafile,
        )

    def connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.cafile)
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
            if self.security == "starttls":
                try:
                    smtp.starttls(context=context)  # RFC 3207; smtplib says EHLO again afterwards
                except BaseException:
                    smtp.close()
                    raise
        try:
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


@dataclass
class Outgoing:
    row: Row
    sender: str  # the VERP return path
    data: bytes
    outcome: str = "retry"  # 'sent', 'retry' or 'dead'
    error: str = ""


def send_batch(relay: Relay, batch: list[Outgoing], signer: signing.Signer | None = None) -> None:
    """Hand each mail to the relay over one connection, recording each outcome,
    each signed by `signer` first when there is one (each mail as its recipient
    gets it). A 5xx refusal is final (RFC 5321 §4.2.1); a 4xx or a lost
    connection is retried."""
    try:
        smtp = relay.connect()
    except (OSError, smtplib.SMTPException) as error:
        for item in batch:
            item.error = f"relay unreachable: {error}"
        return
    try:
        for item in batch:
            try:
                try:
                    data = item.data if signer is None else signer.sign(item.data)
                except ValueError as error:
                    item.outcome, item.error = "dead", f"cannot be signed: {error}"
                    continue
                refused = smtp.sendmail(item.sender, [item.row["recipient"]], data)
                if refused:
                    code, text = next(iter(refused.values()))
                    item.outcome, item.error = ("dead" if code >= 500 else "retry"), f"{code} {text!r}"
                else:
                    item.outcome = "sent"
            except smtplib.SMTPRecipientsRefused as error:
                code, text = next(iter(error.recipients.values()))
                item.outcome, item.error = ("dead" if code >= 500 else "retry"), f"{code} {text!r}"
            except smtplib.SMTPResponseException as error:
                item.outcome = "dead" if error.smtp_code >= 500 else "retry"
                item.error = f"{error.smtp_code} {error.smtp_error!r}"
                if isinstance(error, smtplib.SMTPSenderRefused) and error.smtp_code < 500:
                    break
            except (OSError, smtplib.SMTPException) as error:
                item.error = f"relay failed: {error}"
                break  # the connection is gone: the rest are retried
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


# An article's list mail as every recipient shares it (None: withdrawn), its thread and group.
ArticleParts = tuple[tuple[bytes, bytes] | None, int, str]
# A batch ready for the relay: the mails, and those deferred, dropped and dead.
Prepared = tuple[list[Outgoing], list[int], list[int], list[tuple[Row, str]]]


class MailSender:
    """The sending task of one Site."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.config = site.config
        self.relay = Relay.from_url(site.config.smtp_url)
        self.signer = signing.Signer.from_config(site.config)  # raises DkimConfigError on an unusable key
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.sent = 0
        self.inflight: Counter[str] = Counter()  # mails per address in batches not yet recorded

    def _nudge(self) -> None:
        self.wake.set()

    async def start(self) -> None:
        self.site.db.add_commit_listener(self._nudge)
        self.task = asyncio.create_task(self._run(), name="moot-mail-sender")

    async def stop(self) -> None:
        self.site.db.remove_commit_listener(self._nudge)
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                async with self.site.db.read() as conn:
                    digests = await mailqueue.digests_due(conn, self.config.mail_digest_interval)
                if digests:
                    async with self.site.db.transaction() as conn:
                        if await mailqueue.start_digest_round(conn, self.config.mail_digest_interval):
                            await mailqueue.queue_digests(conn, self.config.list_domain)
                            await noticemail.queue_summaries(conn, self.config.list_domain)
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail sender failed; trying again")
            self.wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a
            # cancellation that lands as the event is set, and stop() would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.mail_poll_interval):
                    await self.wake.wait()

    async def drain(self) -> None:
        """Send every due mail, batch after batch: the next batch is taken and
        rendered while the previous one is with the relay (two connections at most)."""
        sending: asyncio.Task | None = None
        try:
            while (taken := await self._take()) is not None:
                previous, sending = sending, asyncio.create_task(self._deliver(taken))
                if previous is not None:
                    await previous
        finally:
            if sending is not None:
                await sending

    async def _take(self) -> Prepared | None:
        """Claim a batch of due mail and render it; None when nothing is due."""
        config, db = self.config, self.site.db
        async with db.read() as conn:
            if not await mailqueue.any_due(conn):
                return None
        async with db.transaction() as conn:
            rows = await mailqueue.claim(conn, BATCH, config.mail_lease)
            if rows:
                await mailqueue.prune(conn)
        if not rows:
            return None
        return await self._prepare(rows)

    async def _deliver(self, prepared: Prepared) -> None:
        """Hand a batch to the relay and record each outcome in one transaction."""
        config, db = self.config, self.site.db
        batch, deferred, dropped, dead = prepared
        try:
            if batch:
                await asyncio.to_thread(send_batch, self.relay, batch, self.signer)
            async with db.transaction() as conn:
                for queue_id in dropped:
                    await mailqueue.mark(conn, queue_id, "dropped")
                for queue_id in deferred:
                    await mailqueue.defer(conn, queue_id, 3600.0 / max(1, config.mail_recipient_rate))
                for row, reason in dead:
                    await mailqueue.mark(conn, row["id"], "dead", reason)
                await mailqueue.mark_sent(conn, [item.row["id"] for item in batch if item.outcome == "sent"])
                for item in batch:
                    if item.outcome == "dead":
                        await mailqueue.mark(conn, item.row["id"], "dead", item.error)
                    elif item.outcome == "retry":
                        await mailqueue.retry(
                            conn,
                            item.row,
                            item.error,
                            base_delay=config.mail_retry_delay,
                            max_attempts=config.mail_retries,
                        )
        finally:
            self.inflight.subtract(item.row["recipient"].lower() for item in batch)
        sent = sum(item.outcome == "sent" for item in batch)
        self.sent += sent
        failed = [item for item in batch if item.outcome != "sent"]
        if failed:
            log.warning("mail: %d sent, %d not (first: %s)", sent, len(failed), failed[0].error)

    async def _prepare(self, rows: list[Row]) -> Prepared:
        """Render each mail, or set it aside: dropped (no longer wanted, or its
        article hidden by the recipient's killfile), deferred
        (its recipient's hourly rate is spent), dead (it cannot be rendered)."""
        config, secret = self.config, self.site.secret
        batch: list[Outgoing] = []
        deferred: list[int] = []
        dropped: list[int] = []
        dead: list[tuple[Row, str]] = []
        parts: dict[int, ArticleParts] = {}
        async with self.site.db.read() as conn:
            gone = await mailqueue.unwanted(conn, [row["id"] for row in rows])
            gone |= await mailqueue.killed(conn, rows)
            counts = await mailqueue.sent_lately(conn, [row["recipient"] for row in rows])
            for row in rows:
                if row["id"] in gone:
                    dropped.append(row["id"])
                    continue
                key = row["recipient"].lower()
                # Sent within the hour, plus what a batch still with the relay carries.
                counts.setdefault(key, 0)
                if counts[key] + self.inflight[key] >= config.mail_recipient_rate:
                    deferred.append(row["id"])
                    continue
                counts[key] += 1
                try:
                    data = await self._render(conn, row, parts)
                except (ValueError, KeyError, TypeError) as error:
                    dead.append((row, f"cannot be written: {error}"))
                    continue
                if data is None:
                    dropped.append(row["id"])
                    continue
                sender = mailing.return_path(secret, row["id"], config.list_domain)
                batch.append(Outgoing(row, sender, data))
        self.inflight.update(item.row["recipient"].lower() for item in batch)
        return batch, deferred, dropped, dead

    async def _render(self, conn: Connection, row: Row, parts: dict[int, ArticleParts]) -> bytes | None:
        config, secret = self.config, self.site.secret
        kind = row["kind"]
        if kind in ("article", "thread"):
            if row["article_id"] not in parts:
                found = await mailqueue.article_for_mail(conn, row["article_id"])
                parts[row["article_id"]] = (
                    (None, 0, "")
                    if found is None or found[0]["status"] != "ok"
                    else (
                        mailformat.article_parts(found[0], found[1], config),
                        found[0]["thread_id"],
                        found[0]["group_name"],
                    )
                )
            common, thread_id, group_name = parts[row["article_id"]]
            if common is None:
                return None  # withdrawn before it went out
            token = (
                mailing.unsubscribe_token(secret, row["user_id"], row["group_id"])
                if kind == "article"
                else mailing.thread_mail_token(secret, row["user_id"], thread_id)
            )
            reply_to = identity.personal_address(
                secret,
                group_name,
                row["user_id"],
                thread_id,
                await mailing.reply_key_generation(conn, row["user_id"]),
                identity.today() + config.mail_reply_key_days,
                config.list_domain,
            )
            return mailformat.article_message(common, config, token, reply_to)
        if kind == "digest":
            group = await mailqueue.group_row(conn, row["group_id"])
            data = mailformat.data_of(row)
            articles = await mailqueue.digest_articles(
                conn, row["group_id"], data["from"], data["to"], row["user_id"]
            )
            if group is None or not articles:
                return None
            token = mailing.unsubscribe_token(secret, row["user_id"], row["group_id"])
            return mailformat.digest_message(row, group, articles, config, token)
        if kind == "notification":
            notice = await noticemail.notification(conn, mailformat.data_of(row)["notification"])
            if notice is None:
                return None
            token = mailing.notification_mail_token(secret, row["user_id"])
            return mailformat.notification_message(row, notice, config, token)
        if kind == "summary":
            data = mailformat.data_of(row)
            items, total = await noticemail.summary(conn, row["user_id"], data["after"], data["upto"])
            if not items:
                return None  # all read meanwhile
            token = mailing.notification_mail_token(secret, row["user_id"])
            return mailformat.summary_message(row, items, total, config, token)
        if kind == "confirm":
            return mailformat.confirmation_message(row, config)
        if kind == "notice":
            return mailformat.notice_message(row, config)
        raise ValueError(f"no way to write mail of kind {kind!r}")


async def start(site: Site) -> MailSender | None:
    """Start sending mail when MOOT_SMTP_URL names a relay (None otherwise)."""
    if not site.config.smtp_url:
        return None
    sender = MailSender(site)
    await sender.start()
    log.info("mail goes to %s:%d (%s)", sender.relay.host, sender.relay.port, sender.relay.security)
    return sender


async def stop(sender: MailSender | None) -> None:
    if sender is not None:
        await sender.stop()
