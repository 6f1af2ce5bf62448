"""Time as Moot stores it: RFC 3339 UTC text of fixed width with milliseconds
('2026-11-21T10:00:00.123Z'), so text order is time order."""

from datetime import datetime, timedelta, timezone


def now() -> str:
    return stamp(datetime.now(timezone.utc))


def stamp(moment: datetime) -> str:
    """Normalise a datetime to Moot's stored form (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def ago(**delta) -> str:
    return stamp(datetime.now(timezone.utc) - timedelta(**delta))


def later(**delta) -> str:
    return stamp(datetime.now(timezone.utc) + timedelta(**delta))
