"""Keyset pagination (never OFFSET): a page is read with one more row than
it shows, and its cursor names the last row shown (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from . import validate
from .errors import Invalid
from .validate import ID_MAX

Row = TypeVar("Row")

# A (timestamp, id) cursor: "2026-11-21T10:00:00.000Z_42". Ids are SQLite
# integers, so at most 2**63 - 1: a longer number is no cursor of ours.
_STAMP_CURSOR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)_(\d{1,19})\Z")


def split_page(rows: Sequence[Row], limit: int) -> tuple[Sequence[Row], bool]:
    """The rows to show (at most `limit`) and whether there are more."""
    return rows[:limit], len(rows) > limit


def stamp_cursor(stamp: str, row_id: int) -> str:
    return f"{stamp}_{row_id}"


def parse_stamp_cursor(cursor: object) -> tuple[str, int] | None:
    """A cursor made by stamp_cursor, or None for no cursor; Invalid (400) otherwise."""
    if cursor in (None, ""):
        return None
    match = _STAMP_CURSOR.match(cursor) if isinstance(cursor, str) else None
    if not match or int(match[2]) > ID_MAX:
        raise Invalid("cursor is not one this server issued")
    return match[1], int(match[2])


def parse_id_cursor(cursor: object) -> int | None:
    """An id cursor (the last id of the previous page), or None for no
    cursor; Invalid (400) otherwise."""
    if cursor in (None, ""):
        return None
    try:
        return validate.integer(cursor, "cursor")
    except Invalid:
        raise Invalid("cursor is not one this server issued") from None
