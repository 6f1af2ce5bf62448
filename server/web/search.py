"""Full-text search over HTTP: ranked results as JSON and as a page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..articles import indexing, search
from ..store.errors import Invalid
from .common import page, query_string, site_of
from .rendering import snippet_html

RESULTS_PAGE = 25


async def search_articles(request: Request) -> Response:
    q = request.query_params
    query = search.with_params(
        search.parse(q.get("q", "")),
        group=q.get("group"),
        author=q.get("author"),
        after=q.get("after"),
        before=q.get("before"),
        state=q.get("state"),
    )
    db = site_of(request).db
    await indexing.catch_up(db)  # every acknowledged article is found
    async with db.read() as conn:
        found = await search.search(
            conn, query, limit=q.get("limit"), cursor=q.get("cursor"), sort=q.get("sort")
        )
    return JSONResponse(found)


async def search_page(request: Request) -> Response:
    """The search form with its syntax explained, and results grouped by thread
    with their count; a bad query is explained above the form (status 400)."""
    q = request.query_params
    text = q.get("q", "").strip()
    fields = {
        name: q.get(name, "").strip()[: search.QUERY_MAX]
        for name in ("group", "author", "after", "before", "state")
    }
    sort = q.get("sort", "")
    results: list[dict] = []
    threads: list[dict] = []
    next_cursor, total, error, order = None, None, None, None
    if text or any(fields.values()):
        try:
            query = search.with_params(search.parse(text), **{k: v or None for k, v in fields.items()})
            if query == search.Query():  # typed, but nothing in it to search for or filter by
                raise Invalid(
                    (f"“{text}” has" if text else "this search has")
                    + " no word to search for: type a word, a phrase in quotes or a filter"
                )
            db = site_of(request).db
            await indexing.catch_up(db)  # every acknowledged article is found
            async with db.read() as conn:
                found = await search.search(
                    conn, query, limit=RESULTS_PAGE, cursor=q.get("cursor"), sort=sort
                )
                results, next_cursor, order = found["results"], found.get("next_cursor"), found["order"]
                total = await search.count(conn, query)
                known = await search.threads_of(conn, (r["article"]["thread_id"] for r in results))
        except Invalid as problem:
            error = problem.message
        else:
            by_thread: dict[int, dict] = {}
            for result in results:
                result["snippet"] = snippet_html(result["snippet"])
                tid = result["article"]["thread_id"]
                if tid not in by_thread:
                    row = known.get(tid)
                    by_thread[tid] = {
                        "id": tid,
                        "subject": row["subject"] if row else "",
                        "state": row["state"] if row else "open",
                        "results": [],
                    }
                    threads.append(by_thread[tid])
                by_thread[tid]["results"].append(result)
    response = await page(
        request,
        "search.html",
        {
            "query": text,
            "fields": fields,
            "dates": {k: _day(fields[k]) for k in ("after", "before")},
            "group_filter": fields["group"],
            "threads": threads,
            "results": results,
            "total": total,
            "count_max": search.COUNT_MAX,
            "error": error,
            "sort": sort if sort in ("relevance", "newest") else "",
            "order": order,
            "sorted_by": {s: query_string(q=text, **fields, sort=s) for s in ("relevance", "newest")},
            "more": query_string(q=text, **fields, sort=sort, cursor=next_cursor) if next_cursor else None,
        },
    )
    if error:
        response.status_code = 400
    return response


def _day(value: str) -> str:
    """A date field as a date input shows it: the day its period starts, which
    filters the same (YYYY and YYYY-MM mean their first day); else as given."""
    try:
        return search.parse_date(value, "")[:10] if value else ""
    except Invalid:
        return value


routes = [
    Route("/api/search", search_articles),
    Route("/search", search_page),
]
