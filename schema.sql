-- Moot's whole schema. Applied once to an empty database; PRAGMA user_version
-- records the version (server/migrate.py sets it after applying this file, and
-- its numbered steps bring an older database to exactly this schema).
--
-- Times are RFC 3339 UTC text of fixed width ('2026-11-21T10:00:00.123Z'), so
-- text order is time order and the API can return them as they are.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'member'
                  CHECK (role IN ('member', 'moderator', 'admin')),
    created_at    TEXT NOT NULL,
    -- A site-wide suspension (server/stewardship/suspensions.py): until this
    -- time the account reads but does not post, reply, edit, propose or
    -- endorse; NULL when there is none. Its history is the moderation log.
    suspended_until   TEXT,
    suspension_reason TEXT NOT NULL DEFAULT '',
    -- Trust earned by posting (server/stewardship/trust.py) is derived from these,
    -- kept as they change so no post has to count a history. `posts`: the
    -- account's articles published here (an approved submission counts when
    -- it is published); `strike_at`: the last time a moderator removed one of
    -- them or agreed with reports on it; `trust_frozen_at`: set when its posts
    -- were held as spam; it stays 'new' until a moderator approves one.
    posts             INTEGER NOT NULL DEFAULT 0,
    strike_at         TEXT,
    trust_frozen_at   TEXT,
    -- Bumped to revoke every personal reply address of the account's list mail.
    reply_key_generation INTEGER NOT NULL DEFAULT 0
);

-- Server-side sessions: the cookie carries a signed random token; only its
-- SHA-256 is stored, so a leaked database does not leak live sessions.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);

-- Groups belong to no one: there is deliberately no owner column.
CREATE TABLE groups (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL DEFAULT '',
    charter         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'y' CHECK (status IN ('y', 'n', 'm')),
    created_at      TEXT NOT NULL,
    -- High-water mark of NNTP article numbers: only grows, numbers are never reused.
    last_number     INTEGER NOT NULL DEFAULT 0,
    thread_count    INTEGER NOT NULL DEFAULT 0,
    article_count   INTEGER NOT NULL DEFAULT 0,
    last_article_at TEXT,
    -- Archive policy; NULL means the site-wide default from the configuration.
    archive_after_days     INTEGER,
    archive_after_articles INTEGER,
    -- Mail from an address that is no member's: refused with a bounce, or
    -- held for the group's moderators (held_mail).
    stranger_mail TEXT NOT NULL DEFAULT 'bounce' CHECK (stranger_mail IN ('bounce', 'moderate')),
    -- The home node (its Path name) that alone splits, merges and moves in this
    -- group, and undoes those (docs/PEERING.md); NULL: this node.
    home            TEXT,
    -- The sequence number of the group's last structural action: made here when
    -- this node is the home, applied here otherwise.
    action_sequence INTEGER NOT NULL DEFAULT 0,
    -- Whether the group's moderators see each new account's first post here
    -- before anyone else does (the site-wide switch is a setting).
    review_new      INTEGER NOT NULL DEFAULT 0,
    -- 1: a remote Follow of the group (ActivityPub) waits for a moderator's
    -- approval instead of being accepted at once.
    ap_follow_approval INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE threads (
    id              INTEGER PRIMARY KEY,
    group_id        INTEGER NOT NULL REFERENCES groups(id),
    root_article_id INTEGER,
    subject         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'locked', 'archived')),
    article_count   INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    last_article_at TEXT NOT NULL,
    archived_at     TEXT,
    is_reference    INTEGER NOT NULL DEFAULT 0,
    -- Provenance: where a split thread came from, where a merged one went,
    -- and which archived thread a follow-up continues.
    split_from_thread_id     INTEGER REFERENCES threads(id),
    split_from_article_id    INTEGER,
    merged_into_thread_id    INTEGER REFERENCES threads(id),
    continued_from_thread_id INTEGER REFERENCES threads(id)
);
-- The group's thread list, newest activity first, open or archived, keyset-paginated.
CREATE INDEX threads_listing
    ON threads(group_id, (state = 'archived'), last_article_at DESC, id DESC)
    WHERE merged_into_thread_id IS NULL;

-- A group's archive by the month its threads started, and its feed of new threads.
CREATE INDEX threads_by_date
    ON threads(group_id, state, created_at, id) WHERE merged_into_thread_id IS NULL;
CREATE INDEX threads_new
    ON threads(group_id, created_at, id) WHERE merged_into_thread_id IS NULL;

