"""Read marks as a newsreader keeps them: sets of article numbers written as
sorted, disjoint, non-touching inclusive ranges, exactly the right-hand side
of a `.newsrc` line (`comp.lang.python: 1-1048,1050-1060`).

Pure: no database, no I/O. `Ranges` is a tuple of (low, high) pairs in
canonical form (sorted, low <= high, a gap of at least one number between
neighbours), so two equal sets always have equal values and equal text."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from ..store.errors import Invalid, TooLarge

Ranges = tuple[tuple[int, int], ...]
EMPTY: Ranges = ()
# Article numbers are SQLite integers; RFC 3977 §6 keeps them below 2^31 in
# practice, but nothing here needs that, so only the 63-bit ceiling applies.
MAX_NUMBER = 2**63 - 1
# Ranges one line may hold when it comes from outside (an imported .newsrc):
# far beyond what a reader produces, small enough to parse in milliseconds.
MAX_RANGES = 20000
MAX_LINE = 400_000


def normalise(pairs: Iterable[tuple[int, int]]) -> Ranges:
    """The canonical form of any pairs (overlapping, touching, unsorted)."""
    out: list[list[int]] = []
    for low, high in sorted(p for p in pairs if p[0] <= p[1]):
        if out and low <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], high)
        else:
            out.append([low, high])
    return tuple((low, high) for low, high in out)


def of_numbers(numbers: Iterable[int]) -> Ranges:
    return normalise((n, n) for n in numbers)


def parse(text: object) -> Ranges:
    """`1-5,7,9-12` (spaces allowed, empty for none) as Ranges; raises Invalid."""
    if not isinstance(text, str):
        raise Invalid("read ranges must be text")
    if len(text) > MAX_LINE:
        raise TooLarge(f"read ranges are at most {MAX_LINE} characters")
    text = text.strip()
    if not text:
        return EMPTY
    parts = text.split(",")
    if len(parts) > MAX_RANGES:
        raise TooLarge(f"read ranges hold at most {MAX_RANGES} ranges")
    pairs = []
    for part in parts:
        low_text, dash, high_text = part.strip().partition("-")
        try:
            low = _number(low_text)
            high = _number(high_text) if dash else low
        except ValueError:
            raise Invalid(f"not a read range: {part.strip()[:40]!r}") from None
        if high < low:
            # tin and slrn write nothing like it; reading it as empty loses nothing
            continue
        pairs.append((low, high))
    return normalise(pairs)


def _number(text: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise ValueError(text)
    value = int(text)
    if value > MAX_NUMBER:
        raise ValueError(text)
    return value


def format(ranges: Ranges) -> str:  # noqa: A001 - the module's name for it, as in the .newsrc docs
    """The canonical text: `1-5,7`; empty for no numbers."""
    return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)


def union(a: Ranges, b: Ranges) -> Ranges:
    return normalise((*a, *b))


def add(ranges: Ranges, low: int, high: int) -> Ranges:
    return normalise((*ranges, (low, high)))


def remove(ranges: Ranges, low: int, high: int) -> Ranges:
    """Every number of `ranges` but those in [low, high]."""
    out = []
    for a, b in ranges:
        if b < low or a > high:
            out.append((a, b))
            continue
        if a < low:
            out.append((a, low - 1))
        if b > high:
            out.append((high + 1, b))
    return tuple(out)


def difference(a: Ranges, b: Ranges) -> Ranges:
    for low, high in b:
        a = remove(a, low, high)
    return a


def contains(ranges: Ranges, number: int) -> bool:
    at = bisect.bisect_right(ranges, (number, MAX_NUMBER)) - 1
    return at >= 0 and ranges[at][0] <= number <= ranges[at][1]


def gaps(ranges: Ranges, low: int, high: int) -> Ranges:
    """The numbers of [low, high] that `ranges` leaves out (the unread ones)."""
    return difference(((low, high),) if low <= high else EMPTY, ranges)


def size(ranges: Ranges) -> int:
    """How many numbers the ranges hold."""
    return sum(high - low + 1 for low, high in ranges)


def clip(ranges: Ranges, high: int) -> Ranges:
    """The ranges without numbers above `high` (nothing can be read beyond a
    group's high-water mark; an imported file may claim otherwise)."""
    return remove(ranges, high + 1, MAX_NUMBER) if high < MAX_NUMBER else ranges


# .newsrc lines: `comp.lang.python: 1-1048,1050` (subscribed) or
# `alt.test! 1-10` (not subscribed), as tin, slrn and trn write them.
MAX_LINES = 50000


def parse_line(line: str) -> tuple[str, bool, Ranges] | None:
    """(group name, subscribed, ranges) of one line; None for a blank line or
    an `options` line; raises Invalid for anything else. The name is not
    checked here (the caller knows which groups exist)."""
    text = line.strip()
    if not text or text.startswith("options ") or text.startswith("#"):
        return None
    colon, bang = text.find(":"), text.find("!")
    marks = [i for i in (colon, bang) if i > 0]
    if not marks:
        raise Invalid(f"not a .newsrc line: {text[:60]!r}")
    at = min(marks)
    return text[:at].strip(), text[at] == ":", parse(text[at + 1 :])


def format_line(name: str, subscribed: bool, ranges: Ranges) -> str:
    text = format(ranges)
    return f"{name}{':' if subscribed else '!'}" + (f" {text}" if text else "")
