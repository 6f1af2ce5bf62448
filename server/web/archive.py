"""The archive of a group over HTTP: its archived threads, newest activity
first, or by the month they started (JSON and pages)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..articles import groups, months, reading
from ..store import validate
from .common import page, query_string, site_of

GROUP_PAGE = 50


async def group_archive(request: Request) -> Response:
    """Without `year`: the months that have archived threads. With it: those threads."""
    q = request.query_params
    async with site_of(request).db.read() as conn:
        group = await groups.get_group_row(conn, request.path_params["name"])
        if q.get("year") in (None, ""):
            return JSONResponse({"group": group["name"], "periods": await months.periods(conn, group)})
        listing = await months.archived_threads(
            conn, group, q.get("year"), q.get("month"), limit=q.get("limit"), cursor=q.get("cursor")
        )
    return JSONResponse(
        {
            "group": group["name"],
            "year": int(q["year"]),
            "month": int(q["month"]) if q.get("month") else None,
            **listing,
        }
    )


async def archive_page(request: Request) -> Response:
    name = request.path_params["name"]
    year, month = request.path_params.get("year"), request.path_params.get("month")
    cursor = request.query_params.get("cursor")
    period = None
    if year is not None:
        period = (
            validate.integer(year, "year", minimum=1970, maximum=9999),
            validate.integer(month, "month", minimum=1, maximum=12),
        )
    async with site_of(request).db.read() as conn:
        row = await groups.get_group_row(conn, name)
        month_list = await months.periods(conn, row)
        if period is not None:
            listing = await months.archived_threads(
                conn, row, period[0], period[1], limit=GROUP_PAGE, cursor=cursor
            )
        else:
            listing = await reading.list_threads(conn, row, state="archived", limit=GROUP_PAGE, cursor=cursor)
    canonical = f"/g/{name}/archive" + (f"/{period[0]:04d}/{period[1]:02d}" if period else "")
    return await page(
        request,
        "archive.html",
        {
            "group": groups.group_json(row),
            "threads": listing["threads"],
            "months": month_list,
            "period": period,
            "canonical": canonical + query_string(cursor=cursor),
            "older": query_string(cursor=listing["next_cursor"]) if listing["next_cursor"] else None,
            "mbox": _month_mbox(name, period) if period else None,
        },
    )


def _month_mbox(name: str, period: tuple[int, int]) -> str:
    """The group's articles written in the month, as an mbox download."""
    year, month = period  # the archive stops at 9998, so the next month is a date too
    after, before = f"{year:04d}-{month:02d}", f"{year + month // 12:04d}-{month % 12 + 1:02d}"
    return f"/api/groups/{name}/mbox" + query_string(after=after, before=before)


routes = [
    Route("/api/groups/{name}/archive", group_archive),
    Route("/g/{name}/archive", archive_page),
    Route("/g/{name}/archive/{year:int}/{month:int}", archive_page),
]
