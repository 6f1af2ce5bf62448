"""What a run of commits wrote, read from the write-ahead log itself: frames
(one page each), commits, and the pages a checkpoint copies into the
database file. For the write-path benchmark and its test.

The WAL (https://sqlite.org/fileformat2.html#walformat) is a 32-byte header
(page size at offset 8, the two salts at 16) and frames of a 24-byte header
(page number, then the database size in pages on a commit's last frame, 0
otherwise; then the salts) and one page. A frame belongs to the current log
when its salts are the header's. Nothing is counted twice and nothing is
missed as long as no checkpoint restarts the log during the run: hold a read
transaction open from before it (`held_snapshot`), and a checkpoint cannot
copy past it, so the log only grows."""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

HEADER = 32
FRAME_HEADER = 24
# SQLite's default wal_autocheckpoint: a commit that leaves this many frames
# in the log runs a (passive) checkpoint.
AUTOCHECKPOINT = 1000


@dataclass(frozen=True)
class Frames:
    page_size: int
    pages: tuple[int, ...]  # the page number of each frame, in log order
    commits: tuple[int, ...]  # index (into pages) just past each commit's last frame

    def checkpoint_pages(self, every: int = AUTOCHECKPOINT) -> int:
        """Pages the checkpoints of these frames write to the database file,
        with a checkpoint after the first commit that leaves `every` frames
        or more since the last (SQLite's autocheckpoint) and one at the end:
        each checkpoint writes each page it finds in its frames once."""
        total, start = 0, 0
        for end in self.commits:
            if end - start >= every:
                total += len(set(self.pages[start:end]))
                start = end
        return total + len(set(self.pages[start : self.commits[-1] if self.commits else 0]))

    @property
    def bytes_logged(self) -> int:
        return len(self.pages) * (FRAME_HEADER + self.page_size)


def read(path: str, start: int = 0) -> Frames:
    """The frames of the WAL at `path` from frame `start` (0: the first) to the
    last committed one; an empty log has none."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    if len(data) < HEADER:
        return Frames(4096, (), ())
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    pages: list[int] = []
    commits: list[int] = []
    offset = HEADER + start * (FRAME_HEADER + page_size)
    while offset + FRAME_HEADER + page_size <= len(data):
        page, size = struct.unpack(">II", data[offset : offset + 8])
        if data[offset + 8 : offset + 16] != salts:
            break  # left over from before the log's last restart
        pages.append(page)
        if size:
            commits.append(len(pages))
        offset += FRAME_HEADER + page_size
    last = commits[-1] if commits else 0
    return Frames(page_size, tuple(pages[:last]), tuple(commits))


@contextmanager
def held_snapshot(path: str) -> Iterator[int]:
    """Empty the log (a TRUNCATE checkpoint), then hold a read transaction on
    the database for the block, so no checkpoint restarts the log under it:
    every frame written meanwhile stays, in order, for `read`. Yields the
    frame count the log starts from (0 unless the truncation was refused)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()
        yield len(read(path + "-wal").pages)
        conn.execute("COMMIT")
    finally:
        conn.close()
