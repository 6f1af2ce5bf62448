"""Who a list mail is from, shown rather than claimed. A From header is a
claim anyone can write; server/mail/inbound.py posts a mail as the member
whose confirmed address its From names only when one of these shows it:

- a personal reply key: the list mail sent to a member carries `Reply-To:
  GROUP+KEY@list-domain`, KEY a MAC under the site's secret over the member,
  one thread, the member's `reply_key_generation` and an expiry day (so no
  table: bumping the generation revokes every key of the account). A reply
  to it shows the member wrote it when its From is that member's, it answers
  that thread, and the day and generation still hold (`check_key`). Keys
  appear only in the mail sent to that member, never in archives, mbox,
  NNTP or Atom;
- DKIM alignment (`dkim_author`), verified here with dkimpy: a valid
  signature whose d= has the same organisational domain (public suffix list)
  as the one address of the message's one From, with From, Date and To or Cc
  among the signed headers, this list's address in a signed To or Cc (a
  signed mail cannot be replayed to another list), and no l= shorter than
  the body. Not DMARC: no policy is looked up, and SPF cannot be judged
  behind a relay;
- a trusted relay's word (`relay_vouches`): the topmost Authentication-Results
  (RFC 8601) carrying the configured authserv-id, believed only on a trusted
  path (LMTP, `moot deliver`, SMTP from a configured relay; never the public
  port), saying dmarc=pass, or dkim=pass for a domain aligned with the From.

Everything here is pure but for DKIM's key lookups, which go through the
resolver passed in (tests publish keys offline)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses
from typing import TYPE_CHECKING

from publicsuffixlist import PublicSuffixList

if TYPE_CHECKING:
    import dkim

# Signatures of one message tried at most, and seconds of DNS all of them may spend.
MAX_SIGNATURES = 4
DNS_SECONDS = 5.0
_MAC_LEN = 20
_KEYED = re.compile(r"(.+)\+(\d{1,18})\.(\d{1,18})\.(\d{1,7})\.([0-9a-f]{20})\Z")

# A DKIM key lookup: (name, timeout=seconds) -> the TXT record's bytes, or None.
TxtLookup = Callable[..., bytes | None]


@dataclass(frozen=True)
class ReplyKey:
    """What a personal reply address names; proven only by `check_key`."""

    user_id: int
    thread_id: int
    until: int  # the last day (days since 1970-01-01, UTC) it is good for
    mac: str


def today() -> int:
    return int(time.time() // 86400)


def _mac(secret: str, user_id: int, thread_id: int, generation: int, until: int) -> str:
    text = f"reply-key:{user_id}:{thread_id}:{generation}:{until}"
    return hmac.new(secret.encode("utf-8"), text.encode("ascii"), hashlib.sha256).hexdigest()[:_MAC_LEN]


def personal_address(
    secret: str, group: str, user_id: int, thread_id: int, generation: int, until: int, list_domain: str
) -> str:
    """The reply address of one member's list mail in one thread, good through day `until`."""
    mac = _mac(secret, user_id, thread_id, generation, until)
    return f"{group}+{user_id}.{thread_id}.{until}.{mac}@{list_domain}"


def split_local(local: str) -> tuple[str, ReplyKey | None]:
    """(group part, key) of a list address's local part; the key is None unless
    it has the GROUP+KEY form (its MAC unchecked)."""
    m = _KEYED.match(local)
    if m is None:
        return local, None
    return m[1], ReplyKey(int(m[2]), int(m[3]), int(m[4]), m[5])


def check_key(secret: str, key: ReplyKey, generation: int, day: int) -> bool:
    """Whether `key` is one this site made for its member at `generation`, not expired on `day`."""
    expected = _mac(secret, key.user_id, key.thread_id, generation, key.until)
    return day <= key.until and hmac.compare_digest(key.mac, expected)


@functools.cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships: no download


@functools.lru_cache(maxsize=1024)  # a list's members write from a few domains
def organisational(domain: str) -> str | None:
    """The registrable domain of `domain` (example.co.uk for mail.example.co.uk),
    None for a public suffix itself or something that is no domain."""
    domain = domain.strip().rstrip(".").lower()
    if not domain or "." not in domain:
        return None
    return _psl().privatesuffix(domain)


