"""A self-signed certificate made by openssl, for the tests that speak TLS."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(folder: Path, common_name: str, *alt_names: str) -> tuple[str, str]:
    """(cert.pem, key.pem) made in `folder`: an EC P-256 certificate for
    `common_name` and the subjectAltName entries given ("IP:127.0.0.1")."""
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={common_name}"]
        + (["-addext", "subjectAltName=" + ",".join(alt_names)] if alt_names else []),
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key
