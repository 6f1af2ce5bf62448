"""`moot backup` and `moot restore`: consistent copies of a live database.

A backup is taken with SQLite's online backup API in one read transaction:
writers go on meanwhile (WAL), and the copy is one committed state. It is
checked (server/store/check.py) before it is reported done. A restore checks the
backup first, refuses while any process has the database open, keeps the
database it replaces beside it, and writes the backup in through SQLite, so
the WAL and shared-memory files stay consistent with the restored file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from . import check, migrate
from .errors import Conflict, Invalid


def backup(path: str, target: str) -> check.Report:
    """Copy the database at `path` to `target` (replaced if it exists) and
    return the copy's check report."""
    if not Path(path).exists():
        raise Invalid(f"{path} does not exist")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=migrate.BUSY_TIMEOUT)
    try:
        migrate.copy_database(source, Path(target))
    finally:
        source.close()
    return check.check(target)


def verify_backup(backup_path: str) -> check.Report:
    """The backup's check report; Invalid if it is no Moot database this code can run."""
    if not Path(backup_path).is_file():
        raise Invalid(f"{backup_path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
        try:
            version = migrate.schema_version(conn)
            has_articles = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise Invalid(f"{backup_path} is not a SQLite database ({error})") from None
    if version == 0 or not has_articles:
        raise Invalid(f"{backup_path} is not a Moot database")
    if version > migrate.SCHEMA_VERSION:
        raise Invalid(migrate.newer_message(backup_path, version))
    report = check.check(backup_path)
    # An older backup is fine: the next start-up (or `moot migrate`) upgrades it.
    report.problems = [p for p in report.problems if not p.startswith("schema version")]
    return report


def restore(backup_path: str, path: str) -> Path | None:
    """Replace the database at `path` with the checked backup; returns where
    the replaced database was kept (None if there was none). Conflict if a
    process has the database open (stop `moot serve` first)."""
    report = verify_backup(backup_path)
    if not report.ok:
        raise Invalid(f"{backup_path} fails its check; not restored:\n{report.text()}")
    target = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        try:
            # Leaving WAL needs every other connection closed: the test that no
            # server (or other command) has the database open. The backup below
            # follows at once and takes the file's exclusive lock for its one step.
            target.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:
            raise Conflict(
                f"{path} is open in another process (is `moot serve` running?); stop it, then restore"
            ) from None
        kept = None
        if target.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            kept = migrate.copy_database(target, Path(f"{path}.pre-restore-{migrate.file_stamp()}.backup"))
        source = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
        try:
            source.backup(target, pages=-1)
        finally:
            source.close()
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
    return kept
