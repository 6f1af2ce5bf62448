"""Time as Moot stores it: RFC 3339 UTC text of fixed width with milliseconds
('2026-11-21T10:00:00.123Z'), so text order is time order."""

from datetime import UTC, datetime, timedelta


def now() -> str:
    return stamp(datetime.now(UTC))


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
