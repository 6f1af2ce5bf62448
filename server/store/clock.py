"""Time as Moot stores it: RFC 3339 UTC text of fixed width with milliseconds
('2026-11-21T10:00:00.123Z'), so text order is time order."""

import time
from datetime import UTC, datetime, timedelta

# The stamp of the current second, up to its '.': (the second, its text). A
# tuple, replaced whole, so a thread never pairs one second with another's text.
_second: tuple[int, str] = (-1, "")


def now() -> str:
    """The stored stamp of this moment (milliseconds truncated, as `stamp`
    does); a write stamps several rows, so the second's text is kept."""
    global _second
    moment = time.time()
    whole = int(moment)
    second = _second
    if second[0] != whole:
        second = _second = (whole, datetime.fromtimestamp(whole, UTC).isoformat()[:19])
    return f"{second[1]}.{int((moment - whole) * 1000):03d}Z"


def stamp(moment: datetime) -> str:
    """Normalise a datetime to Moot's stored form (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # isoformat ends '+00:00' in UTC; a few times faster than strftime
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse(text: str) -> datetime:
    """The datetime of a stored stamp; ValueError for text of any other form."""
    if len(text) != 24 or text[10] != "T" or text[19] != "." or text[23] != "Z":
        raise ValueError(f"not a stored time: {text!r}")
    # fromisoformat is ~40 times faster than strptime, and the shape is checked above
    return datetime.fromisoformat(text)


def ago(**delta: float) -> str:
    return stamp(datetime.now(UTC) - timedelta(**delta))


def later(**delta: float) -> str:
    return stamp(datetime.now(UTC) + timedelta(**delta))
