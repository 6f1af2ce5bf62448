"""Repetition across groups, cleanfeed's idea: the same text or the same link
posted to many groups at once is a spam run, whoever sends it and by
whichever channel.

Each article leaves fingerprints in `fingerprints`: 'b:' and the digest of its
normalised body (when enough of it is left to mean something, MIN_BODY), and
'l:' and the digest of each link in it (at most LINKS_MAX). An article is
repeated, and held in the moderation queue with why 'repeat' (after the
first, which is published), when one of its fingerprints was already left
within the site's window (MOOT_REPEAT_WINDOW_HOURS):

- by a new account (trust.held_as_new) in another group, and its author is
  new too: one new account, or several, carrying the same thing to a second
  group;
- in MOOT_REPEAT_MAX_GROUPS other groups already: whoever posted a body
  there, and by this same author for a link (many people share a popular
  link; one author carrying it everywhere is the run).

Normalisation, so that trivial variation does not escape (INN's cleanfeed
hashes bodies the same way): the signature (after a "-- " line) and quoted
lines ('>') go, as they are what differs between copies of a reply; links
are taken out of the body (they have fingerprints of their own, so a text
with rotating links is still one text); Unicode compatibility forms are
folded (NFKC) and case is folded; every run of digits becomes one 0 (order
numbers, counters); everything but letters and digits goes, so spacing, line
breaks and punctuation do not count. A link is its scheme-less host
(lower case, without "www." and a default port), its path without a
trailing '/', and its query without tracking parameters (utm_*, fbclid, …),
the rest sorted; the fragment goes.

Who is checked: accounts of this site posting through `submit` (web, API,
NNTP, members' mail), except moderators and admins, who are never held by
these rules; and articles from news peers (`screen_arrival`), whose authors
are known here only by their From address (else by the peer they entered
from) and count as members: trust is each node's own, and a Moot peer has
screened its new accounts already, so only the many-groups rule applies to
what peers send. Stranger mail is held in any case and leaves no
fingerprint.

Cost: one indexed lookup of a handful of digests per article and as many
inserts, in the transaction that stores the article; a fingerprint is kept
once per group, author and level (left again, its time moves on), so the
lookup reads no more rows when the same text is posted over and over;
`prune` drops what the window has passed (the periodic sweep)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiosqlite import Connection

from ..stewardship import trust
from ..stewardship.permissions import User, can
from ..store import clock, validate
from ..store.config import Config
from ..store.db import fetch_all
from .authors import Author

# Normalised characters a body needs before it is fingerprinted: "thanks!"
# posted in four groups is not a spam run.
MIN_BODY = 40
# Links of one article fingerprinted (a few rows per article, whatever it holds).
LINKS_MAX = 10

# Query parameters that only track who clicked where.
TRACKING = re.compile(r"(?i)^(?:utm_\w*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|ref|ref_src|igshid|_ga)$")
SIGNATURE = re.compile(r"(?m)^-- ?$")


@dataclass(frozen=True)
class Rules:
    """The site's repetition settings (MOOT_REPEAT_*) and its trust thresholds."""

    window_hours: float = 24.0
    max_groups: int = 3
    levels: trust.Rules = field(default_factory=trust.Rules)

    @classmethod
    def from_config(cls, config: Config) -> Rules | None:
        """The site's rules; None when the window is 0 (no repetition checks)."""
        if config.repeat_window_hours <= 0:
            return None
        return cls(config.repeat_window_hours, config.repeat_max_groups, trust.Rules.from_config(config))


# ASCII text's digits as 0, and its characters that are neither letters nor digits, gone.
_ZERO = str.maketrans("123456789", "000000000")
_NOT_ALNUM = dict.fromkeys(c for c in range(128) if not chr(c).isalnum())
DIGITS = re.compile(r"\d+")
NOT_ALNUM = re.compile(r"[\W_]+")


