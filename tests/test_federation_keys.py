"""Local actors' key pairs (server/federation/keys.py): made once, on first
use, by whichever of concurrent first calls wins, and kept in the database."""

from __future__ import annotations

import asyncio

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from moot.federation import keys, signatures
from moot.store.db import Database


async def test_a_pair_is_made_once_and_reused(site):
    first, second = await asyncio.gather(
        keys.pair(site.db, "group:comp.lang.python"), keys.pair(site.db, "group:comp.lang.python")
    )
    assert first == second
    private = serialization.load_pem_private_key(first[0].encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == keys.KEY_BITS
    assert (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
        == first[1]
    )
    assert await keys.pair(site.db, "group:comp.lang.python") == first
    other = await keys.pair(site.db, "instance")
    assert other != first
    rows = site.snapshot()["ap_keys"]
    assert sorted(row[0] for row in rows) == ["group:comp.lang.python", "instance"]
    # What it signs verifies with its public half.
    added = signatures.sign(
        "GET",
        "https://moot.example/g/x",
        {},
        None,
        key_id="k",
        private_pem=first[0],
        scheme="rfc9421",
        now=1e9,
    )
    assert signatures.verify("GET", "/g/x", added, b"", first[1], now=1e9) == "k"


async def test_a_pair_survives_the_process(site):
    made = await keys.pair(site.db, "user:alice")
    again = await Database(site.config.db_path, read_connections=1).open()
    try:
        assert await keys.pair(again, "user:alice") == made
    finally:
        await again.close()
