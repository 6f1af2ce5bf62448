"""The HTTP adapter: JSON API, HTML pages and the /live WebSocket, cut by
feature. Each feature module holds its JSON routes and its pages side by
side and calls the same domain functions; `routes()` gathers them. The
fediverse's routes (`federation.py`) are there only while federation is on,
so that its modules and their cryptography load only then."""

from __future__ import annotations

from types import ModuleType

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.templating import Jinja2Templates

from . import (
    accounts,
    archive,
    drafts,
    exports,
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
)


def routes(templates: Jinja2Templates, *, fediverse: bool = False) -> list[BaseRoute]:
    """Every HTTP and WebSocket route, the fediverse's with `fediverse`;
    static files under the version `templates` link to."""
    static = static_mounts(str(templates.env.globals["static_version"]))
    features: tuple[ModuleType, ...] = FEATURES
    if fediverse:
        from . import federation

        features = (*FEATURES, federation)
    return [
        *static,
        *(route for feature in features for route in feature.routes),
        WebSocketRoute("/live", live.endpoint),
    ]
