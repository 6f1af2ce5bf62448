"""fediverse-pasture's verify_actor against one actor, run as its own process:
`python tests/pasture_probe.py ACTOR_URI CERT KEY` (with the python of
tests/fedify_support.pasture_python()) serves the pasture's six
test actors over https on a free loopback port (CERT and KEY: a certificate
for 127.0.0.1 that the actor's server trusts), has each of them fetch
ACTOR_URI and post to its inbox (alice and dean unsigned, the others signed
with draft-cavage HTTP Signatures, claire and frank also asking for signed
fetches of themselves), and prints {"result": ..., "steps": [...]} as JSON.

A process of its own: bovine's aiohttp session reads the CA to trust from
SSL_CERT_FILE when it is imported, and its warnings are not the suite's."""

from __future__ import annotations

import asyncio
import json
import socket
import sys

import uvicorn
from fediverse_pasture.data_provider.generate import generate_one_actor, generate_possible_actors
from fediverse_pasture.server import BlueprintForActors
from fediverse_pasture.server.verify_actor import ActorVerifier
from fediverse_pasture.types import Message
from quart import Quart


async def probe(actor_uri: str, cert: str, key: str) -> dict:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    domain = f"127.0.0.1:{sock.getsockname()[1]}"
    actors = [*generate_possible_actors(), generate_one_actor()]
    app = Quart("pasture")
    app.register_blueprint(BlueprintForActors(actors).blueprint)
    config = uvicorn.Config(app, ssl_certfile=cert, ssl_keyfile=key, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    message = Message()
    verifier = ActorVerifier(
        actor_list=actors, remote_uri=actor_uri, message=message, domain=domain, timeout=20
    )
    verifier.scheme = "https"
    try:
        result = await verifier.verify()
    finally:
        server.should_exit = True
        await serving
    return {"result": result, "steps": [str(step) for step in message.steps]}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(*sys.argv[1:4]))))
