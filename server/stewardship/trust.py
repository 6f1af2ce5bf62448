"""Trust earned by posting: each account's level, derived from its history
and recomputed as that changes.

- **new**: younger than `new_days`, or fewer than `new_posts` articles
  published here, or frozen because its posts were held as spam (until a
  moderator approves one of them);
- **regular**: at least `regular_days` old with `regular_posts` published,
  and no article removed by a moderator (or hidden by reports a moderator
  agreed with) in the last `clean_days`: a strike ages out, it is not forever;
- **member**: everyone else.

The level only ever limits what a new account may do at once (a lower
posting rate, few links, a first post reviewed where a group asks for it)
and weighs reports; it never hides a name or keeps anyone from reading.
Admins and moderators are never held by these rules (`held_as_new`).

What a level is derived from lives on the account's row (users.posts,
strike_at, trust_frozen_at) and is kept up to date by the write path in the
transaction that changes it, so deciding a level reads nothing. The post
count stops at the most any level asks for (Rules.counted): when the site
raises a threshold later, an account counted that far counts on from there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aiosqlite import Connection

from ..store import clock, validate
from ..store.config import Config
from ..store.db import fetch_value
from ..store.errors import TooManyLinks
from .permissions import User, can

LEVELS = ("new", "member", "regular")
# What a report by each level weighs (server/stewardship/reports.py): the site's
# threshold counts member reports, so it is reached at MEMBER_WEIGHT * threshold.
WEIGHTS = {"new": 1, "member": 2, "regular": 3}
MEMBER_WEIGHT = WEIGHTS["member"]
# The settings row of the site-wide switch: every group reviews new accounts' posts.
REVIEW_ALL = "trust.review_new"
# A link, as a reader's client would follow it: a URL or a bare www. name.


@dataclass(frozen=True)
class Rules:
    """The site's thresholds (MOOT_TRUST_*)."""

    new_days: float = 2.0
    new_posts: int = 3
    regular_days: float = 180.0
    regular_posts: int = 50
    clean_days: float = 90.0
    new_links: int = 2
    new_rate_fraction: float = 0.25

    @classmethod
    def from_config(cls, config: Config) -> Rules:
        return cls(
            new_days=config.trust_new_days,
            new_posts=config.trust_new_posts,
            regular_days=config.trust_regular_days,
            regular_posts=config.trust_regular_posts,
            clean_days=config.trust_clean_days,
            new_links=config.trust_new_links,
            new_rate_fraction=config.trust_new_rate_fraction,
        )

    @property
    def counted(self) -> int:
        """How far an account's published articles are counted: past the most
        any level asks for, one more changes no level."""
        return max(self.new_posts, self.regular_posts)


def _ago(now: str, days: float) -> str:
    """The stored time `days` before the stored time `now`."""
    return clock.stamp(clock.parse(now) - timedelta(days=days))


def level(user: User, rules: Rules, now: str | None = None) -> str:
    """The level of the account `user` (read with its trust columns) at `now`."""
    now = now or clock.now()
    if (
        user.trust_frozen_at is not None
        or user.posts < rules.new_posts
        or user.created_at > _ago(now, rules.new_days)
    ):
        return "new"
    if (
        user.posts >= rules.regular_posts
        and user.created_at <= _ago(now, rules.regular_days)
        and (user.strike_at is None or user.strike_at <= _ago(now, rules.clean_days))
    ):
        return "regular"
    return "member"


def held_as_new(user: User, rules: Rules, now: str | None = None) -> bool:
    """Whether the rules for new accounts apply to `user`: a member (never a
    moderator or admin, nor another node's moderator) whose level is new."""
    return user.node is None and not can(user, "moderate") and level(user, rules, now) == "new"


def weight(user: User, rules: Rules, now: str | None = None) -> int:
    """What a report by `user` weighs: by level (WEIGHTS); moderators and
    admins, whose reports are as good as a decision to look, as regulars."""
    return WEIGHTS["regular"] if can(user, "moderate") else WEIGHTS[level(user, rules, now)]


def check_links(user: User, rules: Rules, body: str) -> None:
    """Refuse (TooManyLinks, 422) an article by a new account (`held_as_new`)
    carrying more than `rules.new_links` links; anyone else's passes."""
    found = len(validate.links(body))
    if found > rules.new_links and held_as_new(user, rules):
        raise TooManyLinks(
            f"new accounts may put at most {rules.new_links} links in an article (this one has {found});"
            " that limit goes once you have posted here a while",
            limit=rules.new_links,
        )


async def reviews_new(conn: Connection, group_id: int) -> bool:
    """Whether a new account's post in this group waits for its moderators:
    the group asks for it (groups.review_new), or the site-wide switch is on."""
    return bool(
        await fetch_value(
            conn,
            "SELECT review_new OR EXISTS (SELECT 1 FROM settings WHERE key = ? AND value = '1')"
            " FROM groups WHERE id = ?",
            (REVIEW_ALL, group_id),
        )
    )


async def published(conn: Connection, user_id: int | None, upto: int | None = None) -> None:
    """Count one more article of this account published here (in the
    transaction that publishes it), and with `upto` (the site's
    `Rules.counted`) only while the count is below it: past the most any level
    asks for the count decides nothing, so an established poster's article
    writes nothing to the account's row. Nothing for an article with no account."""
    if user_id is not None:
        await conn.execute(
            "UPDATE users SET posts = posts + 1 WHERE id = ? AND posts < ?", (user_id, upto or 2**62)
        )


async def struck(conn: Connection, user_id: int | None) -> None:
    """Note that a moderator removed one of this account's articles (or agreed
    with the reports on it) now: no regular level for `clean_days`."""
    if user_id is not None:
        await conn.execute("UPDATE users SET strike_at = ? WHERE id = ?", (clock.now(), user_id))


async def freeze(conn: Connection, user_id: int | None) -> None:
    """Keep this account new, whatever its history, until `thaw`: its posts were held as spam."""
    if user_id is not None:
        await conn.execute(
            "UPDATE users SET trust_frozen_at = ? WHERE id = ? AND trust_frozen_at IS NULL",
            (clock.now(), user_id),
        )


async def thaw(conn: Connection, user_id: int | None) -> None:
    """A moderator approved one of this account's held posts: its history counts again."""
    if user_id is not None:
        await conn.execute("UPDATE users SET trust_frozen_at = NULL WHERE id = ?", (user_id,))