CREATE TABLE articles (
    -- AUTOINCREMENT: an id is never reused, even after its row is deleted
    -- (an undone split removes its notice); the write path reads the next
    -- one from sqlite_sequence (server/articles.py, NEXT_ARTICLE_ID).
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL UNIQUE,
    thread_id   INTEGER NOT NULL REFERENCES threads(id),
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    number      INTEGER NOT NULL,
    parent_id   INTEGER REFERENCES articles(id),
    refs        TEXT NOT NULL DEFAULT '',
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    user_id     INTEGER REFERENCES users(id),
    author_name TEXT NOT NULL,
    -- Address from an imported From header; NULL for local accounts.
    author_addr TEXT,
    created_at  TEXT NOT NULL,
    -- 'ok' visible; 'hidden' pending review after reports (kept, out of the
    -- search index and NNTP until a moderator decides); 'cancelled' withdrawn
    -- or removed; 'notice' a moderation notice. A held submission is no
    -- article yet: it waits in `queue` (server/stewardship/queue.py).
    status      TEXT NOT NULL DEFAULT 'ok'
                CHECK (status IN ('ok', 'hidden', 'cancelled', 'notice')),
    notice      TEXT,
    -- The author's offset from UTC in minutes (east positive) when the article
    -- was written, as an imported Date header gave it; created_at stays UTC,
    -- so text order is still time order. 0 for articles posted here.
    utc_offset  INTEGER NOT NULL DEFAULT 0 CHECK (utc_offset BETWEEN -1439 AND 1439),
    -- When the author last edited it (within the grace period), or NULL.
    edited_at   TEXT,
    -- Its place in the reply tree (server/tree.py): levels below the root
    -- (0 for the root), and the order key inside the thread. Sorting by seq
    -- lists the thread depth-first with siblings oldest first, and a sub-tree
    -- is one contiguous range of keys. Keys are sparse and may be renumbered
    -- (order kept); every insert gives one, the default only served step 8.
    depth       INTEGER NOT NULL DEFAULT 0,
    seq         INTEGER NOT NULL DEFAULT 0,
    -- The Approved header (RFC 5536 3.2.1) of an article in a moderated group:
    -- the moderator who approved it, or who posted it; NULL elsewhere.
    approved    TEXT,
    -- The way it came (authors.CHANNELS); NULL for articles stored before
    -- this was kept, imported ones and moderation notices.
    channel     TEXT
);
CREATE UNIQUE INDEX articles_tree ON articles(thread_id, seq);
CREATE UNIQUE INDEX articles_number ON articles(group_id, number);
-- Children in order: a sub-tree's end is a walk up this index (tree.span).
CREATE INDEX articles_parent ON articles(parent_id, seq);
CREATE INDEX articles_by_date ON articles(group_id, created_at);
CREATE INDEX articles_by_user ON articles(user_id);
-- Search's author:someone@example.org filter on imported articles.
CREATE INDEX articles_by_addr ON articles(author_addr COLLATE NOCASE)
    WHERE author_addr IS NOT NULL;
-- A thread's last activity after articles leave it (split, undo): one index seek.
CREATE INDEX articles_thread_date ON articles(thread_id, created_at);

-- Full-text index over subject, body and author. Maintained by the write path
-- (server/articles/indexing.py): a new article in the writer's next batch
-- (search_indexed), every other change in the same transaction; cancelled text and moderation
-- notices are not indexed.
CREATE VIRTUAL TABLE articles_fts USING fts5(
    subject, body, author_name,
    content = 'articles', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- How far the search index has come (server/articles/indexing.py): every
-- article with an id up to `article_id` is indexed, with its text as stored,
-- when its status is 'ok', and none after it is yet. Posting writes nothing
-- here: the writer indexes the articles beyond the mark in batches, off the
-- acknowledgement path, and moves the mark on. One row.
CREATE TABLE search_indexed (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    article_id INTEGER NOT NULL
);
INSERT INTO search_indexed (id, article_id) VALUES (1, 0);

-- Who follows which thread (carried over to the new thread of a split);
-- `mail` 1: each new article of the thread is mailed to them too.
CREATE TABLE follows (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    thread_id INTEGER NOT NULL REFERENCES threads(id),
    mail      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, thread_id)
) WITHOUT ROWID;
CREATE INDEX follows_by_thread ON follows(thread_id);
-- The thread's followers by mail, for an article's fan-out.
CREATE INDEX follows_by_mail ON follows(thread_id) WHERE mail = 1;

-- The public moderation log. `data` holds what an undo needs.
CREATE TABLE modlog (
    id         INTEGER PRIMARY KEY,
    action     TEXT NOT NULL,
    actor_id   INTEGER REFERENCES users(id),
    group_id   INTEGER REFERENCES groups(id),
    thread_id  INTEGER,
    article_id INTEGER,
    -- The other side of a split, merge or move (new thread; receiving thread; new group).
    other_thread_id INTEGER,
    other_group_id  INTEGER REFERENCES groups(id),
    target     TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    undoes     INTEGER REFERENCES modlog(id),
    undone_by  INTEGER REFERENCES modlog(id)
);
CREATE INDEX modlog_by_group ON modlog(group_id, id);
CREATE INDEX modlog_by_other_group ON modlog(other_group_id, id);

