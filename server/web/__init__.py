"""The HTTP adapter: JSON API, HTML pages and the /live WebSocket, cut by
feature. Each feature module holds its JSON routes and its pages side by
side and calls the same domain functions; `routes()` gathers them."""

from __future__ import annotations

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.templating import Jinja2Templates

from . import accounts, archive, exports, live, mail, moderation, ops, posting, proposals, reading, search
from .rendering import static_mounts

FEATURES = (accounts, reading, posting, moderation, proposals, archive, search, exports, mail, ops)


def routes(templates: Jinja2Templates) -> list[BaseRoute]:
    """Every HTTP and WebSocket route; static files under the version `templates` link to."""
    static = static_mounts(str(templates.env.globals["static_version"]))
    return [*static, *(route for feature in FEATURES for route in feature.routes),
            WebSocketRoute("/live", live.endpoint)]
