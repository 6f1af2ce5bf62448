"""The NNTP adapter (RFC 3977 reader and IHAVE, RFC 4643 AUTHINFO, RFC 4644
streaming): a sans-I/O session over the domain layer, thin asyncio glue, and
the outgoing feed to news peers. Imports no web framework."""

from . import feed
from .server import NewsServer, start, stop

__all__ = ["NewsServer", "feed", "start", "stop"]
