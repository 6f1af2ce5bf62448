"""Schema upgrades: numbered steps that take a database from one
`PRAGMA user_version` to the next, until it has exactly the schema that
schema.sql gives a new database.

Contract of `upgrade(path)`:
- an empty file gets schema.sql whole, at SCHEMA_VERSION;
- an older database gets a backup next to it (SQLite's online backup API),
  then each step in order, each in one transaction under BEGIN IMMEDIATE:
  the write lock, so no other process writes while the schema changes, and a
  step that fails leaves the database as it was before that step;
- a step with a batched data part commits batch by batch (other processes'
  writes get their turn between batches), reports its progress, and sets the
  new version only in the transaction of its last batch; after a crash the
  next run resumes with the batches still to do;
- a database newer than this code is refused with SchemaNewer and left
  untouched (nothing is written, not even the journal mode).

Every step applied is recorded in `schema_history`, with the backup's path.
Steps are frozen once released: a later change is a new step, never an edit."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import clock
from .errors import Unavailable

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.sql"  # ../schema.sql, linked
SCHEMA_VERSION = 19
# Another process may hold the write lock; wait this long (seconds) before SQLITE_BUSY.
BUSY_TIMEOUT = 10.0
# Rows one batch of a data step may touch: a few tens of milliseconds of writing,
# so other processes' writes wait no longer than that.
BATCH_ROWS = 5000

log = logging.getLogger("moot.migrate")

Progress = Callable[[str], None]


class SchemaNewer(Unavailable):
    """The database was upgraded by a newer Moot: this code must not write to it."""

    code = "schema_newer"


class NotMoot(RuntimeError):
    """The file holds tables but no Moot schema version: it is someone else's database."""


