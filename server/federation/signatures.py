"""HTTP Signatures as the fediverse uses them, made and checked; pure (no I/O).

Two schemes:
- draft-cavage-http-signatures-12 (Mastodon, Lemmy, most servers): a
  `Signature: keyId="…",algorithm="…",headers="…",signature="…"` header over
  "(request-target) host date digest", the body's `Digest: SHA-256=…`.
  `rsa-sha256` and `hs2019` are RSASSA-PKCS1-v1_5 with SHA-256 for an RSA key
  (Ed25519 for an Ed25519 key).
- RFC 9421 (Fedify, newer Mastodon): `Signature-Input: sig1=("@method"
  "@target-uri" …);created=…;keyid="…"` and `Signature: sig1=:…:`, the body's
  `Content-Digest: sha-256=:…:` (RFC 9530). `rsa-v1_5-sha256`,
  `rsa-pss-sha512` and `ed25519`.

Structured fields (RFC 8941) are parsed by http-sfv; the signature base is
built here. A signature is believed only within a short window around its
date (replays), and only when it covers the method, the target, the host, a
date and, for a body, its digest."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import Literal
from urllib.parse import urlsplit

import http_sfv
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from ..store.errors import BadSignature

Scheme = Literal["cavage", "rfc9421"]
# How far a signature's date may lie from now: behind (the request took a
# while, clocks drift) and ahead (a fast clock). Past these it is a replay.
WINDOW_PAST = 300
WINDOW_FUTURE = 60
# The longest signature header read; real ones are well under 2 KiB.
HEADER_MAX = 8192
LABEL = "sig1"

_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
# A time in a draft-cavage signature's (created) or (expires): ASCII digits, bounded.
_SECONDS = re.compile(r"[0-9]{1,12}")
_CAVAGE_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|(\d{1,12}))\s*(?:,|\Z)')


def _epoch(now: datetime | float | None) -> float:
    if now is None:
        return time.time()
    return now.timestamp() if isinstance(now, datetime) else float(now)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


# --- keys ---------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _private_key(pem: str) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    # Loaded once per key: a delivery burst signs with a few keys many times. The
    # keys are this server's own (ap_keys, made by keys.pair), so the RSA
    # consistency check, tens of milliseconds on the event loop, is skipped.
    key = serialization.load_pem_private_key(
        pem.encode("ascii"), password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError("only RSA and Ed25519 keys sign")
    return key


@functools.lru_cache(maxsize=1024)
def _public_key(pem: str) -> rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeError) as error:
        raise BadSignature("the signer's public key cannot be read") from error
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise BadSignature("the signer's key is neither RSA nor Ed25519")
    return key


def _sign(private_pem: str, data: bytes) -> bytes:
    key = _private_key(private_pem)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _check(public_pem: str, algorithm: str | None, data: bytes, signature: bytes) -> None:
    """BadSignature unless `signature` over `data` verifies with the key and
    `algorithm` (None or hs2019: the one the key implies)."""
    key = _public_key(public_pem)
    algorithm = (algorithm or "").lower()
    if isinstance(key, ed25519.Ed25519PublicKey):
        if algorithm not in ("", "hs2019", "ed25519"):
            raise BadSignature(f"algorithm {algorithm!r} does not fit an Ed25519 key")
        attempts = [lambda: key.verify(signature, data)]
    else:
        v15_256 = lambda: key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())  # noqa: E731
        pss_512 = lambda: key.verify(  # noqa: E731
            signature, data, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512()
        )
        choices = {
            "": [v15_256, pss_512],  # RFC 9421 without alg: what the key is for
            "hs2019": [v15_256],
            "rsa-sha256": [v15_256],
            "rsa-v1_5-sha256": [v15_256],
            "rsa-sha512": [lambda: key.verify(signature, data, padding.PKCS1v15(), hashes.SHA512())],
            "rsa-pss-sha512": [pss_512],
        }
        if algorithm not in choices:
            raise BadSignature(f"algorithm {algorithm!r} is not supported")
        attempts = choices[algorithm]
    for attempt in attempts:
        try:
            attempt()
            return
        except InvalidSignature:
            continue
    raise BadSignature("the signature does not verify with the signer's key")


# --- digests ------------------------------------------------------------------


def _digest_header(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def _content_digest_header(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _check_digest(value: str, body: bytes) -> None:
    """`Digest: SHA-256=b64[, SHA-512=b64]` (any case, as Lemmy sends it)
    must match the body in every algorithm known here, and name one."""
    known = 0
    for part in value.split(","):
        name, eq, encoded = part.strip().partition("=")
        function = _DIGESTS.get(name.strip().lower())
        if not eq or function is None:
            continue
        try:
            claimed = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            raise BadSignature("the Digest header is not base64") from None
        if claimed != function(body).digest():
            raise BadSignature("the Digest header does not match the body")
        known += 1
    if not known:
        raise BadSignature("the Digest header has no SHA-256 or SHA-512 digest")


def _check_content_digest(value: str, body: bytes) -> None:
    """`Content-Digest: sha-256=:b64:` (RFC 9530), checked the same way."""
    parsed = _dictionary(value, "Content-Digest")
    known = 0
    for name, member in parsed.items():
        function = _DIGESTS.get(name)
        if function is None:
            continue
        if not isinstance(member, http_sfv.Item) or not isinstance(member.value, bytes):
            raise BadSignature("the Content-Digest header is malformed")
        if member.value != function(body).digest():
            raise BadSignature("the Content-Digest header does not match the body")
        known += 1
    if not known:
        raise BadSignature("the Content-Digest header has no sha-256 or sha-512 digest")


def _dictionary(value: str, what: str) -> http_sfv.Dictionary:
    if len(value) > HEADER_MAX:
        raise BadSignature(f"the {what} header is longer than {HEADER_MAX} characters")
    parsed = http_sfv.Dictionary()
    try:
        parsed.parse(value.encode("ascii"))
    except (ValueError, UnicodeError, IndexError, KeyError, TypeError):
        raise BadSignature(f"the {what} header is malformed") from None
    return parsed


def _window(signed_at: float, now: float, what: str) -> None:
    if signed_at < now - WINDOW_PAST:
        raise BadSignature(f"the signature's {what} is more than {WINDOW_PAST} seconds old")
    if signed_at > now + WINDOW_FUTURE:
        raise BadSignature(f"the signature's {what} is more than {WINDOW_FUTURE} seconds ahead")


# --- signing ------------------------------------------------------------------


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    key_id: str,
    private_pem: str,
    scheme: Scheme,
    now: datetime | float | None = None,
) -> dict[str, str]:
    """The headers to add to a request (`url` absolute; `headers` those it
    already has, of which Content-Type is signed when present) so that it
    carries a signature by `key_id` in `scheme`: Host, Date, a digest of the
    body (Digest for cavage, Content-Digest for RFC 9421; for a request with a
    body or any method but GET and HEAD), and Signature (with Signature-Input
    for RFC 9421). The RSA signature is RSASSA-PKCS1-v1_5 with SHA-256."""
    moment = _epoch(now)
    parts = urlsplit(url)
    method = method.upper()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    content_type = _lower(headers).get("content-type")
    added = {"Host": parts.netloc.lower(), "Date": formatdate(moment, usegmt=True)}
    with_body = bool(body) or method not in ("GET", "HEAD")
    if scheme == "cavage":
        lines = [f"(request-target): {method.lower()} {target}", f"host: {added['Host']}"]
        lines.append(f"date: {added['Date']}")
        names = ["(request-target)", "host", "date"]
        if with_body:
            added["Digest"] = _digest_header(body or b"")
            lines.append(f"digest: {added['Digest']}")
            names.append("digest")
        if content_type is not None:
            lines.append(f"content-type: {content_type.strip()}")
            names.append("content-type")
        signature = base64.b64encode(_sign(private_pem, "\n".join(lines).encode("utf-8"))).decode("ascii")
        added["Signature"] = (
            f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",signature="{signature}"'
        )
        return added
    if scheme != "rfc9421":
        raise ValueError(f"unknown signature scheme {scheme!r}")
    components = ["@method", "@target-uri", "@authority", "date"]
    values = {"@method": method, "@target-uri": url, "@authority": added["Host"], "date": added["Date"]}
    if with_body:
        added["Content-Digest"] = _content_digest_header(body or b"")
        components.append("content-digest")
        values["content-digest"] = added["Content-Digest"]
    if content_type is not None:
        components.append("content-type")
        values["content-type"] = content_type.strip()
    params = http_sfv.InnerList([http_sfv.Item(name) for name in components])
    params.params["created"] = int(moment)
    params.params["keyid"] = key_id
    params.params["alg"] = "rsa-v1_5-sha256"
    serialized = str(params)  # once: serialising checks every character
    base = (
        "".join(f'"{name}": {values[name]}\n' for name in components) + f'"@signature-params": {serialized}'
    )
    signature = base64.b64encode(_sign(private_pem, base.encode("utf-8"))).decode("ascii")
    added["Signature-Input"] = f"{LABEL}={serialized}"
    added["Signature"] = f"{LABEL}=:{signature}:"
    return added


# --- reading ------------------------------------------------------------------


@dataclass
class _Rfc9421:
    label: str
    components: list[str]
    params: http_sfv.InnerList  # the covered components with their parameters, as signed
    signature: bytes


def _rfc9421(headers: dict[str, str]) -> _Rfc9421:
    """The first signature of an RFC 9421 request (the first label of
    Signature-Input that Signature has), checked for form only."""
    inputs = _dictionary(headers["signature-input"], "Signature-Input")
    values = _dictionary(headers.get("signature", ""), "Signature")
    for label, member in inputs.items():
        if label not in values:
            continue
        if not isinstance(member, http_sfv.InnerList):
            raise BadSignature(f"Signature-Input {label} is not a list of components")
        value = values[label]
        if not isinstance(value, http_sfv.Item) or not isinstance(value.value, bytes):
            raise BadSignature(f"Signature {label} is not a byte sequence")
        components = []
        for item in member:
            if not isinstance(item.value, str) or item.params:
                raise BadSignature(f"Signature-Input {label} names a component this server does not read")
            if item.value in components:
                raise BadSignature(f"Signature-Input {label} names {item.value!r} twice")
            components.append(item.value)
        for name, kind in (("keyid", str), ("created", int), ("expires", int), ("alg", str)):
            if name in member.params and type(member.params[name]) is not kind:
                raise BadSignature(f"Signature-Input {label} has a malformed {name!r}")
        if "keyid" not in member.params:
            raise BadSignature(f"Signature-Input {label} names no keyid")
        return _Rfc9421(label, components, member, value.value)
    raise BadSignature("no signature in Signature-Input has a value in Signature")


def _cavage(headers: dict[str, str]) -> dict[str, str]:
    """The parameters of a draft-cavage Signature header (or Authorization:
    Signature …): each name once, keyId and signature present."""
    value = headers.get("signature")
    if value is None:
        authorization = headers.get("authorization", "")
        if not authorization[:10].lower() == "signature ":
            raise BadSignature("the request is not signed (no Signature header)")
        value = authorization[10:]
    if len(value) > HEADER_MAX:
        raise BadSignature(f"the Signature header is longer than {HEADER_MAX} characters")
    params: dict[str, str] = {}
    position = 0
    while position < len(value):
        match = _CAVAGE_PARAM.match(value, position)
        if match is None:
            raise BadSignature("the Signature header is malformed")
        name = match[1]
        if name in params:
            raise BadSignature(f"the Signature header names {name!r} twice")
        params[name] = match[2] if match[2] is not None else match[3]
        position = match.end()
    for name in ("keyId", "signature"):
        if not params.get(name):
            raise BadSignature(f"the Signature header has no {name}")
    return params


def key_id_of(headers: Mapping[str, str]) -> str:
    """The id of the key a request says signed it, in either scheme (RFC 9421
    when it has Signature-Input); BadSignature when it names none."""
    lowered = _lower(headers)
    if "signature-input" in lowered:
        return _keyid(_rfc9421(lowered))
    return _cavage(lowered)["keyId"]


def _keyid(found: _Rfc9421) -> str:
    key_id = found.params.params.get("keyid")
    if not isinstance(key_id, str) or not key_id:
        raise BadSignature(f"Signature-Input {found.label} names no keyid")
    return key_id


# --- verifying ----------------------------------------------------------------


def verify(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    public_pem: str,
    *,
    now: datetime | float | None = None,
) -> str:
    """Check a request's signature with `public_pem`; return its key id.

    `target` is the path with its query as received, or the whole URL (RFC
    9421's @target-uri is otherwise https://HOST/target). Raises BadSignature
    (401, saying what is wrong) when the signature is malformed or does not
    verify, when it leaves out the method, the target, the host, the date
    (`created` for RFC 9421) or, for a body, its digest, when the digest does
    not match the body, or when it was made outside WINDOW_PAST seconds ago
    to WINDOW_FUTURE seconds ahead of `now`."""
    lowered = _lower(headers)
    moment = _epoch(now)
    if "signature-input" in lowered:
        return _verify_rfc9421(method, target, lowered, body, public_pem, moment, strict=True)
    return _verify_cavage(method, target, lowered, body, public_pem, moment)


def _split_target(target: str, headers: dict[str, str]) -> tuple[str, str]:
    """(full URL, path with query) of the request."""
    if target.startswith(("https://", "http://")):
        parts = urlsplit(target)
        return target, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = headers.get("host")
    if not host:
        raise BadSignature("the request has no Host header")
    url = f"https://{host}{target}"
    try:
        urlsplit(url).port  # noqa: B018 - parsed for its checks only
    except ValueError:
        raise BadSignature("the Host header is not a host name") from None
    return url, target


def _verify_cavage(
    method: str, target: str, headers: dict[str, str], body: bytes, public_pem: str, now: float
) -> str:
    params = _cavage(headers)
    names = params.get("headers", "date").lower().split()
    _, request_target = _split_target(target, headers)
    missing = [name for name in ("(request-target)", "host") if name not in names]
    if "date" not in names and "(created)" not in names:
        missing.append("date")
    if body and "digest" not in names:
        missing.append("digest")
    if missing:
        raise BadSignature("the signature does not cover " + ", ".join(missing))
    if len(set(names)) != len(names):
        raise BadSignature("the signature's headers name one twice")
    lines = []
    for name in names:
        if name == "(request-target)":
            value = f"{method.lower()} {request_target}"
        elif name in ("(created)", "(expires)"):
            value = params.get(name[1:-1], "")
            if not _SECONDS.fullmatch(value):
                raise BadSignature(f"the signature covers {name} without giving it")
        elif name.startswith("("):
            raise BadSignature(f"the signature covers {name}, which this server does not read")
        elif name in headers:
            value = headers[name].strip()
        else:
            raise BadSignature(f"the signature covers {name}, which the request does not have")
        lines.append(f"{name}: {value}")
    if "(created)" in names:
        _window(int(params["created"]), now, "creation time")
    if "date" in names:
        _window(_date(headers["date"]), now, "Date")
    if "(expires)" in names and int(params["expires"]) < now:
        raise BadSignature("the signature has expired")
    if "digest" in headers:
        _check_digest(headers["digest"], body)
    if "content-digest" in headers:
        _check_content_digest(headers["content-digest"], body)
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except ValueError:
        raise BadSignature("the signature is not base64") from None
    _check(public_pem, params.get("algorithm"), "\n".join(lines).encode("utf-8"), signature)
    return params["keyId"]


def _date(value: str) -> float:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        raise BadSignature("the Date header is not a date") from None


def _verify_rfc9421(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    public_pem: str,
    now: float,
    *,
    strict: bool,
) -> str:
    """Check the first RFC 9421 signature; `strict` False only skips the
    components and window this server asks for (RFC 9421's own examples)."""
    found = _rfc9421(headers)
    url, _ = _split_target(target, headers)
    parts = urlsplit(url)
    params = found.params.params
    if strict:
        covered = set(found.components)
        missing = [] if "@method" in covered else ["@method"]
        if "@target-uri" not in covered and not ({"@authority", "host"} & covered and "@path" in covered):
            missing.append("@target-uri")
        if body and "content-digest" not in covered:
            missing.append("content-digest")
        if "created" not in params:
            missing.append("created")
        if missing:
            raise BadSignature("the signature does not cover " + ", ".join(missing))
        created = params["created"]
        if not isinstance(created, int):
            raise BadSignature(f"Signature-Input {found.label} has a malformed 'created'")
        _window(created, now, "creation time")
        expires = params.get("expires")
        if isinstance(expires, int) and expires < now:
            raise BadSignature("the signature has expired")
    derived = {
        "@method": method.upper(),
        "@target-uri": url,
        "@authority": parts.netloc.lower(),
        "@scheme": parts.scheme,
        "@request-target": (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        "@path": parts.path or "/",
        "@query": f"?{parts.query}",
    }
    lines = []
    for name in found.components:
        if name in derived:
            value = derived[name]
        elif name.startswith("@"):
            raise BadSignature(f"the signature covers {name}, which this server does not read")
        elif name in headers:
            value = headers[name].strip()
        else:
            raise BadSignature(f"the signature covers {name}, which the request does not have")
        lines.append(f'"{name}": {value}\n')
    lines.append(f'"@signature-params": {found.params}')
    if "content-digest" in headers:
        _check_content_digest(headers["content-digest"], body)
    if "digest" in headers:
        _check_digest(headers["digest"], body)
    alg = params.get("alg")
    _check(public_pem, alg if isinstance(alg, str) else None, "".join(lines).encode("utf-8"), found.signature)
    return _keyid(found)
