"""Time as Moot stores it: RFC 3339 UTC text of fixed width with milliseconds
('2026-11-21T10:00:00.123Z'), so text order is time order."""

from datetime import UTC, datetime, timedelta


def now() -> str:
    return stamp(datetime.now(UTC))


def stamp(moment: datetime) -> str:
    """Normalise a datetime to Moot's stored form (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def ago(**delta: float) -> str:
    return stamp(datetime.now(UTC) - timedelta(**delta))


def later(**delta: float) -> str:
    return stamp(datetime.now(UTC) + timedelta(**delta))