@dataclass(frozen=True)
class Migration:
    """One step to `version`: `sql` (schema changes) runs first; then, if given,
    `batch(conn, limit)` runs again and again, each time changing at most
    `limit` rows still to do and returning how many it changed (0: finished);
    `remaining(conn)` counts the rows still to do, for the progress report.
    `then(conn)`, if given, runs right after `sql`, in its transaction, for
    what SQL text alone cannot say."""

    version: int
    name: str
    sql: str = ""
    then: Callable[[sqlite3.Connection], None] | None = None
    batch: Callable[[sqlite3.Connection, int], int] | None = None
    remaining: Callable[[sqlite3.Connection], int] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    # 1 -> 2: a record of upgrades, so an operator (and `moot check`) can tell when
    # each step ran and where the backup taken before it lies.
    Migration(
        2,
        "schema_history",
        sql="""
CREATE TABLE schema_history (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    backup      TEXT
);
""",
    ),
    # 2 -> 3: the offset of an imported article's original Date, kept for display
    # and export. Existing rows get 0, which is what they showed and exported
    # (their offsets were never stored), so there is nothing to backfill; adding
    # a column with a constant default rewrites no row, so it is one quick step.
    Migration(
        3,
        "utc_offset",
        sql="""
ALTER TABLE articles ADD COLUMN
    utc_offset  INTEGER NOT NULL DEFAULT 0 CHECK (utc_offset BETWEEN -1439 AND 1439);
""",
    ),
    # 3 -> 4: read marks as .newsrc ranges per reader and group instead of one
    # high-water mark; a mark N becomes the range 1-N (everything up to it read),
    # and a group the reader had visited becomes one they subscribe to.
    # Group follows, notifications, feed keys, reset links, killfiles and article
    # versions start empty; articles gain edited_at (NULL: never edited).
    Migration(
        4,
        "read_marks",
        sql="""
CREATE TABLE read_marks (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups(id),
    ranges   TEXT NOT NULL DEFAULT '',
    -- Subscribed (a .newsrc line's ':'), or not ('!'): marks are kept either way.
    subscribed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, group_id)
) WITHOUT ROWID;

-- Whole groups a reader follows: each new thread there notifies them.
CREATE TABLE group_follows (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups(id),
    PRIMARY KEY (user_id, group_id)
) WITHOUT ROWID;
CREATE INDEX group_follows_by_group ON group_follows(group_id);

-- What a reader is told of (server/notifications.py): a reply to their
-- article, a new article in a thread they follow, a mention, a moderation
-- action on their thread (`entry_id`). One per reader and article at most.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('reply', 'follow', 'mention', 'moderation')),
    article_id INTEGER,
    thread_id  INTEGER,
    entry_id   INTEGER REFERENCES modlog(id),
    actor_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    read       INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX notifications_once ON notifications(user_id, article_id)
    WHERE entry_id IS NULL;
CREATE UNIQUE INDEX notifications_once_per_entry ON notifications(user_id, entry_id)
    WHERE entry_id IS NOT NULL;
CREATE INDEX notifications_by_user ON notifications(user_id, id);
CREATE INDEX notifications_unread ON notifications(user_id) WHERE read = 0;

-- The secret of a reader's notification feed URL, stored as its SHA-256
-- (the URL is shown once); a new one replaces the old, deleting revokes it.
CREATE TABLE feed_keys (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    key_hash   TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- One-time password reset links (server/resets.py): only the token's SHA-256.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
) WITHOUT ROWID;
CREATE INDEX password_resets_by_user ON password_resets(user_id);

-- Each reader's killfile (server/killfile.py): slrn-like scoring rules.
CREATE TABLE kill_rules (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    field      TEXT NOT NULL CHECK (field IN ('author', 'subject', 'group', 'thread', 'replies_to')),
    pattern    TEXT NOT NULL,
    regex      INTEGER NOT NULL DEFAULT 0,
    score      INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX kill_rules_by_user ON kill_rules(user_id, id);

-- Earlier texts of edited articles (server/editing.py): each edit within the
-- grace period supersedes the text, and the text it replaced is kept here.
CREATE TABLE article_versions (
    id          INTEGER PRIMARY KEY,
    article_id  INTEGER NOT NULL REFERENCES articles(id),
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    written_at  TEXT NOT NULL,
    replaced_at TEXT NOT NULL
);
CREATE INDEX article_versions_by_article ON article_versions(article_id, id);
ALTER TABLE articles ADD COLUMN edited_at TEXT;
""",
        batch=lambda conn, limit: _newsrc_to_ranges(conn, limit),
        remaining=lambda conn: _newsrc_left(conn),
    ),
    # 4 -> 5: news peers, their outgoing queue, and the Path of articles received
    # from them (docs/PEERING.md).
    Migration(
        5,
        "peering",
        sql="""
CREATE TABLE peers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    host       TEXT NOT NULL,
    port       INTEGER NOT NULL,
    groups     TEXT NOT NULL DEFAULT '*',
    direction  TEXT NOT NULL DEFAULT 'both' CHECK (direction IN ('both', 'incoming', 'outgoing')),
    password   TEXT,
    created_at TEXT NOT NULL,
    last_ok_at TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    last_error_at TEXT
);

CREATE TABLE peer_queue (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    peer_id     INTEGER NOT NULL REFERENCES peers(id) ON DELETE CASCADE,
    message_id  TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'article' CHECK (kind IN ('article', 'cancel', 'state', 'control')),
    article_id  INTEGER,
    control     TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try_at TEXT NOT NULL,
    UNIQUE (peer_id, message_id)
);
CREATE INDEX peer_queue_due ON peer_queue(peer_id, next_try_at, id);

CREATE TABLE article_paths (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id),
    path       TEXT NOT NULL
);

CREATE TABLE news_history (
    message_id  TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE thread_state_stamps (
    root_message_id TEXT PRIMARY KEY,
    stamp           TEXT NOT NULL
) WITHOUT ROWID;
""",
    ),
    # 5 -> 6: groups by email: account addresses, mail subscriptions and the mail outbox.
    Migration(
        6,
        "mail",
        sql="""
-- Mail. An account's address: optional, never shown to others, confirmed by
-- a signed single-use link (`nonce` is the pending link's; NULL once used).
-- After MOOT_MAIL_BOUNCE_LIMIT failed deliveries reported to the VERP return
-- path it is marked bouncing and gets no more mail until set again.
CREATE TABLE mail_addresses (
    user_id      INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    confirmed_at TEXT,
    nonce        TEXT,
    bounces      INTEGER NOT NULL DEFAULT 0,
    bouncing_at  TEXT,
    created_at   TEXT NOT NULL
);
-- A confirmed address belongs to one account: incoming mail names its author by it.
CREATE UNIQUE INDEX mail_addresses_confirmed ON mail_addresses(email COLLATE NOCASE)
    WHERE confirmed_at IS NOT NULL;

-- Who gets a group's articles by mail: each one, or a daily digest. No row: no mail.
-- digest_number: the group's last article number the previous digest covered.
CREATE TABLE mail_subscriptions (
    group_id      INTEGER NOT NULL REFERENCES groups(id),
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    mode          TEXT NOT NULL CHECK (mode IN ('each', 'digest')),
    digest_number INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX mail_subscriptions_by_user ON mail_subscriptions(user_id);

-- The mail outbox: rows written in the transaction of the change that causes
-- them, sent by the mail sender after the commit. `message_id` is fixed here,
-- so a resend after a crash carries the same one. Status: queued (due at
-- next_at), sent, dead (retries spent or refused for good: the admins' view),
-- dropped (the address stopped qualifying before it was sent).
CREATE TABLE mail_queue (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    group_id   INTEGER REFERENCES groups(id),
    article_id INTEGER REFERENCES articles(id),
    message_id TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}',
    status     TEXT NOT NULL DEFAULT 'queued'
               CHECK (status IN ('queued', 'sent', 'dead', 'dropped')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    TEXT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    sent_at    TEXT
);
CREATE INDEX mail_queue_due ON mail_queue(next_at, id) WHERE status = 'queued';
CREATE INDEX mail_queue_dead ON mail_queue(id) WHERE status = 'dead';
-- The per-recipient rate: what went to one address lately.
CREATE INDEX mail_queue_sent ON mail_queue(recipient COLLATE NOCASE, sent_at) WHERE status = 'sent';
""",
    ),
    # 6 -> 7: mail for readers: notifications by mail, threads followed by mail,
    # and mail from strangers held for a group's moderators. Adding columns with
    # constant defaults rewrites no row: every follow stays without mail and
    # every group keeps refusing strangers, as before.
    Migration(
        7,
        "reader_mail",
        sql="""
ALTER TABLE follows ADD COLUMN mail INTEGER NOT NULL DEFAULT 0;
CREATE INDEX follows_by_mail ON follows(thread_id) WHERE mail = 1;
ALTER TABLE groups ADD COLUMN
    stranger_mail TEXT NOT NULL DEFAULT 'bounce' CHECK (stranger_mail IN ('bounce', 'moderate'));

CREATE TABLE notification_mail (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    mode       TEXT NOT NULL CHECK (mode IN ('immediately', 'daily')),
    summary_id INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE held_mail (
    id          INTEGER PRIMARY KEY,
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    message_id  TEXT NOT NULL,
    mail_from   TEXT NOT NULL,
    from_name   TEXT NOT NULL,
    from_addr   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    refs        TEXT NOT NULL DEFAULT '',
    reply_to    INTEGER,
    received_at TEXT NOT NULL,
    UNIQUE (group_id, message_id)
);
""",
    ),
    # 7 -> 8: reply trees keep a depth and an integer order key per article
    # instead of a materialised path, which grew with depth (server/tree.py).
    # Each thread's rows, in path order, get keys STEP apart and depth =
    # components - 1; parents do not change. A partial index finds the
    # threads still to do; the last batch drops it and the path column with
    # its index (DROP COLUMN rewrites the table, in that one transaction).
    Migration(
        8,
        "tree_order_keys",
        sql="""
ALTER TABLE articles ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
ALTER TABLE articles ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX articles_unordered ON articles(thread_id) WHERE seq = 0;
""",
        batch=lambda conn, limit: _order_keys(conn, limit),
        remaining=lambda conn: int(conn.execute("SELECT count(*) FROM articles WHERE seq = 0").fetchone()[0]),
    ),
    # 8 -> 9: one home node per group for splits, merges and moves, their
    # x-moot-action control articles, and articles held until what they follow
    # arrives (docs/PEERING.md). Existing groups get this node as their home.
    Migration(
        9,
        "home_nodes",
        sql="""
ALTER TABLE groups ADD COLUMN home TEXT;
ALTER TABLE groups ADD COLUMN action_sequence INTEGER NOT NULL DEFAULT 0;
-- Structural actions (split, merge, move, undo) as x-moot-action control
-- articles: made here (status 'applied' at once) or received from the group's
-- home node and applied in sequence order (docs/PEERING.md). `params` is the
-- JSON of the article's body fields, every article named by Message-ID;
-- `entry_id` is the moderation log entry the action wrote here.
CREATE TABLE group_actions (
    message_id  TEXT PRIMARY KEY,
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    sequence    INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('split', 'merge', 'move', 'undo')),
    origin      TEXT NOT NULL,
    params      TEXT NOT NULL,
    date        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'applied', 'failed', 'ignored')),
    entry_id    INTEGER REFERENCES modlog(id),
    error       TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX group_actions_pending ON group_actions(group_id, sequence) WHERE status = 'pending';
CREATE INDEX group_actions_by_entry ON group_actions(entry_id);

-- Articles (and cancels, thread state changes) a peer streamed with TAKETHIS
-- before what they follow up or act on (`waits_for`): taken (239), kept here,
-- and delivered when that arrives, or at `due_at` (their Date plus the orphan
-- wait) as they are. `article` is the JSON of peering.Incoming.
CREATE TABLE peer_held (
    message_id  TEXT PRIMARY KEY,
    waits_for   TEXT NOT NULL,
    article     TEXT NOT NULL,
    due_at      TEXT NOT NULL,
    received_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX peer_held_waits ON peer_held(waits_for);
CREATE INDEX peer_held_due ON peer_held(due_at);
""",
    ),
    # 9 -> 10: site-wide suspensions (server/stewardship/suspensions.py), kept
    # on the account so every User built from it carries them. Adding columns
    # with constant defaults rewrites no row: no account is suspended.
    Migration(
        10,
        "suspensions",
        sql="""
ALTER TABLE users ADD COLUMN suspended_until TEXT;
ALTER TABLE users ADD COLUMN suspension_reason TEXT NOT NULL DEFAULT '';
""",
    ),
    # 10 -> 11: the moderation queue, reports, group bans and removals that
    # can be undone (server/stewardship/). Held stranger mail moves into the
    # queue as it stood; articles may now be 'hidden' (a CHECK loosened in
    # place, rewriting no row) and carry an Approved header.
    Migration(
        11,
        "moderation queue",
        sql="""
ALTER TABLE articles ADD COLUMN approved TEXT;
ALTER TABLE articles ADD COLUMN channel TEXT;
-- The moderation queue (server/stewardship/queue.py): what waits for a
-- group's moderators, one row per article. kind 'held': a submission never
-- published (to a moderated group, or stranger mail), kept here whole with
-- its author and the article it answers (`parent_id`), numbered only when
-- approved; kind 'reported': a published article (`article_id`) members
-- reported, the reports gathered in `reports`. `state` is 'waiting' until a
-- moderator decides: 'approved' (published, or its reports dismissed) or
-- 'rejected' (kept out, or removed); `entry_id` is that decision's log entry.
CREATE TABLE queue (
    id          INTEGER PRIMARY KEY,
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    kind        TEXT NOT NULL CHECK (kind IN ('held', 'reported')),
    why         TEXT NOT NULL CHECK (why IN ('moderated', 'stranger', 'reports')),
    channel     TEXT NOT NULL CHECK (channel IN ('web', 'api', 'nntp', 'mail', 'peer')),
    message_id  TEXT NOT NULL,
    article_id  INTEGER REFERENCES articles(id),
    -- The author: an account here (user_id), or a name and an address only
    -- (stranger mail; mail_from is its envelope sender, never written to).
    user_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    author_name TEXT NOT NULL DEFAULT '',
    author_addr TEXT,
    mail_from   TEXT,
    subject     TEXT NOT NULL DEFAULT '',
    body        TEXT NOT NULL DEFAULT '',
    refs        TEXT NOT NULL DEFAULT '',
    parent_id   INTEGER REFERENCES articles(id),
    continued_from INTEGER REFERENCES threads(id),
    -- When its author's edit brought a hidden article back into view (once
    -- only); reports from before then no longer count towards hiding it.
    unhid_at    TEXT,
    state       TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'approved', 'rejected')),
    created_at  TEXT NOT NULL,
    decided_at  TEXT,
    decided_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    entry_id    INTEGER REFERENCES modlog(id)
);
CREATE INDEX queue_waiting ON queue(group_id, id) WHERE state = 'waiting';
CREATE INDEX queue_decided ON queue(decided_at) WHERE state != 'waiting';
CREATE UNIQUE INDEX queue_held_once ON queue(message_id) WHERE kind = 'held' AND state = 'waiting';
CREATE UNIQUE INDEX queue_reported_once ON queue(article_id) WHERE kind = 'reported' AND state = 'waiting';
CREATE INDEX queue_by_user ON queue(user_id, state);

-- Members' reports on articles (server/stewardship/reports.py), one per
-- member and article, gathered on a queue item. `weight` 0: counts for
-- nothing (the reporter's own article, or a reporter whose reports the
-- moderators keep dismissing).
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    item_id     INTEGER NOT NULL REFERENCES queue(id),
    article_id  INTEGER NOT NULL REFERENCES articles(id),
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason      TEXT NOT NULL CHECK (reason IN ('spam', 'abuse', 'off-topic', 'other')),
    note        TEXT NOT NULL DEFAULT '',
    weight      INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (article_id, user_id)
);
CREATE INDEX reports_by_item ON reports(item_id);
CREATE INDEX reports_by_user ON reports(user_id);

-- Bans from one group (server/stewardship/bans.py): an account, a mail
-- address, a whole mail domain, or a news peer's origin (`author` is
-- 'user:ID', 'mail:ADDRESS', 'domain:NAME' or 'peer:PATHNODE'), until a time.
-- One ban per group and author; its history is the moderation log.
CREATE TABLE bans (
    group_id   INTEGER NOT NULL REFERENCES groups(id),
    author     TEXT NOT NULL,
    until      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    entry_id   INTEGER REFERENCES modlog(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (group_id, author)
) WITHOUT ROWID;
CREATE INDEX bans_by_author ON bans(author);

-- The text of an article a moderator removed, kept so the removal can be
-- undone from the log (`entry_id`); an author's own withdrawal keeps nothing.
CREATE TABLE removed_texts (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id),
    entry_id   INTEGER NOT NULL REFERENCES modlog(id),
    body       TEXT NOT NULL
);
CREATE INDEX removed_texts_by_entry ON removed_texts(entry_id);

INSERT INTO queue (group_id, kind, why, channel, message_id, author_name, author_addr, mail_from,
                   subject, body, refs, parent_id, created_at)
    SELECT group_id, 'held', 'stranger', 'mail', message_id, from_name, from_addr, mail_from,
           subject, body, refs, reply_to, received_at
    FROM held_mail ORDER BY id;
DROP TABLE held_mail;
""",
        then=lambda conn: loosen_check(
            conn,
            "articles",
            "CHECK (status IN ('ok', 'cancelled', 'notice'))",
            "CHECK (status IN ('ok', 'hidden', 'cancelled', 'notice'))",
        ),
    ),
    # 11 -> 12: trust earned by posting, registration by application or
    # invitation, fingerprints for repetition across groups, spamd's verdict
    # on held items, moderators per group (appointed, or by proposal), and
    # confirmation of a member's unverified list mail.
    Migration(
        12,
        "trust, registration and group moderators",
        sql="""
-- Trust earned by posting (server/stewardship/trust.py): what a level is derived
-- from, kept as it changes so no post has to count a history. `posts`: the
-- account's articles published here (an approved submission counts when it
-- is published); `strike_at`: the last time a moderator removed one of them
-- or agreed with reports on it; `trust_frozen_at`: set when the account's
-- posts were held as spam, it stays 'new' until a moderator approves one.
-- `reply_key_generation`: bumped to revoke every personal reply address the
-- account's list mail carried (server/mail/replykeys.py).
ALTER TABLE users ADD COLUMN posts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN strike_at TEXT;
ALTER TABLE users ADD COLUMN trust_frozen_at TEXT;
ALTER TABLE users ADD COLUMN reply_key_generation INTEGER NOT NULL DEFAULT 0;
UPDATE users SET posts = (SELECT count(*) FROM articles a
                          WHERE a.user_id = users.id AND a.status = 'ok');

-- A group whose moderators see each new account's first post before anyone
-- else does (off by default; the site-wide switch is a setting).
ALTER TABLE groups ADD COLUMN review_new INTEGER NOT NULL DEFAULT 0;

-- What spamd said of a held item: its score and the rules that fired.
ALTER TABLE queue ADD COLUMN spam_score REAL;
ALTER TABLE queue ADD COLUMN spam_rules TEXT NOT NULL DEFAULT '';

-- Applications to join a site whose registration needs approval
-- (server/people/registration.py): what the applicant gave, kept until an
-- admin or moderator decides; accepted makes the account (`user_id`).
CREATE TABLE applications (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    email         TEXT,
    answer        TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'accepted', 'refused')),
    reason        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    decided_at    TEXT,
    decided_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    user_id       INTEGER REFERENCES users(id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX applications_waiting_name ON applications(username COLLATE NOCASE)
    WHERE state = 'waiting';

-- Invitations for an invite-only site: only the code's SHA-256; used once.
CREATE TABLE invites (
    code_hash  TEXT PRIMARY KEY,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    note       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    used_at    TEXT
) WITHOUT ROWID;

-- Sign-ups by client address (an IPv4 address, or an IPv6 /64), for the
-- per-address sign-up limit; rows older than its window are swept.
CREATE TABLE signups (
    address    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX signups_by_address ON signups(address, created_at);

-- Fingerprints of recent articles (server/articles/repetition.py): the
-- digest of a normalised body ('b:...') or of one link ('l:...'), the group
-- it went to and its author's key and level; kept for the repetition window.
CREATE TABLE fingerprints (
    digest     TEXT NOT NULL,
    group_id   INTEGER NOT NULL REFERENCES groups(id),
    author     TEXT NOT NULL,
    new_author INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX fingerprints_by_digest ON fingerprints(digest, created_at);
CREATE INDEX fingerprints_by_time ON fingerprints(created_at);

-- A group's own moderators (server/stewardship/permissions.py), appointed by
-- an admin or by a carried proposal (`entry_id`: the log entry that did it).
CREATE TABLE group_moderators (
    group_id   INTEGER NOT NULL REFERENCES groups(id),
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    entry_id   INTEGER REFERENCES modlog(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_moderators_by_user ON group_moderators(user_id);

-- Proposals now also add or remove a group's moderator (`name` the group,
-- `user_id` the member); one open proposal per kind, group and member.
ALTER TABLE proposals ADD COLUMN kind TEXT NOT NULL DEFAULT 'group'
    CHECK (kind IN ('group', 'add_moderator', 'remove_moderator'));
ALTER TABLE proposals ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
DROP INDEX proposals_open_name;
CREATE UNIQUE INDEX proposals_open ON proposals(kind, name, coalesce(user_id, 0)) WHERE status = 'open';

-- A member's list mail that did not show it came from them waits in the
-- queue (why 'unverified'); one single-use link, sent to their verified
-- address, confirms it (only the token's SHA-256 is kept).
CREATE TABLE mail_confirmations (
    token_hash TEXT PRIMARY KEY,
    item_id    INTEGER NOT NULL REFERENCES queue(id),
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
) WITHOUT ROWID;
CREATE INDEX mail_confirmations_by_user ON mail_confirmations(user_id, created_at);
""",
        then=lambda conn: _loosen_v12(conn),
    ),
    # 12 -> 13: drafts kept on the server, so they follow a writer between devices.
    Migration(
        13,
        "drafts",
        sql="""
-- Drafts (server/people/drafts.py): what a reader is writing, kept per
-- account and place so it follows them from one device to another. `place`
-- is 'reply:ARTICLE_ID', 'thread:GROUP' or 'edit:ARTICLE_ID'; `version`
-- grows with every save, and a save names the version it replaces, so two
-- devices never overwrite each other's text unseen.
CREATE TABLE drafts (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    place      TEXT NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, place)
) WITHOUT ROWID;
""",
    ),
    # 13 -> 14: recovery codes, a way back into an account without mail.
    Migration(
        14,
        "recovery codes",
        sql="""
-- Recovery codes (server/people/recovery.py): a way back into an account
-- without mail. Shown once, when made; only each code's SHA-256 is kept,
-- and a code is spent by its use. Making a new set replaces the old.
CREATE TABLE recovery_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    used_at    TEXT
) WITHOUT ROWID;
CREATE INDEX recovery_codes_by_user ON recovery_codes(user_id);
""",
    ),
    # 14 -> 15: the fediverse: actors' keys, remote actors, followers, deliveries.
    Migration(
        15,
        "the fediverse",
        then=lambda conn: loosen_check(
            conn,
            "queue",
            "channel IN ('web', 'api', 'nntp', 'mail', 'peer')",
            "channel IN ('web', 'api', 'nntp', 'mail', 'peer', 'fediverse')",
        ),
        sql="""
-- The fediverse (server/federation/): each group an ActivityPub Group
-- actor. `ap_follow_approval` 1: a remote Follow of the group waits for a
-- moderator's approval instead of being accepted at once.
ALTER TABLE groups ADD COLUMN ap_follow_approval INTEGER NOT NULL DEFAULT 0;

-- One RSA key pair per local actor ('instance', 'group:NAME', 'user:ID'),
-- made when the actor is first served or first signs.
CREATE TABLE ap_keys (
    actor       TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    public_pem  TEXT NOT NULL,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;

-- Remote actors as last fetched: where they take deliveries, the key they
-- sign with, and how they are shown (`handle` name@host, cleaned).
CREATE TABLE ap_actors (
    uri          TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    inbox        TEXT NOT NULL,
    shared_inbox TEXT,
    key_id       TEXT NOT NULL,
    public_pem   TEXT NOT NULL,
    handle       TEXT NOT NULL,
    name         TEXT NOT NULL,
    url          TEXT,
    fetched_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX ap_actors_by_key ON ap_actors(key_id);

-- A group's remote followers: 'pending' while a group that asks for
-- approval has not decided, 'accepted' once answered with Accept.
-- `follow_id` is the Follow activity's id, which Accept and Undo name.
CREATE TABLE ap_followers (
    group_id   INTEGER NOT NULL REFERENCES groups(id),
    actor      TEXT NOT NULL REFERENCES ap_actors(uri),
    follow_id  TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'accepted' CHECK (state IN ('pending', 'accepted')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (group_id, actor)
) WITHOUT ROWID;

-- Articles that came from the fediverse: the object's id, the actor that
-- wrote it, and the activity exactly as received (a group announces it as
-- it came). One row per such article; its Message-ID is a hash of object_id.
CREATE TABLE ap_objects (
    article_id  INTEGER PRIMARY KEY REFERENCES articles(id),
    object_id   TEXT NOT NULL UNIQUE,
    actor       TEXT NOT NULL,
    activity    TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX ap_objects_by_actor ON ap_objects(actor);

-- Ids of activities already taken: a replay does nothing twice. Kept past
-- the window in which a signature's date is believed.
CREATE TABLE ap_seen (
    activity_id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX ap_seen_by_time ON ap_seen(received_at);

-- Outgoing activities and their deliveries. The events outbox, written in
-- the transaction of the change, is the durable record of what must be
-- sent; the delivery task turns events into an activity (its JSON, with a
-- stable id, and the local actor whose key signs it) and one delivery per
-- inbox, in one transaction with its place in the events table
-- (settings 'federation.events_cursor'). A delivered row is deleted; one
-- that keeps failing is retried with backoff until it is given up ('failed').
CREATE TABLE ap_activities (
    id          INTEGER PRIMARY KEY,
    activity_id TEXT NOT NULL UNIQUE,
    signer      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE ap_deliveries (
    activity   INTEGER NOT NULL REFERENCES ap_activities(id) ON DELETE CASCADE,
    inbox      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    last_error TEXT,
    PRIMARY KEY (activity, inbox)
) WITHOUT ROWID;
CREATE INDEX ap_deliveries_due ON ap_deliveries(next_at) WHERE state = 'pending';

-- A post from the fediverse held in the queue keeps its actor and the
-- activity as received, so the article it becomes on approval is that
-- actor's (its edits and deletions apply) and is announced as it came.
ALTER TABLE queue ADD COLUMN actor TEXT;
ALTER TABLE queue ADD COLUMN activity TEXT;

-- Instances an admin has blocked: nothing from `host` is taken in, and
-- nothing is delivered to it.
CREATE TABLE ap_blocks (
    host       TEXT PRIMARY KEY,
    reason     TEXT NOT NULL DEFAULT '',
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL
) WITHOUT ROWID;
""",
    ),
    # 15 -> 16: the search index fed through an outbox, in batches.
    Migration(
        16,
        "search queue",
        sql="""
-- Articles whose words wait for the search index (server/articles/indexing.py):
-- posting queues the id in its transaction and the writer indexes queued
-- articles in batches, off the acknowledgement path. An article with status
-- 'ok' is here or indexed with its text as stored, never both.
CREATE TABLE search_queue (
    article_id INTEGER PRIMARY KEY
);
""",
    ),
    # 16 -> 17: fingerprints kept in digest order, one row per digest, group,
    # author and level (two B-trees written per fingerprint, not three).
    Migration(
        17,
        "fingerprints by digest",
        sql="""
DROP INDEX fingerprints_by_digest;
DROP INDEX fingerprints_by_time;
ALTER TABLE fingerprints RENAME TO fingerprints_16;
-- Fingerprints of recent articles (server/articles/repetition.py): the
-- digest of a normalised body ('b:...') or of one link ('l:...'), the group
-- it went to and its author's key and level, and when it was last left
-- there by them (the same again moves the time on: no second row); kept for
-- the repetition window. Stored in digest order, the order it is looked up in.
CREATE TABLE fingerprints (
    digest     TEXT NOT NULL,
    group_id   INTEGER NOT NULL REFERENCES groups(id),
    author     TEXT NOT NULL,
    new_author INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (digest, group_id, author, new_author)
) WITHOUT ROWID;
INSERT INTO fingerprints (digest, group_id, author, new_author, created_at)
    SELECT digest, group_id, author, new_author, max(created_at) FROM fingerprints_16
    GROUP BY digest, group_id, author, new_author;
DROP TABLE fingerprints_16;
CREATE INDEX fingerprints_by_time ON fingerprints(created_at);
""",
    ),
    # 17 -> 18: the search index's outbox becomes one high-water mark (posting
    # writes nothing for the index), and threads are no longer kept in size
    # order (the sweep's size rule reads a group's live threads instead): two
    # B-trees fewer written per article.
    Migration(
        18,
        "search mark",
        sql="""
INSERT INTO articles_fts (rowid, subject, body, author_name)
    SELECT a.id, a.subject, a.body, a.author_name FROM search_queue q JOIN articles a ON a.id = q.article_id
    WHERE a.status = 'ok' ORDER BY a.id;
DROP TABLE search_queue;
-- How far the search index has come (server/articles/indexing.py): every
-- article with an id up to `article_id` is indexed, with its text as stored,
-- when its status is 'ok', and none after it is yet. Posting writes nothing
-- here: the writer indexes the articles beyond the mark in batches, off the
-- acknowledgement path, and moves the mark on. One row.
CREATE TABLE search_indexed (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    article_id INTEGER NOT NULL
);
INSERT INTO search_indexed (id, article_id) VALUES (1, (SELECT coalesce(max(id), 0) FROM articles));
DROP INDEX threads_by_size;
""",
    ),
    # 18 -> 19: a proposer may withdraw an open proposal ('withdrawn'), so a
    # member at the limit of open proposals is never stuck with them.
    Migration(
        19,
        "withdrawn proposals",
        then=lambda conn: loosen_check(
            conn,
            "proposals",
            "CHECK (status IN ('open', 'created', 'carried'))",
            "CHECK (status IN ('open', 'created', 'carried', 'withdrawn'))",
        ),
    ),
)

