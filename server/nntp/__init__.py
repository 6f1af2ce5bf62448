"""The NNTP adapter (RFC 3977 reader, RFC 4643 AUTHINFO): a sans-I/O session
over the domain layer and thin asyncio glue. Imports no web framework."""

from .server import NewsServer, start, stop

__all__ = ["NewsServer", "start", "stop"]
