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
SCHEMA_VERSION = 3
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
    `remaining(conn)` counts the rows still to do, for the progress report."""

    version: int
    name: str
    sql: str = ""
    batch: Callable[[sqlite3.Connection, int], int] | None = None
    remaining: Callable[[sqlite3.Connection], int] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    # 1 -> 2: a record of upgrades, so an operator (and `moot check`) can tell when
    # each step ran and where the backup taken before it lies.
    Migration(2, "schema_history", sql="""
CREATE TABLE schema_history (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    backup      TEXT
);
"""),
    # 2 -> 3: groups by email: account addresses, mail subscriptions and the mail outbox.
    Migration(3, "mail", sql="""
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
"""),
)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def newer_message(path: str, version: int, known: int = SCHEMA_VERSION) -> str:
    return (f"{path} has schema version {version}, newer than this Moot knows ({known}): a newer "
            "Moot upgraded it. Refusing to write to it; run that newer Moot, or restore a backup "
            "taken before the upgrade.")


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


def upgrade(path: str, *, migrations: tuple[Migration, ...] = MIGRATIONS,
            target: int = SCHEMA_VERSION, progress: Progress | None = None,
            batch_rows: int = BATCH_ROWS) -> int:
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
        conn.execute("INSERT INTO schema_history (version, name, started_at, finished_at)"
                     " VALUES (?, 'schema.sql', ?, ?)", (target, now, now))
        conn.execute(f"PRAGMA user_version={int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _step_all(conn: sqlite3.Connection, path: str, version: int, migrations: tuple[Migration, ...],
              target: int, say: Progress, batch_rows: int) -> None:
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
                conn.execute("INSERT INTO schema_history (version, name, started_at, backup)"
                             " VALUES (?, ?, ?, ?)", (step.version, step.name, clock.now(), str(backup)))
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
        say(f"schema version {step.version} ({step.name}): {done}"
            + (f"/{total} rows" if total is not None else " rows"))


def history(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every recorded step, oldest first (empty before schema version 2)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_history'").fetchone():
        return []
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM schema_history ORDER BY version").fetchall()
    finally:
        conn.row_factory = None
