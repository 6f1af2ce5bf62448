"""Tree-order keys for articles inside a thread (pure functions).

An article's path is its parent's path plus one fixed-width base-36 component
(normally its own id, so siblings sort oldest first). Ordering a thread by
path lists it depth-first, and the sub-tree under an article is exactly the
contiguous range [path, path + '~'), which an index on (thread_id, path)
reads without scanning the rest of the thread. A split rebases that range;
a merge prefixes it; both touch only the rows that move."""

from __future__ import annotations

import re

from .errors import Invalid

WIDTH = 8  # 36**8 ≈ 2.8e12 distinct ids per level
# Threads are at most this many levels deep (the root is depth 0). A reply
# under the deepest level attaches to the level above instead (see anchor):
# every level adds WIDTH characters to each descendant's path, so depth costs
# storage quadratically, and cursors are paths of at most 4,096 levels.
MAX_DEPTH = 1000
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_PATH = re.compile(rf"(?:[0-9a-z]{{{WIDTH}}}){{1,4096}}\Z")
END = "~"  # sorts after every digit: [path, path + END) is the sub-tree


def component(article_id: int) -> str:
    if article_id < 0 or article_id >= 36**WIDTH:
        raise ValueError("article id out of range for a path component")
    out = []
    for _ in range(WIDTH):
        article_id, digit = divmod(article_id, 36)
        out.append(_DIGITS[digit])
    return "".join(reversed(out))


def child(parent_path: str, article_id: int) -> str:
    return parent_path + component(article_id)


def depth(path: str) -> int:
    return len(path) // WIDTH - 1


def anchor(parent_path: str) -> str | None:
    """The path of the article a reply under `parent_path` attaches to when
    the parent is already at the deepest level (its ancestor one level up,
    so the reply lands at depth MAX_DEPTH - 1); None when the parent takes it."""
    if depth(parent_path) < MAX_DEPTH - 1:
        return None
    return parent_path[: (MAX_DEPTH - 1) * WIDTH]


def subtree_end(path: str) -> str:
    return path + END


def rebase(path: str, old_prefix: str, new_prefix: str) -> str:
    """Move `path` from under `old_prefix` to under `new_prefix`."""
    assert path.startswith(old_prefix)
    return new_prefix + path[len(old_prefix) :]


def parse_cursor(value: object) -> str | None:
    """A tree-order cursor is the path of the last article on the previous page."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _PATH.match(value):
        raise Invalid("cursor is not one this server issued")
    return value
