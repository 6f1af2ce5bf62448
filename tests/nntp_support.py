"""NNTP test helpers: a Session over a fresh Site, nntplib imported without its
deprecation warning (Python 3.11-3.12 carry it; 3.13 dropped it from the
standard library, where the standard-nntplib package provides it), and a
checker for reply streams."""

from __future__ import annotations

import re
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib  # noqa: F401  (re-exported for the tests)

STATUS = re.compile(rb"[1-5][0-9][0-9] [^\r\n]*\Z")
MULTI_LINE = {100, 101, 215, 220, 221, 222, 224, 225, 230, 231}


def replies(stream: bytes) -> list[tuple[int, list[bytes]]]:
    """Split a reply stream into (code, block lines) and assert it is well formed:
    CRLF lines, each reply a status line, multi-line ones ending in '.'."""
    assert stream == b"" or stream.endswith(b"\r\n"), stream[-80:]
    lines = stream.split(b"\r\n")[:-1]
    out = []
    i = 0
    while i < len(lines):
        status = lines[i]
        assert STATUS.match(status), status
        code = int(status[:3])
        i += 1
        block: list[bytes] = []
        # 211 is multi-line only from LISTGROUP, which says "list follows".
        if code in MULTI_LINE or (code == 211 and status.endswith(b"list follows")):
            while lines[i] != b".":
                assert not lines[i].startswith(b".") or lines[i].startswith(b".."), lines[i]
                block.append(lines[i][1:] if lines[i].startswith(b"..") else lines[i])
                i += 1
            i += 1
        out.append((code, block))
    return out