def normalise(body: str) -> str:
    """The text of `body` that fingerprints compare (see the module's docstring).
    Every article's write runs this, so what most texts need is done cheaply:
    the signature and quote scans only where a '--' or a '>' is, and ASCII
    text (after folding) by str.translate rather than two regular expressions,
    with the same result."""
    if "--" in body:
        body = SIGNATURE.split(body, maxsplit=1)[0]
    if ">" in body:
        body = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))
    text = unicodedata.normalize("NFKC", validate.without_links(body)).casefold()
    if not text.isascii():
        return NOT_ALNUM.sub("", DIGITS.sub("0", text))
    text = text.translate(_ZERO)
    while "00" in text:  # a run of digits is one 0 (the separators are still there)
        text = text.replace("00", "0")
    return text.translate(_NOT_ALNUM)


def link_key(link: str) -> str:
    """One link as fingerprints compare it (see the module's docstring)."""
    link = link.rstrip(".,;:!?)]}")
    try:
        parts = urlsplit(link if "://" in link else "http://" + link)
        port = parts.port
    except ValueError:  # urllib cannot read it ('[' outside an IPv6 host, a port past 65535): as written
        return link.lower()
    host = (parts.hostname or "").removeprefix("www.")
    if port not in (None, 80, 443):
        host += f":{port}"
    path = parts.path.rstrip("/")
    if not parts.query:
        return host + path
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING.match(k))
    return host + path + ("?" + urlencode(query) if query else "")


def digests(body: str) -> list[str]:
    """The fingerprints an article with this body leaves: its text's, then its links'."""
    found = []
    text = normalise(body)
    if len(text) >= MIN_BODY:
        found.append("b:" + _digest(text))
    keys: dict[str, None] = {}  # the first LINKS_MAX distinct keys, in order
    for link in dict.fromkeys(validate.links(body)):  # each link written out once
        keys[link_key(link)] = None
        if len(keys) == LINKS_MAX:
            break
    found += ["l:" + _digest(key) for key in keys if key]
    return found


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


async def screen(conn: Connection, rules: Rules | None, user: User, group_id: int, body: str) -> str | None:
    """Record the fingerprints of `user`'s article to group `group_id` (in the
    transaction that stores or holds it) and return 'repeat' when they repeat
    (see the module's docstring), having frozen the author's trust; None
    otherwise, and always with no `rules` or for a moderator or admin."""
    if rules is None or user.node is not None or can(user, "moderate"):
        return None
    new = trust.held_as_new(user, rules.levels)
    if await _repeated(conn, rules, group_id, Author.of(user).keys[0], new, body):
        await trust.freeze(conn, user.account_id)
        return "repeat"
    return None


async def screen_arrival(
    conn: Connection, rules: Rules | None, author: Author, group_id: int, body: str
) -> bool:
    """`screen` for an article a news peer sent (its author known by its From
    address, else by the peer): whether it repeats. Nothing with no `rules`."""
    if rules is None:
        return False
    return await _repeated(conn, rules, group_id, (author.keys or ["peer:unknown"])[0], False, body)


async def _repeated(conn: Connection, rules: Rules, group_id: int, author: str, new: bool, body: str) -> bool:
    found = digests(body)
    if not found:
        return False
    now = clock.now()
    marks = ", ".join("?" * len(found))
    rows = await fetch_all(
        conn,
        "SELECT max(new_author AND group_id != ?) AS new_elsewhere,"
        " count(DISTINCT CASE WHEN group_id != ? AND (digest LIKE 'b:%' OR author = ?) THEN group_id END)"
        " AS groups"
        f" FROM fingerprints WHERE digest IN ({marks}) AND created_at > ? GROUP BY digest",
        (group_id, group_id, author, *found, clock.ago(seconds=rules.window_hours * 3600)),
    )
    # The same fingerprint left again in the same group by the same author and
    # level changes no answer but how long it is remembered: its time moves on.
    await conn.executemany(
        "INSERT INTO fingerprints (digest, group_id, author, new_author, created_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET created_at = max(created_at, excluded.created_at)",
        [(digest, group_id, author, int(new), now) for digest in found],
    )
    return any((new and row["new_elsewhere"]) or row["groups"] >= rules.max_groups for row in rows)


async def prune(conn: Connection, before: str) -> int:
    """Drop fingerprints left before `before` (the window has passed them). Returns how many went."""
    cur = await conn.execute("DELETE FROM fingerprints WHERE created_at < ?", (before,))
    return cur.rowcount
