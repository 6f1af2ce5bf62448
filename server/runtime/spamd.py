"""A SpamAssassin spamd client: the SPAMC protocol (SYMBOLS to score, TELL
to teach) over asyncio streams, one connection per request, as spamd wants.

`Spamd` is the site's: `verdict` scores one message before its write
transaction opens and never raises (a miss is a Verdict with no score,
logged and counted for /metrics); `learn` teaches spamd a moderator's
decision after it committed, in a task of its own, so neither the decision
nor its answer waits on spamd. A lesson lost to a crash in between is lost:
it is a hint to spamd's Bayes filter, not data (the queue keeps every
decision), and it is not worth an outbox.

The protocol (spamd's own spec, PROTOCOL in SpamAssassin's sources): the
request is `VERB SPAMC/1.5`, headers, a blank line and the message, whose
length Content-length gives; the answer `SPAMD/1.1 0 EX_OK`, headers
(`Spam: True ; 1000.0 / 5.0`, `DidSet: local`), a blank line and, for
SYMBOLS, the rules that fired, comma-separated."""

from __future__ import annotations

import asyncio
import logging

from ..stewardship.spam import Policy, Verdict

log = logging.getLogger("moot.spamd")

# The most of spamd's answer read: a SYMBOLS body is a line of rule names.
ANSWER_MAX = 65536


class SpamdError(Exception):
    """spamd answered with an error, or not in the protocol."""


async def request(
    host: str, port: int, verb: str, message: bytes, headers: dict[str, str], timeout: float
) -> tuple[dict[str, str], bytes]:
    """Send one request; its answer's headers (names lower-cased) and body.
    Raises OSError, TimeoutError or SpamdError."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            head = [f"{verb} SPAMC/1.5", f"Content-length: {len(message)}"]
            head += [f"{name}: {value}" for name, value in headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("ascii") + message)
            writer.write_eof()  # as spamc does: spamd reads a last line without its line end only then
            await writer.drain()
            answer = await reader.read(ANSWER_MAX)
            while chunk := await reader.read(ANSWER_MAX):
                answer += chunk
                if len(answer) > ANSWER_MAX:
                    raise SpamdError("spamd's answer is too long")
        finally:
            writer.close()
    status, _, rest = answer.partition(b"\r\n")
    parts = status.decode("ascii", "replace").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("SPAMD/"):
        raise SpamdError(f"not a spamd answer: {status[:80]!r}")
    if parts[1] != "0":
        raise SpamdError(f"spamd answered {status.decode('ascii', 'replace')[:200]}")
    head_text, _, body = rest.partition(b"\r\n\r\n")
    fields = {}
    for line in head_text.decode("ascii", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    return fields, body


def parse_score(spam_header: str) -> float:
    """The score of a `Spam: True ; 1000.0 / 5.0` header; SpamdError if none."""
    try:
        return float(spam_header.split(";", 1)[1].split("/", 1)[0])
    except (IndexError, ValueError):
        raise SpamdError(f"no score in Spam: {spam_header[:80]!r}") from None


class Spamd:
    """The site's spamd at `host`:`port`, with what it did since start (for /metrics)."""

    def __init__(self, host: str, port: int, timeout: float, policy: Policy):
        self.host, self.port, self.timeout, self.policy = host, port, timeout, policy
        self.scored = 0  # verdicts spamd gave
        self.missed = 0  # articles spamd did not score (down, slow, confused)
        self.taught = 0  # decisions spamd learnt from
        self.teach_failed = 0
        self._lessons: set[asyncio.Task] = set()

    async def verdict(self, message: bytes) -> Verdict:
        """spamd's verdict on `message`; a miss (logged, counted) has no score."""
        try:
            fields, body = await request(self.host, self.port, "SYMBOLS", message, {}, self.timeout)
            score = parse_score(fields.get("spam", ""))
        except (OSError, TimeoutError, SpamdError) as error:
            self.missed += 1
            log.warning("spamd at %s:%s gave no verdict: %s", self.host, self.port, repr(error))
            return Verdict(None, policy=self.policy)
        self.scored += 1
        rules = tuple(r for r in body.decode("ascii", "replace").replace("\r\n", "").split(",") if r)
        return Verdict(score, rules, self.policy)

    async def ping(self) -> str:
        """What `moot check` and the admin page say of spamd: whether it answers PING."""
        try:
            await request(self.host, self.port, "PING", b"", {}, self.timeout)
        except (OSError, TimeoutError, SpamdError) as error:
            return f"spamd at {self.host}:{self.port} does not answer: {error!r}"
        return f"spamd at {self.host}:{self.port} answers"

    def describe(self) -> str:
        """One line on scoring for the admins: thresholds and what happened since start."""
        return (
            f"on: spamd at {self.host}:{self.port}; held from {self.policy.hold:g}, refused from"
            f" {self.policy.refuse:g}; since start {self.scored} scored, {self.missed} missed,"
            f" {self.taught} decisions taught"
        )

    async def tell(self, message: bytes, spam: bool) -> bool:
        """Teach spamd (started with --allow-tell) that `message` is spam or
        ham; whether it learnt it. Logged and counted; never raises."""
        headers = {"Message-class": "spam" if spam else "ham", "Set": "local"}
        try:
            fields, _ = await request(self.host, self.port, "TELL", message, headers, self.timeout * 5)
            if "didset" not in fields:  # learnt already, or its Bayes store failed (spamd's log says)
                raise SpamdError("spamd learnt nothing from it")
        except (OSError, TimeoutError, SpamdError) as error:
            self.teach_failed += 1
            log.warning("spamd did not learn a moderator's decision: %s", repr(error))
            return False
        self.taught += 1
        return True

    def learn(self, message: bytes, spam: bool) -> None:
        """`tell` in a task of its own (after the decision committed)."""
        task = asyncio.create_task(self.tell(message, spam), name="moot-spamd-tell")
        self._lessons.add(task)
        task.add_done_callback(self._lessons.discard)

    async def settle(self) -> None:
        """Wait for the lessons under way (a stopping site)."""
        if self._lessons:
            await asyncio.gather(*self._lessons, return_exceptions=True)
