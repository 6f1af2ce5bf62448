"""RFC 3977 §4 wildmats as pure functions: NNTP's group patterns and the
group selection of a news peer (`moot peer add --groups`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Patterns one wildmat may hold: each costs a regular-expression match per group.
PATTERNS_MAX = 32


class BadWildmat(ValueError):
    """Text that is not a wildmat."""


@dataclass(frozen=True)
class Wildmat:
    """Comma-separated patterns of `*` and `?`, `!` negating; the last
    pattern that matches decides, and nothing matching means no."""

    patterns: tuple[tuple[bool, re.Pattern], ...]

    def __call__(self, name: str) -> bool:
        for negated, pattern in reversed(self.patterns):
            if pattern.fullmatch(name):
                return not negated
        return False


def parse(text: str) -> Wildmat:
    """The Wildmat `text` spells, or BadWildmat naming the faulty pattern."""
    parts = text.split(",")
    if len(parts) > PATTERNS_MAX:
        raise BadWildmat(f"a wildmat may hold at most {PATTERNS_MAX} patterns")
    out = []
    for part in parts:
        negated = part.startswith("!")
        body = part[1:] if negated else part
        if not body or re.search(r"[\x00-\x20\[\]\\!]", body):
            raise BadWildmat(f"{part[:40]!r} is not a wildmat pattern")
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in body)
        out.append((negated, re.compile(regex, re.S)))
    return Wildmat(tuple(out))
