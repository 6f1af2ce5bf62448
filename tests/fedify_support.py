"""A real fediverse peer for the tests and the bench: tests/fedify/peer.mjs, a
Fedify server, installed with npm into a cache folder and run with Node.

`install()` gives the folder the peer runs from (npm ci into
~/.cache/moot-fedify/<hash of package-lock.json>/, once per lock file), or
raises Unavailable with the reason (no node or npm, or npm could not reach the
registry) for the tests to skip on. `FedifyPeer` runs it; `throwaway_ca` makes
the certificate authority both sides trust. `pasture_python()` gives a Python
with fediverse-pasture installed, in a virtual environment of its own."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.processes import tls

HERE = Path(__file__).resolve().parent / "fedify"
CACHE = Path(os.environ.get("MOOT_FEDIFY_CACHE", Path.home() / ".cache" / "moot-fedify"))
KNOCKS = ("rfc9421", "draft-cavage-http-signatures-12")
INSTALL_TIMEOUT = 600  # seconds npm ci may take on a slow network (about 15 s here)
# fediverse-pasture's bovine pins cryptography below 46, older than Moot's own:
# in the test extras it would downgrade the cryptography Moot's tests run on,
# so it lives in a virtual environment of its own, keyed by these pins.
# bovine 0.5.19 calls http-sf's 1.0 API (parse_dictionary(bytes)), which 1.1
# changed: with a later http-sf every RFC 9421 signature it checks raises.
PASTURE = ("fediverse-pasture==0.2.25", "http-sf==1.0.7", "uvicorn==0.55.0")


class Unavailable(Exception):
    """The peer cannot run here; the message says why."""


def install() -> Path:
    """The folder holding node_modules and peer.mjs, installed on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise Unavailable(
            "node and npm are not installed (./run tests installs Debian's nodejs and npm as root)"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < 20:
        raise Unavailable(f"Fedify 2.3 runs on Node 20 or later; this node is {version}")
    lock = (HERE / "package-lock.json").read_bytes()
    folder = CACHE / hashlib.sha256(lock).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # one installer at a time (xdist workers, the bench)
        if not (folder / ".installed").exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(HERE / name, folder / name)
            started = time.monotonic()
            try:
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund", "--fetch-retries=1", "--fetch-timeout=30000"],
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_TIMEOUT,
                )
            except subprocess.TimeoutExpired as exc:
                raise Unavailable(
                    f"npm ci took over {INSTALL_TIMEOUT} s (is the npm registry reachable?)"
                ) from exc
            if done.returncode:
                raise Unavailable(
                    f"npm could not install the Fedify peer (no registry?): {done.stderr[-600:]}"
                )
            (folder / ".installed").write_text(f"{time.monotonic() - started:.1f} s\n")
    # ESM resolves packages from the script's own folder: the peer runs from there.
    script = HERE.joinpath("peer.mjs").read_bytes()
    target = folder / f"peer-{hashlib.sha256(script).hexdigest()[:12]}.mjs"
    if not target.exists():
        temporary = target.with_suffix(f".{os.getpid()}")
        temporary.write_bytes(script)
        temporary.replace(target)
    return target


def pasture_python() -> str:
    """The python of a virtual environment holding PASTURE (pip-installed on
    first use, about 20 s), or Unavailable when pip cannot install it."""
    folder = CACHE / ("pasture-" + hashlib.sha256(" ".join(PASTURE).encode()).hexdigest()[:12])
    python = folder / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".pasture-lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if not (folder / ".installed").exists():
            try:
                subprocess.run(
                    [sys.executable, "-m", "venv", "--clear", str(folder)], check=True, capture_output=True
                )
                done = subprocess.run(
                    [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PASTURE],
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_TIMEOUT,
                )
            except (subprocess.SubprocessError, OSError) as exc:
                raise Unavailable(f"could not install {' '.join(PASTURE)}: {exc}") from exc
            if done.returncode:
                raise Unavailable(
                    f"pip could not install {' '.join(PASTURE)} (no index?): {done.stderr[-600:]}"
                )
            (folder / ".installed").touch()
    return str(python)


def throwaway_ca(folder: Path) -> tuple[str, str, str]:
    """(ca.pem, cert.pem, key.pem) made with openssl in `folder`: a certificate
    authority and a leaf it signed for 127.0.0.1 and localhost."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ca, ca_key = str(folder / "ca.pem"), str(folder / "ca-key.pem")
    cert, key, csr = str(folder / "cert.pem"), str(folder / "key.pem"), str(folder / "leaf.csr")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=Moot test CA")
    openssl("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    extensions = folder / "leaf.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca,
        "-CAkey",
        ca_key,
        "-out",
        cert,
        "-days",
        "2",
        "-extfile",
        str(extensions),
    )
    return ca, cert, key


class FedifyPeer:
    """peer.mjs running as a process: one actor per first knock, driven through
    its control API (see the comment atop peer.mjs)."""

    def __init__(self, script: Path, log_path: Path, *, ca: str, cert: str | None, key: str | None) -> None:
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": ca, "PEER_KNOCKS": ",".join(KNOCKS)}
        if cert and key:
            env |= {"PEER_TLS_CERT": cert, "PEER_TLS_KEY": key}
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed by close())
        self.proc = subprocess.Popen(
            ["node", str(script)], cwd=script.parent, env=env, stdout=subprocess.PIPE, stderr=self.log
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the peer's one line, once it serves
        if not line:
            self.close()
            raise RuntimeError(
                f"the Fedify peer did not start (log {log_path}):\n{log_path.read_text()[-2000:]}"
            )
        described = json.loads(line)
        self.peers: dict[str, dict[str, str]] = described["peers"]
        self.control = httpx.Client(
            base_url=f"http://127.0.0.1:{described['control']}", timeout=60, verify=tls()
        )

    def do(self, action: str, knock: str, **args) -> dict:
        """POST /action to the control API; the peer's answer (an error raises)."""
        response = self.control.post(f"/{action}", json={"knock": knock, **args})
        if response.status_code != 200:
            raise AssertionError(f"the peer's {action} failed ({response.status_code}): {response.text}")
        return response.json()

    def received(self, knock: str) -> list[dict]:
        return self.control.get("/received", params={"knock": knock}).json()

    def wait_for(self, knock: str, predicate, what: str, timeout: float = 30.0) -> dict:
        """The first activity the knock's actor received (and Fedify verified)
        for which predicate(activity) holds, waiting for it up to `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            for entry in self.received(knock):
                if entry["verified"] and isinstance(entry["activity"], dict) and predicate(entry["activity"]):
                    return entry
            if time.monotonic() > deadline:
                raise AssertionError(f"the peer never received {what}; it received {self.received(knock)}")
            time.sleep(0.05)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.control.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