-- Proposals: any member proposes, others endorse, the threshold decides. A
-- proposal creates a group (kind 'group'), or adds or removes a group's
-- moderator (`name` the group, `user_id` the member); it is 'created' or
-- 'carried' once decided. One open proposal per kind, group and member.
CREATE TABLE proposals (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    charter     TEXT NOT NULL DEFAULT '',
    proposer_id INTEGER NOT NULL REFERENCES users(id),
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'created', 'carried', 'withdrawn')),
    created_at  TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'group'
                CHECK (kind IN ('group', 'add_moderator', 'remove_moderator')),
    user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX proposals_open ON proposals(kind, name, coalesce(user_id, 0)) WHERE status = 'open';

CREATE TABLE endorsements (
    proposal_id INTEGER NOT NULL REFERENCES proposals(id),
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (proposal_id, user_id)
) WITHOUT ROWID;

-- Transactional outbox: every change a live client could care about writes a
-- row here in the same transaction. AUTOINCREMENT: ids are never reused, and
-- since writers are serialised, id order is commit order.
-- `topics` is the space-separated routing set ("g:comp.lang.python t:12").
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    group_name TEXT,
    thread_id  INTEGER,
    topics     TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Site settings kept with the data (the generated cookie-signing key).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- What each reader has read, group by group: the article numbers as a
-- .newsrc line keeps them ('1-1048,1050-1060'; server/newsrc.py), the same
-- state for the pages, the API and NNTP.
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

-- Notifications by mail (server/noticemail.py); no row: none. `immediately`
-- queues a mail with each notification; `daily` a summary of the unread ones
-- past `summary_id`, the last notification the previous summary covered.
CREATE TABLE notification_mail (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    mode       TEXT NOT NULL CHECK (mode IN ('immediately', 'daily')),
    summary_id INTEGER NOT NULL DEFAULT 0
);

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
    why         TEXT NOT NULL CHECK (why IN ('moderated', 'stranger', 'reports', 'new', 'spam', 'repeat', 'unverified')),
    channel     TEXT NOT NULL CHECK (channel IN ('web', 'api', 'nntp', 'mail', 'peer', 'fediverse')),
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
    entry_id    INTEGER REFERENCES modlog(id),
    -- What spamd said of it: its score and the rules that fired.
    spam_score  REAL,
    spam_rules  TEXT NOT NULL DEFAULT '',
    -- A post from the fediverse: its actor's id and the activity as received,
    -- so the article it becomes on approval is that actor's.
    actor       TEXT,
    activity    TEXT
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

-- The fediverse (server/federation/): each group an ActivityPub Group actor.
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

-- Instances an admin has blocked: nothing from `host` is taken in, and
-- nothing is delivered to it.
CREATE TABLE ap_blocks (
    host       TEXT PRIMARY KEY,
    reason     TEXT NOT NULL DEFAULT '',
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL
) WITHOUT ROWID;

-- Every schema step this database has had (server/migrate.py): when it ran and
-- where the backup taken before it lies. A database created at the current
-- version has one row, named 'schema.sql'. finished_at is NULL while a step's
-- batched data part is still under way.
CREATE TABLE schema_history (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    backup      TEXT
);

-- News peers (docs/PEERING.md): servers this node exchanges articles with.
-- `password` is a secret shared by both ends (AUTHINFO in both directions),
-- kept as written because this node must also send it; NULL: the peer is
-- recognised by its address. `groups` is an RFC 3977 wildmat.
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

-- The outgoing feed: one row per (peer, article) still to offer, written in the
-- transaction that stores or cancels the article (an outbox, like events).
-- kind 'article': send article_id; 'cancel': a cancel control article for
-- article_id, made here; 'state': a thread state change made here (`control`
-- holds `action message-id reason`, article_id the thread's root); 'control': a received
-- control article, or an x-moot-action made here (docs/PEERING.md), whole in `control`.
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

-- The Path (RFC 5536 §3.1.5) an article arrived with from a peer; an article
-- posted here has none (its Path is this node's name and not-for-mail).
CREATE TABLE article_paths (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id),
    path       TEXT NOT NULL
);

-- Message-IDs of control articles (cancels) received or made here: they are
-- not articles, yet a second copy must be refused like a duplicate article.
CREATE TABLE news_history (
    message_id  TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
) WITHOUT ROWID;

-- The latest thread state change (lock, unlock, archive, unarchive) applied to
-- each thread, named by its root's Message-ID: `Date Message-ID` of the control
-- article; a later one wins, whatever order they arrive in (docs/PEERING.md).
CREATE TABLE thread_state_stamps (
    root_message_id TEXT PRIMARY KEY,
    stamp           TEXT NOT NULL
) WITHOUT ROWID;

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
