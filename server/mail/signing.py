"""DKIM signatures on the mail Moot sends (RFC 6376), made with dkimpy when
MOOT_MAIL_DKIM_KEY names an RSA private key: d= the list domain, s=
MOOT_MAIL_DKIM_SELECTOR, relaxed/relaxed, no l= (nothing can be appended),
over the headers a receiver judges by (`SIGNED`; one that is absent is
signed absent, so it cannot be added on the way). The sender signs each mail
as it hands it to the relay, after its recipient's own headers are in.
`Signer.record` is the DNS TXT record that publishes the key's public half;
`moot check` prints it, and docs/MAIL.md says how to rotate the key."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from ..store.config import Config

SIGNED = tuple(
    name.lower().encode("ascii")
    for name in (
        "From",
        "To",
        "Cc",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Reply-To",
        "List-Id",
        "List-Post",
        "List-Archive",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",  # RFC 8058 §4: it MUST be signed, with List-Unsubscribe
        "Archived-At",
        "Auto-Submitted",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)
# A selector or a signing domain: DNS labels, in ASCII.
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
# rsaEncryption (1.2.840.113549.1.1.1) with its NULL parameters, DER.
_RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")


class DkimConfigError(ValueError):
    """MOOT_MAIL_DKIM_KEY cannot be used (the message says which file and why)."""


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def _integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))  # a leading 0 keeps it positive


@dataclass(frozen=True)
class Signer:
    domain: str
    selector: str
    pem: bytes
    modulus: int
    exponent: int

    @classmethod
    def from_config(cls, config: Config) -> Signer | None:
        """The site's signer; None when no key is configured. Raises
        DkimConfigError when the key file is unreadable or holds no RSA key."""
        from dkim.crypto import UnparsableKeyError, parse_pem_private_key  # dkim: see sign

        path = config.mail_dkim_key
        if not path:
            return None
        if not _NAME.fullmatch(config.mail_dkim_selector):
            raise DkimConfigError(
                f"MOOT_MAIL_DKIM_SELECTOR {config.mail_dkim_selector!r} is no DNS name (letters, digits, - and .)"
            )
        if not _NAME.fullmatch(config.list_domain):
            raise DkimConfigError(f"cannot sign for {config.list_domain!r}: write the domain in ASCII (IDNA)")
        try:
            pem = Path(path).read_bytes()
            key = parse_pem_private_key(pem)
        except OSError as e:
            raise DkimConfigError(f"cannot read MOOT_MAIL_DKIM_KEY {path!r}: {e.strerror or e}") from None
        except (UnparsableKeyError, ValueError):
            raise DkimConfigError(
                f"MOOT_MAIL_DKIM_KEY {path!r} holds no RSA private key in PEM (PKCS#1 or PKCS#8)"
            ) from None
        if key["modulus"].bit_length() < 1024:
            raise DkimConfigError(
                f"MOOT_MAIL_DKIM_KEY {path!r} has {key['modulus'].bit_length()} bits;"
                " receivers ignore keys under 1024 (RFC 8301): use 2048"
            )
        return cls(config.list_domain, config.mail_dkim_selector, pem, key["modulus"], key["publicExponent"])

    @property
    def bits(self) -> int:
        return self.modulus.bit_length()

    def sign(self, data: bytes) -> bytes:
        """`data` with its DKIM-Signature on top (ValueError: it cannot be signed)."""
        import dkim  # here, not at the top: it loads a DNS resolver every `moot` process would pay for

        try:
            signature = dkim.sign(
                data,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self.pem,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=list(SIGNED),
            )
        except dkim.DKIMException as error:
            raise ValueError(str(error)) from None
        return signature + data

    def public_key(self) -> str:
        """The p= of the key's record: its SubjectPublicKeyInfo (RFC 5280), base64."""
        rsa_key = _der(0x30, _integer(self.modulus) + _integer(self.exponent))
        info = _der(0x30, _RSA_ALGORITHM + _der(0x03, b"\0" + rsa_key))
        return base64.b64encode(info).decode("ascii")

    def record(self) -> str:
        """The zone-file line to publish (a TXT string holds at most 255 octets,
        so a long record is written as several, which receivers join)."""
        text = f"v=DKIM1; k=rsa; p={self.public_key()}"
        strings = " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))
        return f"{self.selector}._domainkey.{self.domain} IN TXT {strings}"
