"""One RSA key pair per local actor ('instance', 'group:NAME', 'user:NAME'),
made the first time the actor is served or signs, and kept in ap_keys."""

from __future__ import annotations

import asyncio

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..store import clock
from ..store.db import Database, fetch_one

KEY_BITS = 2048  # what Mastodon and Lemmy make and every server reads


def new_pair() -> tuple[str, str]:
    """A fresh RSA key pair as (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode("ascii"), public.decode("ascii")


async def pair(db: Database, actor: str) -> tuple[str, str]:
    """(private_pem, public_pem) of local actor `actor`. Made if missing: the
    key is generated (off the event loop) before the write, inserted unless
    another call got there first, and the stored pair is what every caller
    gets, so concurrent first calls agree on one pair and it never changes."""
    async with db.read() as conn:
        row = await fetch_one(conn, "SELECT private_pem, public_pem FROM ap_keys WHERE actor = ?", (actor,))
    if row is not None:
        return row[0], row[1]
    private_pem, public_pem = await asyncio.to_thread(new_pair)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT OR IGNORE INTO ap_keys (actor, private_pem, public_pem, created_at) VALUES (?, ?, ?, ?)",
            (actor, private_pem, public_pem, clock.now()),
        )
        row = await fetch_one(conn, "SELECT private_pem, public_pem FROM ap_keys WHERE actor = ?", (actor,))
    assert row is not None  # inserted above or by the call that won
    return row[0], row[1]