# Step 8's frozen constants: tree.STEP when it ran, and the width of one path component.
_STEP_8 = 1 << 20
_WIDTH_6 = 8


def _order_keys(conn: sqlite3.Connection, limit: int) -> int:
    """Give whole threads, at least `limit` rows (or all that are left), their
    depths and keys from their paths; when none are left, drop the paths."""
    done = 0
    while done < limit:
        row = conn.execute("SELECT thread_id FROM articles WHERE seq = 0 LIMIT 1").fetchone()
        if row is None:
            break
        paths = conn.execute(
            "SELECT id, path FROM articles WHERE thread_id = ? ORDER BY path", (row[0],)
        ).fetchall()
        conn.executemany(
            "UPDATE articles SET depth = ?, seq = ? WHERE id = ?",
            [(len(path) // _WIDTH_6 - 1, _STEP_8 * rank, id_) for rank, (id_, path) in enumerate(paths, 1)],
        )
        done += len(paths)
    if done == 0:
        for sql in (
            "DROP INDEX articles_unordered",
            "DROP INDEX articles_tree",
            "DROP INDEX articles_parent",
            "ALTER TABLE articles DROP COLUMN path",
            "CREATE UNIQUE INDEX articles_tree ON articles(thread_id, seq)",
            "CREATE INDEX articles_parent ON articles(parent_id, seq)",
        ):
            conn.execute(sql)
    return done


def _newsrc_last(conn: sqlite3.Connection) -> tuple[int, int]:
    """The (user, group) key carried over last: rows go over in key order."""
    row = conn.execute(
        "SELECT user_id, group_id FROM read_marks ORDER BY user_id DESC, group_id DESC LIMIT 1"
    ).fetchone()
    return (row[0], row[1]) if row else (0, 0)


def _newsrc_left(conn: sqlite3.Connection) -> int:
    user_id, group_id = _newsrc_last(conn)
    return int(
        conn.execute(
            "SELECT count(*) FROM newsrc WHERE user_id > ? OR (user_id = ? AND group_id > ?)",
            (user_id, user_id, group_id),
        ).fetchone()[0]
    )


def _newsrc_to_ranges(conn: sqlite3.Connection, limit: int) -> int:
    """Carry the next `limit` high-water marks over as ranges; when none are
    left, drop the old table (in the step's last transaction)."""
    user_id, group_id = _newsrc_last(conn)
    moved = conn.execute(
        "INSERT INTO read_marks (user_id, group_id, ranges, subscribed)"
        " SELECT user_id, group_id, CASE WHEN seen_number <= 0 THEN ''"
        "   WHEN seen_number = 1 THEN '1' ELSE '1-' || seen_number END, 1"
        " FROM newsrc WHERE user_id > ? OR (user_id = ? AND group_id > ?)"
        " ORDER BY user_id, group_id LIMIT ?",
        (user_id, user_id, group_id, limit),
    ).rowcount
    if moved == 0:
        conn.execute("DROP TABLE newsrc")
    return moved


def _loosen_v12(conn: sqlite3.Connection) -> None:
    """Step 12's wider CHECKs: the queue's new reasons, carried proposals."""
    loosen_check(
        conn,
        "queue",
        "CHECK (why IN ('moderated', 'stranger', 'reports'))",
        "CHECK (why IN ('moderated', 'stranger', 'reports', 'new', 'spam', 'repeat', 'unverified'))",
    )
    loosen_check(
        conn,
        "proposals",
        "CHECK (status IN ('open', 'created'))",
        "CHECK (status IN ('open', 'created', 'carried'))",
    )


def loosen_check(conn: sqlite3.Connection, table: str, old: str, new: str) -> None:
    """Replace the CHECK constraint text `old` of `table` by `new`, which must
    accept every value `old` did, in place: SQLite's documented way for a
    constraint that allows more (https://sqlite.org/lang_altertable.html,
    "making other kinds of table schema changes"), which rewrites no row and
    keeps the foreign keys that point at the table (a rebuild would not).
    Bumps the schema cookie, so every connection reads the new text; in the
    step's transaction, checked with the table's quick_check (RuntimeError otherwise)."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if sql is None or sql[0].count(old) != 1:
        raise RuntimeError(f"{table} has not exactly one {old!r}")
    cookie = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    try:
        conn.execute(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (sql[0].replace(old, new), table),
        )
        conn.execute(f"PRAGMA schema_version = {int(cookie) + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = RESET")
    if conn.execute(f"PRAGMA quick_check({table})").fetchone()[0] != "ok":  # that table only
        raise RuntimeError(f"{table}'s schema did not take the new CHECK")


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def newer_message(path: str, version: int, known: int = SCHEMA_VERSION) -> str:
    return (
        f"{path} has schema version {version}, newer than this Moot knows ({known}): a newer "
        "Moot upgraded it. Refusing to write to it; run that newer Moot, or restore a backup "
        "taken before the upgrade."
    )


def statements(script: str) -> Iterator[str]:
    """The complete SQL statements of `script`, in order (triggers stay whole)."""
    pending = ""
    for part in script.split(";")[:-1]:
        pending += part + ";"
        if sqlite3.complete_statement(pending):  # not inside a string or a trigger body
            yield pending.strip()
            pending = ""
    rest = pending + script.split(";")[-1]
    if re.sub(r"--[^\n]*", "", rest).strip():
        raise ValueError(f"SQL script ends in an incomplete statement: {rest.strip()[:80]!r}")


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def file_stamp() -> str:
    """The UTC time as it goes into a backup's file name: 20261201T223000Z."""
    return clock.now().replace("-", "").replace(":", "")[:15] + "Z"


def backup_path(path: str, version: int) -> Path:
    return Path(f"{path}.v{version}-{file_stamp()}.backup")


def copy_database(source: sqlite3.Connection, target: Path) -> Path:
    """A consistent copy of `source`'s database at `target`, written to a
    temporary name first so a half-written copy never carries the real name."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    dest = sqlite3.connect(partial)
    try:
        # All pages in one step: one read transaction, so the copy is one
        # consistent state even while other processes keep writing (WAL).
        source.backup(dest, pages=-1)
    finally:
        dest.close()
    partial.replace(target)
    return target


def upgrade(
    path: str,
    *,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    target: int = SCHEMA_VERSION,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Bring the database at `path` to `target` (see the module's contract);
    returns the version it had before."""
    say = progress or log.info
    conn = connect(path)
    try:
        version = schema_version(conn)
        if version > target:
            raise SchemaNewer(newer_message(path, version, target))
        if version == target:
            return version
        if version == 0:
            _create(conn, path, target)
            return 0
        _step_all(conn, path, version, migrations, target, say, batch_rows)
        return version
    finally:
        conn.close()


def _create(conn: sqlite3.Connection, path: str, target: int) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if schema_version(conn) != 0:  # another process initialised it meanwhile
            conn.execute("ROLLBACK")
            return
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise NotMoot(f"{path} holds tables but no Moot schema version; refusing to touch it")
        for sql in statements(SCHEMA_PATH.read_text(encoding="utf-8")):
            conn.execute(sql)
        now = clock.now()
        conn.execute(
            "INSERT INTO schema_history (version, name, started_at, finished_at)"
            " VALUES (?, 'schema.sql', ?, ?)",
            (target, now, now),
        )
        conn.execute(f"PRAGMA user_version={int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _step_all(
    conn: sqlite3.Connection,
    path: str,
    version: int,
    migrations: tuple[Migration, ...],
    target: int,
    say: Progress,
    batch_rows: int,
) -> None:
    steps = {m.version: m for m in migrations}
    missing = [v for v in range(version + 1, target + 1) if v not in steps]
    if missing:
        raise RuntimeError(f"no migration step to schema version {missing[0]}")
    backup: Path | None = None
    while version < target:
        step = steps[version + 1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(conn)  # another process may have upgraded meanwhile
            if version > target:
                raise SchemaNewer(newer_message(path, version, target))
            if version == target or version + 1 != step.version:
                conn.execute("ROLLBACK")
                continue
            if backup is None:
                # Taken while this connection holds the write lock, so the copy is
                # exactly the state the steps start from; read through a second
                # connection, as a backup cannot read through one inside a write
                # transaction (it waits for that transaction forever).
                reader = sqlite3.connect(path, timeout=BUSY_TIMEOUT)
                try:
                    backup = copy_database(reader, backup_path(path, version))
                finally:
                    reader.close()
                say(f"backed up {path} (schema version {version}) to {backup}")
            resuming = step.batch is not None and _started(conn, step.version)
            if not resuming:
                say(f"schema version {version} -> {step.version}: {step.name}")
                for sql in statements(step.sql):
                    conn.execute(sql)
                if step.then is not None:
                    step.then(conn)
                conn.execute(
                    "INSERT INTO schema_history (version, name, started_at, backup) VALUES (?, ?, ?, ?)",
                    (step.version, step.name, clock.now(), str(backup)),
                )
            if step.batch is None:
                _finish(conn, step)
                conn.execute("COMMIT")
                version = step.version
                continue
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        _run_batches(conn, step, say, batch_rows)
        version = step.version


def _started(conn: sqlite3.Connection, version: int) -> bool:
    row = conn.execute("SELECT finished_at FROM schema_history WHERE version = ?", (version,)).fetchone()
    return row is not None


def _finish(conn: sqlite3.Connection, step: Migration) -> None:
    conn.execute("UPDATE schema_history SET finished_at = ? WHERE version = ?", (clock.now(), step.version))
    conn.execute(f"PRAGMA user_version={int(step.version)}")


def _run_batches(conn: sqlite3.Connection, step: Migration, say: Progress, batch_rows: int) -> None:
    assert step.batch is not None
    total = step.remaining(conn) if step.remaining else None
    done = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            changed = step.batch(conn, batch_rows)
            if changed == 0:
                _finish(conn, step)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if changed == 0:
            say(f"schema version {step.version} ({step.name}): done, {done} rows")
            return
        done += changed
        say(
            f"schema version {step.version} ({step.name}): {done}"
            + (f"/{total} rows" if total is not None else " rows")
        )


def history(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every recorded step, oldest first (empty before schema version 2)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_history'").fetchone():
        return []
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM schema_history ORDER BY version").fetchall()
    finally:
        conn.row_factory = None
