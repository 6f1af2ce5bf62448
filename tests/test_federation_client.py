"""The client for remote fediverse servers (server/federation/client.py),
against a real HTTPS server on loopback (uvicorn with a throwaway
certificate): signed fetches, the refusal of private addresses (also after a
redirect), the redirect limit, the size and nesting caps, the remote actor
checks and cache, the double knock with the scheme remembered, and the
connections kept open between requests."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl

import pytest

from moot.federation import client as client_module
from moot.federation import keys, objects, signatures
from moot.federation.client import BODY_MAX, REDIRECTS_MAX, Client, FetchError
from tests import live_support
from tests.tls_support import self_signed

AS = "application/activity+json"


class Peer:
    """A remote server: `routes` maps a path to a function of the request
    (method, path, headers, body) answering (status, headers, body chunks)."""

    def __init__(self):
        self.routes = {}
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.connections: set[tuple[str, int]] = set()  # the client ends of the connections made
        self.clients: list[Client] = []  # closed when the server stops
        self.port = 0

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def __call__(self, scope, receive, send):
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"] + (("?" + scope["query_string"].decode()) if scope["query_string"] else "")
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append((scope["method"], path, headers, body))
        self.connections.add(tuple(scope["client"]))
        route = self.routes.get(scope["path"])
        status, extra, chunks = (
            (404, {}, [b""]) if route is None else await route(scope["method"], path, headers, body)
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in extra.items()],
            }
        )
        for index, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": index < len(chunks) - 1})

    def json(self, path, document, status=200, content_type=AS):
        async def answer(method, target, headers, body):
            return status, {"content-type": content_type}, [json.dumps(document).encode()]

        self.routes[path] = answer

    def redirect(self, path, location, status=302):
        async def answer(method, target, headers, body):
            return status, {"location": location, "content-length": "0"}, [b""]

        self.routes[path] = answer


@pytest.fixture
async def peer(tmp_path):
    cert, key = self_signed(tmp_path, "localhost", "DNS:localhost", "IP:127.0.0.1")
    remote = Peer()
    server, remote.port, task = await live_support.serve(remote, ssl_certfile=cert, ssl_keyfile=key)
    remote.cert, remote.key = cert, key
    yield remote
    for client in remote.clients:
        await client.aclose()
    server.should_exit = True
    await task


@pytest.fixture
async def fed(make_site):
    return await make_site(federation_allow_private=True)


def make_client(site, peer, **options) -> Client:
    client = Client(site.config, site.db, ca_file=peer.cert, **options)
    peer.clients.append(client)
    return client


def actor_document(peer, name="alice", **changes):
    uri = f"{peer.base}/users/{name}"
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": uri,
        "type": "Person",
        "preferredUsername": name,
        "name": name.title(),
        "inbox": f"{uri}/inbox",
        "endpoints": {"sharedInbox": f"{peer.base}/inbox"},
        "url": f"{peer.base}/@{name}",
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": PEER_PUBLIC},
        **changes,
    }


# The remote actor's public key, made as Moot makes its own.
PEER_PUBLIC = keys.new_pair()[1]


async def test_get_json_is_signed_by_the_instance_actor(fed, peer):
    peer.json("/notes/1", {"id": f"{peer.base}/notes/1", "type": "Note"})
    client = make_client(fed, peer)
    assert await client.get_json(f"{peer.base}/notes/1") == {"id": f"{peer.base}/notes/1", "type": "Note"}
    ((method, path, headers, body),) = peer.seen
    assert headers["accept"].startswith(AS)
    assert "signature-input" in headers  # RFC 9421 first
    _, public = await keys.pair(fed.db, "instance")
    assert signatures.verify(method, path, headers, body, public) == objects.key_id(
        fed.config.site_url, "instance"
    )


async def test_private_addresses_are_refused_unless_allowed(make_site, peer):
    site = await make_site()  # federation_allow_private off
    peer.json("/doc", {"id": "x"})
    client = make_client(site, peer)
    for url in (
        f"https://localhost:{peer.port}/doc",  # a name that resolves to 127.0.0.1
        f"https://127.0.0.1:{peer.port}/doc",
        f"https://[::ffff:127.0.0.1]:{peer.port}/doc",
        "https://10.1.2.3/doc",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/doc",
        "https://0.0.0.0/doc",
    ):
        with pytest.raises(FetchError, match="private or reserved address"):
            await client.get_json(url)
    with pytest.raises(FetchError, match="not an https address"):
        await client.get_json(f"http://127.0.0.1:{peer.port}/doc")
    assert peer.seen == []
    assert client_module.address_allowed("93.184.216.34") and client_module.address_allowed("2606:4700::1")
    for address in ("127.0.0.1", "::1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "224.0.0.1"):
        assert not client_module.address_allowed(address), address
    for address in ("::ffff:10.0.0.1", "::", "fc00::1", "ff02::1", "240.0.0.1", "192.0.2.1"):
        assert not client_module.address_allowed(address), address


async def test_each_redirect_is_checked_again(make_site, peer):
    site = await make_site()
    # This server's own address is let through; any other private one is not.
    client = make_client(site, peer, exempt={"127.0.0.1"})
    peer.json("/doc", {"id": "doc"})
    peer.redirect("/moved", "/doc", status=301)
    assert await client.get_json(f"{peer.base}/moved") == {"id": "doc"}
    peer.redirect("/to-private", f"https://127.0.0.2:{peer.port}/doc")
    with pytest.raises(FetchError, match="127.0.0.2, a private or reserved address"):
        await client.get_json(f"{peer.base}/to-private")
    peer.redirect("/to-loopback6", f"https://[::1]:{peer.port}/doc")
    with pytest.raises(FetchError, match="::1, a private or reserved address"):
        await client.get_json(f"{peer.base}/to-loopback6")
    peer.redirect("/to-http", f"http://127.0.0.1:{peer.port}/doc")
    with pytest.raises(FetchError, match="not an https address"):
        await client.get_json(f"{peer.base}/to-http")
    assert [path for _, path, _, _ in peer.seen] == [
        "/moved",
        "/doc",
        "/to-private",
        "/to-loopback6",
        "/to-http",
    ]
    # All on one kept connection to the checked address; none to a refused one.
    assert len(peer.connections) == 1


async def test_redirects_are_limited(fed, peer):
    for hop in range(10):
        peer.redirect(f"/hop{hop}", f"/hop{hop + 1}")
    with pytest.raises(FetchError, match=f"more than {REDIRECTS_MAX} redirects"):
        await make_client(fed, peer).get_json(f"{peer.base}/hop0")
    assert len(peer.seen) == REDIRECTS_MAX + 1


async def test_size_nesting_and_type_are_bounded(fed, peer):
    client = make_client(fed, peer)
    big = b'{"a": "' + b"x" * BODY_MAX + b'"}'

    async def declared(method, target, headers, body):
        return 200, {"content-type": AS, "content-length": str(len(big))}, [big]

    async def chunked(method, target, headers, body):  # no length: the cap counts what arrives
        return 200, {"content-type": AS}, [big[i : i + 65536] for i in range(0, len(big), 65536)]

    peer.routes["/declared"], peer.routes["/chunked"] = declared, chunked
    for path in ("/declared", "/chunked"):
        with pytest.raises(FetchError, match=f"more than {BODY_MAX} bytes"):
            await client.get_json(peer.base + path)
    deep = {"a": 1}
    for _ in range(100):
        deep = {"a": deep}
    peer.json("/deep", deep)
    with pytest.raises(FetchError, match="deeper than"):
        await client.get_json(peer.base + "/deep")
    peer.json("/html", {"a": 1}, content_type="text/html")
    with pytest.raises(FetchError, match="text/html, not ActivityPub JSON"):
        await client.get_json(peer.base + "/html")
    peer.json(
        "/list", [1, 2], content_type='application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    )
    with pytest.raises(FetchError, match="must be a JSON object"):
        await client.get_json(peer.base + "/list")
    peer.json("/gone", {"a": 1}, status=410)
    with pytest.raises(FetchError, match="answered 410"):
        await client.get_json(peer.base + "/gone")
    peer.json("/plain", {"id": "plain"}, content_type="application/json; charset=utf-8")
    assert await client.get_json(peer.base + "/plain") == {"id": "plain"}


async def test_actor_is_checked_cached_and_refreshed(fed, peer):
    client = make_client(fed, peer)
    document = actor_document(peer, name="alice")
    uri = document["id"]
    document["preferredUsername"] = "\u202eali ce\u200b@"
    document["name"] = "Alice \u202eevil\u202c\n\x00" + "x" * 500
    peer.json("/users/alice", document)
    remote = await client.actor(uri)
    assert remote.uri == uri and remote.host == "127.0.0.1" and remote.handle == "alice@127.0.0.1"
    assert remote.name.startswith("Alice evil x") and len(remote.name) == client_module.NAME_MAX
    assert remote.inbox == f"{uri}/inbox" and remote.shared_inbox == f"{peer.base}/inbox"
    assert remote.key_id == f"{uri}#main-key" and remote.public_pem == PEER_PUBLIC
    assert remote.url == f"{peer.base}/@alice"
    assert await client.actor(uri) == remote  # from the cache
    assert await client.actor_of_key(f"{uri}#main-key") == remote
    assert len(peer.seen) == 1
    document["name"] = "Alice Two"
    assert (await client.actor(uri, refresh=True)).name == "Alice Two"
    assert len(peer.seen) == 2
    rows = fed.snapshot()["ap_actors"]
    assert [(row[0], row[7]) for row in rows] == [(uri, "Alice Two")]


async def test_actors_that_do_not_hold_together_are_refused(fed, peer):
    client = make_client(fed, peer)
    uri = f"{peer.base}/users/bob"
    cases = {
        "/users/a1": (actor_document(peer, name="bob"), "of another id"),
        "/users/a2": (
            actor_document(
                peer,
                name="a2",
                publicKey={"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": PEER_PUBLIC},
            ),
            "does not list a key that it owns",
        ),
        "/users/a3": (
            actor_document(peer, name="a3", inbox="https://elsewhere.example/inbox"),
            "no inbox on its own host",
        ),
        "/users/a4": (
            actor_document(
                peer,
                name="a4",
                publicKey={
                    "id": "https://elsewhere.example/k",
                    "owner": f"{peer.base}/users/a4",
                    "publicKeyPem": PEER_PUBLIC,
                },
            ),
            "not on the actor's host",
        ),
        "/users/a5": (
            actor_document(
                peer,
                name="a5",
                publicKey={
                    "id": f"{peer.base}/users/a5#k",
                    "owner": f"{peer.base}/users/a5",
                    "publicKeyPem": "nope",
                },
            ),
            "cannot be read",
        ),
    }
    for path, (document, _) in cases.items():
        peer.json(path, document)
    for path, (_, message) in cases.items():
        with pytest.raises(FetchError, match=message):
            await client.actor(peer.base + path)
    assert fed.snapshot()["ap_actors"] == []


async def test_actor_of_key_needs_the_actor_to_list_the_key(fed, peer):
    client = make_client(fed, peer)
    uri = f"{peer.base}/users/carol"
    key_url = f"{peer.base}/keys/carol"
    document = actor_document(
        peer,
        name="carol",
        publicKey=[
            {"id": f"{uri}#other", "owner": uri, "publicKeyPem": PEER_PUBLIC},
            {"id": key_url, "owner": uri, "publicKeyPem": PEER_PUBLIC},
        ],
    )
    peer.json("/users/carol", document)
    peer.json("/keys/carol", {"id": key_url, "owner": uri, "publicKeyPem": PEER_PUBLIC})
    remote = await client.actor_of_key(key_url)
    assert remote.uri == uri and remote.key_id == key_url
    # A key document naming an actor that does not list it is refused.
    peer.json("/keys/stolen", {"id": f"{peer.base}/keys/stolen", "owner": uri, "publicKeyPem": PEER_PUBLIC})
    with pytest.raises(FetchError, match=f"does not list the key {peer.base}/keys/stolen"):
        await client.actor_of_key(f"{peer.base}/keys/stolen")
    # An actor document (Mastodon's ACTOR#main-key) must list the very key.
    with pytest.raises(FetchError, match="does not list the key"):
        await client.actor_of_key(f"{uri}#missing", refresh=True)


async def test_post_knocks_twice_and_remembers_the_scheme(fed, peer):
    client = make_client(fed, peer)
    _, public = await keys.pair(fed.db, "group:comp.lang.python")
    key_id = objects.key_id(fed.config.site_url, "group:comp.lang.python")

    def inbox(accepts):
        async def answer(method, target, headers, body):
            scheme = "rfc9421" if "signature-input" in headers else "cavage"
            assert signatures.verify(method, target, headers, body, public) == key_id
            return (202 if scheme == accepts else 401), {"content-length": "0"}, [b""]

        return answer

    peer.routes["/cavage/inbox"] = inbox("cavage")
    peer.routes["/inbox"] = inbox("rfc9421")
    body = b'{"type": "Announce"}'
    assert await client.post(f"{peer.base}/cavage/inbox", body, signer="group:comp.lang.python") == 202
    assert ["signature-input" in h for _, _, h, _ in peer.seen] == [True, False]
    assert client.remembered_scheme("127.0.0.1") == "cavage"
    assert all(h["content-type"] == AS and b == body for _, _, h, b in peer.seen)
    peer.seen.clear()
    assert await client.post(f"{peer.base}/cavage/inbox", body, signer="group:comp.lang.python") == 202
    assert ["signature-input" in h for _, _, h, _ in peer.seen] == [False]
    # The same host now takes RFC 9421 only: one knock refused, the other taken and remembered.
    peer.seen.clear()
    assert await client.post(f"{peer.base}/inbox", body, signer="group:comp.lang.python") == 202
    assert ["signature-input" in h for _, _, h, _ in peer.seen] == [False, True]
    assert client.remembered_scheme("127.0.0.1") == "rfc9421"


async def test_post_fails_with_fetch_error_when_nobody_listens(fed, peer):
    client = make_client(fed, peer)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        with pytest.raises(FetchError, match="cannot connect"):
            await client.post(f"https://127.0.0.1:{port}/inbox", b"{}", signer="instance")


async def test_requests_to_one_server_share_a_kept_connection(fed, peer):
    client = make_client(fed, peer)
    peer.json("/doc", {"id": "doc"})

    async def inbox(method, target, headers, body):
        return 202, {"content-length": "0"}, [b""]

    peer.routes["/inbox"] = inbox
    assert await client.get_json(f"{peer.base}/doc") == {"id": "doc"}
    assert await client.post(f"{peer.base}/inbox", b"{}", signer="instance") == 202
    assert await client.get_json(f"{peer.base}/doc") == {"id": "doc"}
    assert len(peer.seen) == 3 and len(peer.connections) == 1
    # Closed by aclose: the next request connects again.
    await client.aclose()
    assert await client.post(f"{peer.base}/inbox", b"{}", signer="instance") == 202
    assert len(peer.connections) == 2


@pytest.mark.parametrize("ttl", [client_module.RESOLVED_TTL, 0])
async def test_a_names_checked_addresses_are_reused_for_a_while(make_site, peer, monkeypatch, ttl):
    monkeypatch.setattr(client_module, "RESOLVED_TTL", ttl)
    site = await make_site()  # private addresses refused but for the test server's own
    client = make_client(site, peer, exempt={"127.0.0.1", "::1"})
    loop = asyncio.get_running_loop()
    asked = []
    real = loop.getaddrinfo

    async def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    peer.json("/doc", {"id": "doc"})
    for _ in range(3):
        assert await client.get_json(f"https://localhost:{peer.port}/doc") == {"id": "doc"}
    assert asked == (["localhost"] if ttl else ["localhost"] * 3)
    # A refused name is asked again each time, and refused each time.
    for _ in range(2):
        with pytest.raises(FetchError, match="private or reserved address"):
            await client.get_json(f"https://127.0.0.2:{peer.port}/doc")
    assert asked.count("127.0.0.2") == 2 and len(peer.seen) == 3


@pytest.mark.parametrize("limit", ["IDLE_TIMEOUT", "POOL_PER_KEY", "POOL_MAX"])
async def test_no_connection_is_kept_past_the_limits(fed, peer, monkeypatch, limit):
    monkeypatch.setattr(client_module, limit, 0)
    client = make_client(fed, peer)
    peer.json("/doc", {"id": "doc"})
    for _ in range(2):
        assert await client.get_json(f"{peer.base}/doc") == {"id": "doc"}
    assert len(peer.connections) == 2


async def test_a_server_that_closes_after_each_answer_gets_new_connections(fed, peer):
    client = make_client(fed, peer)

    async def closing(method, target, headers, body):
        return 202, {"content-length": "0", "connection": "close"}, [b""]

    peer.routes["/inbox"] = closing
    for _ in range(3):
        assert await client.post(f"{peer.base}/inbox", b"{}", signer="instance") == 202
    assert len(peer.seen) == 3 and len(peer.connections) == 3


@pytest.mark.parametrize("breaks", ["after the answer", "on the next request"])
async def test_a_connection_broken_while_idle_is_replaced(fed, peer, breaks):
    """A server that closes a connection without saying so, right after its
    answer or when the next request arrives: every request still succeeds,
    on a new connection when the kept one is gone."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(peer.cert, peer.key)
    accepted = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        try:
            for answered in range(2):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                if answered:  # the next request on this connection
                    break
                writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
                if breaks == "after the answer":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.transport.abort()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    client = make_client(fed, peer)
    try:
        for _ in range(3):
            assert await client.post(f"https://127.0.0.1:{port}/inbox", b"{}", signer="instance") == 202
    finally:
        listener.close()
        await listener.wait_closed()
    assert len(accepted) == 3  # one answer per connection, none lost


def test_hosts_and_names_are_cleaned():
    assert client_module.ascii_host("Bücher.Example") == "xn--bcher-kva.example"
    assert client_module.clean("a\u202eb\u2066c\x00d\ne\ud800", 10) == "abc d e"
    with pytest.raises(FetchError):
        client_module.ascii_host("a..b")
