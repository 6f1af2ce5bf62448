"""Cancel-Lock and Cancel-Key (RFC 8315) of the articles this node injects, as
pure functions of the site's secret: nothing is stored, and only this node can
make a key.

The key of an article is base64(HMAC-SHA256(K, Message-ID)) (§4), where K is
HMAC-SHA256(site secret, "moot cancel-lock"), so the cookie-signing key is never
used as it is on text others choose. The lock published in the article is
`sha256:` + base64(SHA-256(key)) (§2.1), against which any server checks the
`sha256:key` a cancel carries (§2.2, §5)."""

from __future__ import annotations

import base64
import hashlib
import hmac

SCHEME = "sha256"
_PURPOSE = b"moot cancel-lock"


def key(secret: str, message_id: str) -> str:
    """The Cancel-Key value (`sha256:` and the key) of the article `message_id`."""
    site_key = hmac.digest(secret.encode(), _PURPOSE, "sha256")
    return f"{SCHEME}:" + _b64(hmac.digest(site_key, message_id.encode(), "sha256"))


def lock(secret: str, message_id: str) -> str:
    """The Cancel-Lock value (`sha256:` and the hash of the key) of the article `message_id`."""
    return _lock_of(key(secret, message_id).partition(":")[2])


def opens(cancel_key: str, cancel_lock: str) -> bool:
    """Whether one of the `scheme:key` items of a Cancel-Key header value (§2.2,
    separated by white space) is the key of the `sha256:` lock `cancel_lock`.
    Keys of other schemes, and malformed items, open nothing."""
    for item in cancel_key.split():
        scheme, _, value = item.partition(":")
        if scheme.lower() == SCHEME and value and hmac.compare_digest(_lock_of(value), cancel_lock):
            return True
    return False


def _lock_of(key_string: str) -> str:
    return f"{SCHEME}:" + _b64(hashlib.sha256(key_string.encode("ascii", "replace")).digest())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
