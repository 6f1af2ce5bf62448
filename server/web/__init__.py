"""The HTTP adapter: JSON API, HTML pages and the /live WebSocket, cut by
feature. Each feature module holds its JSON routes and its pages side by
side and calls the same domain functions; `routes()` gathers them."""

from __future__ import annotations

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.templating import Jinja2Templates

from . import (
    accounts,
    archive,
    drafts,
    exports,
    federation,
    killfiles,
    live,
    mail,
    moderation,
    moderation_forms,
    notifications,
    ops,
    peers,
    people,
    posting,
    proposals,
    queue,
    reading,
    registration,
    search,
    unread,
)
from .rendering import static_mounts

FEATURES = (
    accounts,
    people,
    reading,
    unread,
    notifications,
    killfiles,
    drafts,
    posting,
    moderation,
    moderation_forms,
    proposals,
    archive,
    search,
    exports,
    queue,
    mail,
    ops,
    peers,
    registration,
    federation,
)


def routes(templates: Jinja2Templates) -> list[BaseRoute]:
    """Every HTTP and WebSocket route; static files under the version `templates` link to."""
    static = static_mounts(str(templates.env.globals["static_version"]))
    return [
        *static,
        *(route for feature in FEATURES for route in feature.routes),
        WebSocketRoute("/live", live.endpoint),
    ]
