"""What SpamAssassin's verdict on an article does here: the site's policy,
applied the same way whichever channel the article came by.

The adapters ask spamd (server/runtime/spamd.py) before the article's write
transaction opens, never inside it, and hand the `Verdict` to the domain
(posting.Submission.spam); `judge` decides inside the transaction:

- a score at or above `refuse` (MOOT_SPAM_REFUSE): refused (`Spam`, 422;
  NNTP 441, SMTP 550), nothing stored: GTUBE scores about 1000;
- a score at or above `hold` (MOOT_SPAM_HOLD): held in the queue with
  why 'spam', its score and rules;
- no score (spamd down or slow): accepted from members and regulars, held
  (why 'spam', no score) from a new account (trust.held_as_new), so slowing
  spamd down is no way past it.

`message` composes the mail spamd reads from an article that came without
one (the web and the API), and the one it is taught from after a decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import format_datetime

from ..articles.mbox import address, encoded_words, header_text
from ..store import clock
from ..store.config import Config
from ..store.errors import Spam
from . import trust
from .permissions import User

# Rules kept with a held item: the names spamd reported, at most this many.
RULES_MAX = 40


@dataclass(frozen=True)
class Policy:
    """The site's thresholds (MOOT_SPAM_HOLD, MOOT_SPAM_REFUSE) and trust rules."""

    hold: float = 5.0
    refuse: float = 15.0
    trust: trust.Rules = field(default_factory=trust.Rules)

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        return cls(config.spam_hold, config.spam_refuse, trust.Rules.from_config(config))


@dataclass(frozen=True)
class Verdict:
    """What spamd said of one article: its `score` and the `rules` that fired;
    score None: spamd did not answer (down, slow or confused)."""

    score: float | None
    rules: tuple[str, ...] = ()
    policy: Policy = field(default_factory=Policy)

    @property
    def rules_text(self) -> str:
        return " ".join(self.rules[:RULES_MAX])


def judge(verdict: Verdict | None, user: User | None) -> bool:
    """Whether an article by `user` (None: no account here) with this verdict
    waits in the queue as spam (True) or goes on (False); raises Spam when it
    is refused. No verdict (scoring off) holds nothing."""
    if verdict is None:
        return False
    policy = verdict.policy
    if verdict.score is None:
        return user is not None and trust.held_as_new(user, policy.trust)
    if verdict.score >= policy.refuse:
        raise Spam(
            f"this article looks like spam (SpamAssassin scored it {verdict.score:.1f};"
            f" {policy.refuse:g} or more is refused): nothing was posted",
            score=verdict.score,
        )
    return verdict.score >= policy.hold


def judge_arrival(verdict: Verdict) -> None:
    """An article from a news peer (MOOT_SPAMD_PEERS): refused (Spam) from
    the hold threshold on, since a peer's article has no author here to
    answer for it and goes on to other peers; no score lets it in."""
    if verdict.score is not None and verdict.score >= verdict.policy.hold:
        raise Spam(f"SpamAssassin scored it {verdict.score:.1f}", score=verdict.score)


def message(
    *, author: str, addr: str, subject: str, body: str, group: str = "", message_id: str = ""
) -> bytes:
    """An article as the RFC 5322 mail spamd reads (CRLF line ends, UTF-8 text)."""
    headers = [
        ("From", address(author, addr)),
        ("Date", format_datetime(clock.parse(clock.now()))),
        ("Subject", encoded_words(subject, "Subject")),
    ]
    if message_id:
        headers.append(("Message-ID", header_text(message_id)))
    if group:
        headers.append(("Newsgroups", header_text(group)))
    headers += [
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    lines = [f"{name}: {value}" for name, value in headers] + [""] + body.split("\n")
    return "\r\n".join(lines).encode("utf-8", "replace") + b"\r\n"