def aligned(domain_a: str, domain_b: str) -> bool:
    """Relaxed alignment: both under the same organisational domain."""
    org = organisational(domain_a)
    return org is not None and org == organisational(domain_b)


def _addresses(values: list[bytes]) -> list[str]:
    texts = [v.decode("utf-8", "replace") for v in values]
    return [addr.lower() for _, addr in getaddresses(texts) if addr]


def _header_values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for field, value in headers if field.lower() == name]


def _signature_holds(d: dkim.DKIM, author: str, list_addresses: set[str]) -> bool:
    """Whether the signature `d` just verified covers what identity needs."""
    from dkim.canonicalization import CanonicalizationPolicy

    sig = d.signature_fields
    signed = list(d.include_headers)
    if b"from" not in signed or b"date" not in signed:
        return False
    if b"l" in sig:
        canon = CanonicalizationPolicy.from_c_value(sig.get(b"c", b"simple/simple"))
        if int(sig[b"l"]) < len(canon.canonicalize_body(d.body)):
            return False  # a body anyone could extend after the signed part
    domain = (d.domain or b"").decode("ascii", "replace")
    if not aligned(domain, author.rpartition("@")[2]):
        return False
    recipients: list[bytes] = []
    for name in (b"to", b"cc"):
        count = signed.count(name)  # DKIM signs a header's instances from the bottom up
        values = _header_values(d.headers, name)
        recipients += values[len(values) - count :] if count else []
    return bool(list_addresses & set(_addresses(recipients)))


def dkim_author(
    data: bytes,
    list_addresses: set[str],
    lookup: TxtLookup | None = None,
    *,
    max_signatures: int = MAX_SIGNATURES,
    dns_seconds: float = DNS_SECONDS,
) -> str | None:
    """The address of the message's one From (lower case) when a DKIM signature
    shows it (see the module's rules), else None. `list_addresses` are this
    list's addresses in lower case; `lookup` fetches keys (default: the system's
    DNS), all lookups of one message within `dns_seconds`. Blocking: run it in
    a thread."""
    import dkim  # here, not at the top: it loads a DNS resolver every `moot` process would pay for

    try:
        d = dkim.DKIM(data, minkey=1024)
    except dkim.DKIMException:
        return None
    froms = _header_values(d.headers, b"from")
    authors = _addresses(froms)
    if len(froms) != 1 or len(authors) != 1 or "@" not in authors[0]:
        return None
    author = authors[0]
    deadline = time.monotonic() + dns_seconds
    resolve = lookup or dkim.dnsplug.get_txt

    def bounded(name: bytes, timeout: float = 5.0) -> bytes | None:
        left = deadline - time.monotonic()
        return resolve(name, timeout=min(timeout, left)) if left > 0 else None

    count = len(_header_values(d.headers, b"dkim-signature"))
    for idx in range(min(count, max_signatures)):
        try:
            valid = d.verify(idx, dnsfunc=bounded)
        except (dkim.DKIMException, ValueError, TypeError, IndexError):
            continue
        if valid and _signature_holds(d, author, list_addresses):
            return author
    return None


def _comments_out(value: str) -> str:
    previous = None
    while previous != value:  # nested comments, innermost first
        previous, value = value, re.sub(r"\([^()]*\)", " ", value)
    return value


def relay_vouches(results: list[str], authserv_id: str, author: str) -> bool:
    """Whether the topmost of a message's Authentication-Results fields
    (`results`, topmost first) carrying `authserv_id` says
    mail from `author`'s domain passed: dmarc=pass for an aligned header.from,
    or dkim=pass for an aligned header.d (or header.i). The caller believes it
    only on a trusted path."""
    if not authserv_id or "@" not in author:
        return False
    domain = author.rpartition("@")[2]
    for header in results:
        parts = _comments_out(header).split(";")
        words = parts[0].split()
        if not words or words[0].lower() != authserv_id.lower():
            continue
        for result in parts[1:]:
            tokens = result.split()
            if not tokens or "=" not in tokens[0]:
                continue
            method, _, verdict = tokens[0].lower().partition("=")
            props = dict(t.lower().partition("=")[::2] for t in tokens[1:] if "=" in t)
            if verdict != "pass":
                continue
            if method == "dmarc" and aligned(props.get("header.from", ""), domain):
                return True
            signer = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
            if method == "dkim" and aligned(signer, domain):
                return True
        return False  # only the topmost one with our id counts
    return False
