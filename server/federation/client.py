"""The one HTTP client for remote fediverse servers: signed fetches of actors
and objects, signed deliveries to inboxes, and the cache of remote actors.

Every request goes to an address checked after resolving the name: no
private, loopback, link-local, multicast, reserved or unspecified address
(IPv4-mapped ones included) and https only, unless
MOOT_FEDERATION_ALLOW_PRIVATE is on (tests); redirects (at most
REDIRECTS_MAX) are checked the same way at each hop; a name's checked
addresses are reused for RESOLVED_TTL. HTTP/1.1 is spoken by
h11 over asyncio streams, so the socket is the one connected to the checked
address. Timeouts: CONNECT_TIMEOUT to connect, REQUEST_TIMEOUT for one
whole exchange; a body past BODY_MAX is refused before it is parsed, and
JSON nesting is bounded (store/validate.py json_object).

Connections are kept open between requests (a fan-out sends hundreds to one
server): after a response read to its end, on a connection the server did
not ask to close, the connection waits in a pool keyed by the checked
address, the port and the TLS server name, for at most IDLE_TIMEOUT, and a
later request whose host resolves (and is checked) to that address takes it
instead of connecting. At most POOL_PER_KEY idle connections per key and
POOL_MAX in all; any error closes a connection instead. A kept connection
that the server closed while it was idle fails before any answer arrives:
the request is then sent again once on a new connection."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import SplitResult, urljoin, urlsplit

import h11
from cryptography.hazmat.primitives import serialization

from ..store import clock, validate
from ..store.config import Config
from ..store.db import Database, fetch_one
from ..store.errors import Invalid, MootError
from . import keys, objects, signatures

CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 15.0
BODY_MAX = 1024 * 1024
REDIRECTS_MAX = 3
# Idle connections kept: per (address, port, TLS server name), in all, and for how long.
POOL_PER_KEY = 16
POOL_MAX = 128
IDLE_TIMEOUT = 20.0
# A name's checked addresses are reused this long (seconds), for at most RESOLVED_MAX names.
RESOLVED_TTL = 30.0
RESOLVED_MAX = 1024
# A remote actor as fetched is believed this long; then it is fetched again.
ACTOR_TTL = timedelta(days=1)
NAME_MAX = 100
USERNAME_MAX = 64
URL_MAX = 2048
PEM_MAX = 8192
JSON_TYPES = ("application/activity+json", "application/ld+json", "application/json")
ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
CONTENT_TYPE = "application/activity+json"
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_JOINERS = re.compile("[\u200c\u200d]")


class FetchError(MootError):
    """A remote server could not be reached, refused, or answered with
    something unusable: the message says which."""

    status, code = 502, "fetch_failed"


@dataclass(frozen=True)
class RemoteActor:
    uri: str  # the actor's id
    host: str  # its host, lower case, IDN in punycode
    inbox: str
    shared_inbox: str | None
    key_id: str
    public_pem: str
    handle: str  # preferredUsername@host, cleaned
    name: str  # its display name (or preferredUsername), cleaned and bounded
    url: str | None  # its profile page


class _Unanswered(FetchError):
    """The connection failed before any byte of an answer arrived."""


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


# (checked address, port, TLS server name or None for plain http)
_Key = tuple[str, int, str | None]


@dataclass(frozen=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    key: _Key
    reused: bool = False


class _Pool:
    """Idle kept-alive connections, the latest given back taken first."""

    def __init__(self) -> None:
        self._idle: dict[_Key, list[tuple[float, _Connection]]] = {}
        self._count = 0

    def take(self, key: _Key) -> _Connection | None:
        """An idle connection for `key` that is still open and not past
        IDLE_TIMEOUT (others met on the way are closed), or None."""
        idle = self._idle.get(key, [])
        now = time.monotonic()
        found = None
        while idle and found is None:
            until, connection = idle.pop()
            self._count -= 1
            if until > now and not connection.writer.is_closing() and not connection.reader.at_eof():
                found = _Connection(connection.reader, connection.writer, key, reused=True)
            else:
                connection.writer.close()
        if not idle:
            self._idle.pop(key, None)
        return found

    def give(self, connection: _Connection) -> None:
        """Keep `connection` idle, unless its key or the pool is full: then close it."""
        now = time.monotonic()
        for key in [k for k, idle in self._idle.items() if idle[0][0] <= now]:
            self._drop(key, now)
        idle = self._idle.setdefault(connection.key, [])
        if len(idle) >= POOL_PER_KEY or self._count >= POOL_MAX:
            connection.writer.close()
            return
        idle.append((now + IDLE_TIMEOUT, connection))
        self._count += 1

    def _drop(self, key: _Key, now: float) -> None:
        """Close `key`'s connections past their time (the oldest are first)."""
        idle = self._idle[key]
        while idle and idle[0][0] <= now:
            idle.pop(0)[1].writer.close()
            self._count -= 1
        if not idle:
            del self._idle[key]

    async def aclose(self) -> None:
        idle, self._idle, self._count = self._idle, {}, 0
        for connections in idle.values():
            for _, connection in connections:
                await _close(connection.writer)


def address_allowed(address: str) -> bool:
    """True when `address` (an IP address as text) is one a public server may
    have: not private, loopback, link-local, multicast, reserved, unspecified
    or shared, also behind an IPv4-mapped IPv6 form."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def ascii_host(host: str) -> str:
    """`host` in lower case with an internationalised name in punycode (IDNA);
    FetchError for a name that cannot be one."""
    try:
        return host.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise FetchError(f"{host!r} is not a valid host name") from None


def clean(text: str, limit: int, *, name: bool = False) -> str:
    """`text` on one line without control, bidi or invisible characters (for
    a `name`, not even joiners), at most `limit` characters: the one
    cleaning of the text remote servers give a name or a subject."""
    text = _CONTROLS.sub(" ", _SURROGATES.sub("", validate.strip_invisible(text)))
    if name:
        text = _JOINERS.sub("", text)
    return " ".join(text.split())[:limit].strip()


class Client:
    """The one client for remote servers. `ca_file` adds a CA to trust (the
    default context honours SSL_CERT_FILE); `exempt` names addresses that may
    be reached although private (a test's own server)."""

    def __init__(
        self, config: Config, db: Database, *, ca_file: str | None = None, exempt: Iterable[str] = ()
    ) -> None:
        self.config, self.db = config, db
        self._ca_file = ca_file
        self._exempt = frozenset(exempt)
        # Per host, the signature scheme that its server last took.
        self._schemes: dict[str, signatures.Scheme] = {}
        # Local actors' private keys (made once, never changed: keys.pair).
        self._keys: dict[str, str] = {}
        self._resolved: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._pool = _Pool()

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        """The TLS context of every connection, made at the first: loading the
        trusted CAs costs tens of milliseconds of CPU, which a site that never
        reaches a remote server over TLS need not spend as it starts."""
        return ssl.create_default_context(cafile=self._ca_file)

    def remembered_scheme(self, host: str) -> signatures.Scheme | None:
        """The scheme a host's server last accepted a signed request in, if any."""
        return self._schemes.get(host)

    async def aclose(self) -> None:
        """Close the idle connections kept open."""
        await self._pool.aclose()

    # --- one exchange -------------------------------------------------------------

    async def _addresses(self, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to, every one checked (FetchError
        when one is refused); a name's checked addresses are reused for
        RESOLVED_TTL, so a fan-out to one server does not ask the resolver
        once per delivery."""
        now = time.monotonic()
        known = self._resolved.get((host, port))
        if known is not None and known[0] > now:
            return known[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise FetchError(f"{host} cannot be resolved: {error}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.config.federation_allow_private:
            refused = [a for a in addresses if a not in self._exempt and not address_allowed(a)]
            if refused:
                raise FetchError(f"{host} resolves to {refused[0]}, a private or reserved address")
        if not addresses:
            raise FetchError(f"{host} has no address")
        if len(self._resolved) >= RESOLVED_MAX:
            self._resolved = {k: v for k, v in self._resolved.items() if v[0] > now}
            if len(self._resolved) >= RESOLVED_MAX:
                self._resolved.clear()
        self._resolved[(host, port)] = (now + RESOLVED_TTL, addresses)
        return addresses

    async def _connect(
        self, addresses: list[str], host: str, port: int, tls: bool, *, kept: bool = True
    ) -> _Connection:
        """An idle connection to one of `addresses` (checked) when `kept`, else a new one."""
        server_name = host if tls else None
        for address in addresses if kept else ():
            idle = self._pool.take((address, port, server_name))
            if idle is not None:
                return idle
        failure: BaseException | None = None
        for address in addresses:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    reader, writer = await asyncio.open_connection(
                        address, port, ssl=self._tls if tls else None, server_hostname=server_name
                    )
                return _Connection(reader, writer, (address, port, server_name))
            except (OSError, TimeoutError) as error:
                failure = error
        raise FetchError(f"cannot connect to {host}:{port}: {failure or 'no address'}")

    async def _exchange(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> _Response:
        """One HTTP/1.1 request and its response, on a connection to a checked
        address: a kept one if there is, sent again once on a new one when a
        kept one turns out closed; kept afterwards when it can be."""
        parts = _split(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and self.config.federation_allow_private):
            raise FetchError(f"{url!r} is not an https address")
        if not parts.hostname:
            raise FetchError(f"{url!r} names no host")
        host = ascii_host(parts.hostname)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise FetchError(f"{url!r} has a bad port") from None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                addresses = await self._addresses(host, port)
                kept = True
                while True:
                    connection = await self._connect(
                        addresses, host, port, parts.scheme == "https", kept=kept
                    )
                    try:
                        response, reusable = await self._speak(connection, method, url, target, headers, body)
                    except _Unanswered:
                        await _close(connection.writer)
                        if not connection.reused:
                            raise
                        kept = False  # closed while idle: once more on a new connection
                        continue
                    except BaseException:
                        await _close(connection.writer)
                        raise
                    if reusable:
                        self._pool.give(connection)
                    else:
                        await _close(connection.writer)
                    return response
        except TimeoutError:
            raise FetchError(f"{url} did not answer within {REQUEST_TIMEOUT:.0f} seconds") from None
        except OSError as error:
            raise FetchError(f"{url}: {error}") from None

    async def _speak(
        self,
        connection: _Connection,
        method: str,
        url: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> tuple[_Response, bool]:
        """The response, and whether the connection may carry another request
        (read to its end, no `Connection: close`, nothing more sent).
        _Unanswered when the connection fails before any answer arrives."""
        reader, writer = connection.reader, connection.writer
        protocol = h11.Connection(h11.CLIENT)
        fields = [("User-Agent", f"Moot (+{self.config.site_url})"), *headers]
        if body or method not in ("GET", "HEAD"):
            fields.append(("Content-Length", str(len(body))))
        received = 0
        try:
            writer.write(protocol.send(h11.Request(method=method, target=target, headers=fields)))
            if body:
                writer.write(protocol.send(h11.Data(data=body)))
            writer.write(protocol.send(h11.EndOfMessage()))
            await writer.drain()
            response: h11.Response | None = None
            chunks: list[bytes] = []
            size = 0
            while True:
                event = protocol.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    received += len(data)
                    protocol.receive_data(data)
                elif isinstance(event, h11.Response):
                    response = event
                    declared = dict(event.headers).get(b"content-length", b"0")
                    if declared.isdigit() and int(declared) > BODY_MAX:
                        raise FetchError(f"{url} answered with more than {BODY_MAX} bytes")
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > BODY_MAX:
                        raise FetchError(f"{url} answered with more than {BODY_MAX} bytes")
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
        except (h11.ProtocolError, ValueError, OSError) as error:
            if not received:
                raise _Unanswered(f"{url} closed the connection without an answer ({error})") from None
            if isinstance(error, OSError):
                raise
            raise FetchError(f"{url} answered with a malformed response: {error}") from None
        if response is None:
            raise _Unanswered(f"{url} closed the connection without an answer")
        answer = {name.decode("latin-1"): value.decode("latin-1") for name, value in response.headers}
        reusable = (
            protocol.our_state is h11.DONE
            and protocol.their_state is h11.DONE
            and not protocol.trailing_data[0]
        )
        return _Response(response.status_code, answer, b"".join(chunks)), reusable

    # --- signed requests ----------------------------------------------------------

    async def _signed(
        self, method: str, url: str, body: bytes, *, signer: str, headers: list[tuple[str, str]]
    ) -> _Response:
        """`method` on `url` signed by local actor `signer`, knocking twice: in
        the scheme the host last took (first RFC 9421), then, on 400 or 401,
        in the other; the scheme that got a success is remembered."""
        private_pem = self._keys.get(signer)
        if private_pem is None:
            private_pem = self._keys[signer] = (await keys.pair(self.db, signer))[0]
        key_id = objects.key_id(self.config.site_url, signer)
        host = (_split(url).hostname or "").lower()
        first = self._schemes.get(host, "rfc9421")
        response = None
        for scheme in (first, "cavage" if first == "rfc9421" else "rfc9421"):
            added = signatures.sign(
                method, url, dict(headers), body, key_id=key_id, private_pem=private_pem, scheme=scheme
            )
            response = await self._exchange(method, url, [*headers, *added.items()], body)
            if 200 <= response.status < 300 or 300 <= response.status < 400:
                self._schemes[host] = scheme
            if response.status not in (400, 401):
                break
        assert response is not None
        return response

    async def get_json(self, url: str) -> dict:
        """The JSON object at `url`, fetched with a GET signed by the instance
        actor (Authorized Fetch), following at most REDIRECTS_MAX redirects,
        each to a checked address. FetchError when it cannot be reached, does
        not answer 200, is not ActivityPub JSON (activity+json, ld+json or
        json), is larger than BODY_MAX or nests too deep."""
        for _ in range(REDIRECTS_MAX + 1):
            response = await self._signed("GET", url, b"", signer="instance", headers=[("Accept", ACCEPT)])
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"{url} redirects without saying where")
                try:
                    url = urljoin(url, location)
                except ValueError:
                    raise FetchError(f"{url} redirects to a malformed address") from None
                continue
            break
        else:
            raise FetchError(f"more than {REDIRECTS_MAX} redirects")
        if response.status != 200:
            raise FetchError(f"{url} answered {response.status}", remote_status=response.status)
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in JSON_TYPES:
            raise FetchError(f"{url} answered {media_type or 'no content type'}, not ActivityPub JSON")
        try:
            return validate.json_object(response.body, f"the document at {url}")
        except Invalid as error:
            raise FetchError(error.message) from None

    async def post(self, inbox: str, body: bytes, *, signer: str) -> int:
        """POST activity `body` to `inbox`, signed by local actor `signer`
        (double knock, see _signed); the final HTTP status. No redirect is
        followed. FetchError when the inbox cannot be reached."""
        headers = [("Content-Type", CONTENT_TYPE), ("Accept", ACCEPT)]
        return (await self._signed("POST", inbox, body, signer=signer, headers=headers)).status

    # --- remote actors ------------------------------------------------------------

    async def actor(self, uri: str, *, refresh: bool = False) -> RemoteActor:
        """Remote actor `uri`, from the cache (ap_actors) while younger than
        ACTOR_TTL, else fetched: the document's id must be `uri`, its key's
        owner the actor, its key and inboxes on the actor's host."""
        if not refresh:
            cached = await self._cached("uri", uri)
            if cached is not None:
                return cached
        remote = self._read_actor(uri, await self.get_json(uri), None)
        await self._store(remote)
        return remote

    async def actor_of_key(self, key_id: str, *, refresh: bool = False) -> RemoteActor:
        """The remote actor whose key is `key_id`: from the cache, else the key
        id (without its fragment) is fetched, which is the actor's document
        (Mastodon: ACTOR#main-key) or a key naming its owner, whose document
        is fetched; either way the actor's document must list that key."""
        if not refresh:
            cached = await self._cached("key_id", key_id)
            if cached is not None:
                return cached
        document_url = key_id.split("#", 1)[0]
        document = await self.get_json(document_url)
        owner = document_url
        if "publicKey" not in document and "inbox" not in document:
            named = document.get("owner")
            if not isinstance(named, str) or document.get("id") not in (key_id, document_url):
                raise FetchError(f"the key {key_id} names no owner")
            owner = named
            if ascii_host(_split(owner).hostname or "") != ascii_host(_split(key_id).hostname or ""):
                raise FetchError(f"the key {key_id} is owned by an actor on another host")
            document = await self.get_json(owner)
        remote = self._read_actor(owner, document, key_id)
        await self._store(remote)
        return remote

    async def _cached(self, column: str, value: str) -> RemoteActor | None:
        async with self.db.read() as conn:
            row = await fetch_one(
                conn,
                f"SELECT uri, host, inbox, shared_inbox, key_id, public_pem, handle, name, url"
                f" FROM ap_actors WHERE {column} = ? AND fetched_at > ?",
                (value, clock.ago(seconds=ACTOR_TTL.total_seconds())),
            )
        return None if row is None else RemoteActor(*row)

    async def _store(self, remote: RemoteActor) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO ap_actors (uri, host, inbox, shared_inbox, key_id, public_pem, handle, name, url,"
                " fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uri) DO UPDATE SET"
                " host = excluded.host, inbox = excluded.inbox, shared_inbox = excluded.shared_inbox,"
                " key_id = excluded.key_id, public_pem = excluded.public_pem, handle = excluded.handle,"
                " name = excluded.name, url = excluded.url, fetched_at = excluded.fetched_at",
                (
                    remote.uri,
                    remote.host,
                    remote.inbox,
                    remote.shared_inbox,
                    remote.key_id,
                    remote.public_pem,
                    remote.handle,
                    remote.name,
                    remote.url,
                    clock.now(),
                ),
            )

    def _read_actor(self, uri: str, document: dict, key_id: str | None) -> RemoteActor:
        """The RemoteActor in `document`, fetched from `uri`; with `key_id`, the
        key must be that one. FetchError for anything that does not hold."""
        if document.get("id") != uri:
            raise FetchError(f"the document at {uri} is of another id ({str(document.get('id'))[:200]!r})")
        host = ascii_host(urlsplit(uri).hostname or "")
        if not host:
            raise FetchError(f"{uri!r} names no host")
        inbox = self._url_on(host, document.get("inbox"))
        if inbox is None:
            raise FetchError(f"the actor {uri} has no inbox on its own host")
        endpoints = document.get("endpoints")
        shared = self._url_on(host, endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else None
        published = document.get("publicKey")
        candidates = published if isinstance(published, list) else [published]
        key = next(
            (
                k
                for k in candidates
                if isinstance(k, dict)
                and k.get("owner") == uri
                and isinstance(k.get("id"), str)
                and (k["id"] == key_id if key_id is not None else True)
                and isinstance(k.get("publicKeyPem"), str)
            ),
            None,
        )
        if key is None:
            which = f"the key {key_id}" if key_id else "a key"
            raise FetchError(f"the actor {uri} does not list {which} that it owns")
        if self._url_on(host, key["id"]) is None:
            raise FetchError(f"the key {key['id']} is not on the actor's host")
        pem = key["publicKeyPem"]
        try:
            if len(pem) > PEM_MAX:
                raise ValueError
            serialization.load_pem_public_key(pem.encode("ascii"))
        except (ValueError, UnicodeError, TypeError):
            raise FetchError(f"the key {key['id']} cannot be read") from None
        username = document.get("preferredUsername")
        if isinstance(username, str) and clean(username, USERNAME_MAX, name=True).replace("@", "").replace(
            " ", ""
        ):
            username = clean(username, USERNAME_MAX, name=True).replace("@", "").replace(" ", "")
        else:
            username = clean(urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1], USERNAME_MAX) or "actor"
        name = document.get("name")
        name = clean(name, NAME_MAX) if isinstance(name, str) else ""
        return RemoteActor(
            uri=uri,
            host=host,
            inbox=inbox,
            shared_inbox=shared,
            key_id=key["id"],
            public_pem=pem,
            handle=f"{username}@{host}",
            name=name or username,
            url=self._profile_url(document.get("url")),
        )

    def _url_on(self, host: str, value: object) -> str | None:
        """`value` when it is an https URL (http too when private addresses are
        allowed) on `host`, else None."""
        if not isinstance(value, str) or len(value) > URL_MAX:
            return None
        schemes = ("https", "http") if self.config.federation_allow_private else ("https",)
        try:
            parts = _split(value)
            same = parts.scheme in schemes and ascii_host(parts.hostname or "") == host
        except FetchError:
            return None
        return value if same else None

    def _profile_url(self, value: object) -> str | None:
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict):
            value = value.get("href")
        if (
            isinstance(value, str)
            and len(value) <= URL_MAX
            and value.lower().startswith(("https://", "http://"))
            and clean(value, URL_MAX) == value
        ):
            return value
        return None


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


def _split(url: str) -> SplitResult:
    """`url` in its parts, its host and port parsed; FetchError for a malformed one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed for its checks only
    except ValueError:
        raise FetchError(f"{url[:200]!r} is not a URL") from None
    return parts
