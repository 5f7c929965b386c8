"""A private package index on loopback: pypiserver behind Basic auth, over HTTPS with a CA made
here, serving one wheel that exists nowhere else.

The session-scoped ``private_index`` fixture builds the wheel, the certificates and a random
password, and starts the server in its own process (``python -m tests.integration.pypi_index``):
pypiserver and passlib import deprecated stdlib modules, which this test session turns into
errors, and a separate process is also what pip and the emulator's builds meet in real life.
The password is *not* registered with azpublish's redactor: tests must see azpublish do that.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import secrets
import signal
import socketserver
import ssl
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PACKAGE_NAME = "azpublish-private-probe"
MODULE_NAME = "azpublish_private_probe"
VERSION = "1.0.0"
EXPECTED_VALUE = "from-the-private-index"
USER = "probe-reader"
PASSWORD_VARIABLE = "AZPUBLISH_TEST_INDEX_PASSWORD"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REPO_ROOT = Path(__file__).resolve().parents[2]
_WHEEL_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PrivateIndex:
    port: int
    user: str
    password: str = field(repr=False)
    ca_bundle: str  # the machine's CAs plus this index's CA: for PIP_CERT
    ca_cert: str  # this index's CA alone
    folder: Path
    package_name: str = PACKAGE_NAME
    module_name: str = MODULE_NAME
    version: str = VERSION
    expected_value: str = EXPECTED_VALUE

    @property
    def url_without_credentials(self) -> str:
        return f"https://{HOST}:{self.port}/simple/"

    @property
    def url_with_credentials(self) -> str:
        return f"https://{self.user}:{self.password}@{HOST}:{self.port}/simple/"

    @property
    def log(self) -> Path:
        """The server's stderr: one line per request."""
        return self.folder / "server.log"

    def pip_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with pip trusting this index.

        PIP_CERT replaces the machine-wide value, which knows only the system CAs; the two
        variables requests reads are set too, as requests lets them override pip's ``--cert``.
        """
        return {**(os.environ if base is None else base),
                **dict.fromkeys(("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
                                self.ca_bundle)}


# -- the wheel ---------------------------------------------------------------------------------


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(folder: Path) -> Path:
    """A pure-Python wheel with METADATA, WHEEL and a RECORD that pip verifies."""
    dist_info = f"{MODULE_NAME}-{VERSION}.dist-info"
    files = {
        f"{MODULE_NAME}/__init__.py":
            f'"""Served only by the test index."""\n\nVALUE = "{EXPECTED_VALUE}"\n'.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {PACKAGE_NAME}\nVersion: {VERSION}\n"
            "Summary: Exists only on azpublish's private test index\n").encode(),
        f"{dist_info}/WHEEL": (b"Wheel-Version: 1.0\nGenerator: azpublish-tests\n"
                               b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    wheel = folder / f"{MODULE_NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_WHEEL_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return wheel


# -- TLS -----------------------------------------------------------------------------------------


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1, valid for a day."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azpublish test index CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
              .issuer_name(ca_name).public_key(key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5))
              .not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName(
                  [x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                  ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem(key))
    paths[2].chmod(0o600)
    return paths


def system_ca_file() -> Path:
    """The CA file pip uses on this machine without us."""
    candidates = [os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"),
                  ssl.get_default_verify_paths().cafile]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    import certifi  # requests' own bundle, the last resort

    return Path(certifi.where())


def combined_bundle(folder: Path, ca_cert: Path) -> Path:
    bundle = folder / "pip-ca-bundle.pem"
    system = system_ca_file().read_bytes()
    bundle.write_bytes(system.rstrip(b"\n") + b"\n" + ca_cert.read_bytes())
    return bundle


# -- the fixture -------------------------------------------------------------------------------


def start_index(folder: Path) -> tuple[PrivateIndex, subprocess.Popen[bytes]]:
    """Build everything under ``folder`` and start the server; bounded wait for its port."""
    packages = folder / "packages"
    packages.mkdir(parents=True)
    build_wheel(packages)
    ca_cert, server_cert, server_key = make_certificates(folder)
    password = secrets.token_urlsafe(24)
    port, process = launch_pypiserver(
        packages, folder, "--htpasswd", str(folder / "htpasswd"), "--cert", str(server_cert),
        "--key", str(server_key), "--user", USER, env={**os.environ, PASSWORD_VARIABLE: password})
    index = PrivateIndex(port=port, user=USER, password=password,
                         ca_bundle=str(combined_bundle(folder, ca_cert)), ca_cert=str(ca_cert),
                         folder=folder)
    return index, process


def launch_pypiserver(packages: Path, folder: Path, *options: str,
                      env: Mapping[str, str] | None = None
                      ) -> tuple[int, subprocess.Popen[bytes]]:
    """Start ``serve`` in its own process (log: ``folder/server.log``); its port, bounded wait."""
    port_file = folder / "port"
    port_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "tests.integration.pypi_index", "--root", str(packages),
               "--port-file", str(port_file), *options]
    with (folder / "server.log").open("ab") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=dict(env or os.environ),
                                   stdout=log, stderr=log)
    deadline = time.monotonic() + START_TIMEOUT
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(process)
            raise AssertionError(f"pypiserver did not start on {packages}:\n"
                                 + (folder / "server.log").read_text(errors="replace"))
        time.sleep(0.05)
    return int(port_file.read_text()), process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def private_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateIndex]:
    index, process = start_index(tmp_path_factory.mktemp("private-index"))
    try:
        yield index
    finally:
        stop_server(process)


# -- the server process ------------------------------------------------------------------------


class _TlsWsgiServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server with one thread per connection and TLS done in that thread.

    The handshake happens after accept, so a client that stalls or rejects the certificate
    holds up only its own thread.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any,
                 context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.context.wrap_socket(request, server_side=True) as tls:
            self.RequestHandlerClass(tls, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        sys.stderr.write(f"connection from {client_address[0]} failed: {error!r}\n")


class _HttpsHandler(WSGIRequestHandler):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["HTTPS"] = "on"  # so wsgi.url_scheme says https
        return environ


class _PlainWsgiServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve(argv: list[str]) -> None:
    """Serve ``--root`` with pypiserver; with TLS and Basic auth when their files are given.

    The test package mirror (``tests/package_mirror.py``) runs it plain: http on loopback, no
    authentication, every package readable.
    """
    import argparse
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # cgi, crypt: not ours to fix
    from pypiserver import app_from_config, setup_routes_from_config
    from pypiserver.config import Config

    parser = argparse.ArgumentParser()
    for name in ("--root", "--port-file"):
        parser.add_argument(name, required=True)
    for name in ("--htpasswd", "--cert", "--key", "--user"):
        parser.add_argument(name)
    args = parser.parse_args(argv)
    if args.htpasswd:
        from passlib.apache import HtpasswdFile

        passwords = HtpasswdFile(args.htpasswd, new=True)
        passwords.set_password(args.user, os.environ.pop(PASSWORD_VARIABLE))
        passwords.save()
        access = ["-a", "download,list,update", "-P", args.htpasswd]
    else:
        access = ["-a", ".", "-P", "."]
    config = Config.from_args(["run", "--host", HOST, "--port", "0", "--disable-fallback",
                               *access, args.root])
    application = setup_routes_from_config(app_from_config(config), config)

    server: WSGIServer
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        server = _TlsWsgiServer((HOST, 0), _HttpsHandler, context)
    else:
        server = _PlainWsgiServer((HOST, 0), WSGIRequestHandler)
    server.set_app(application)
    port_file = Path(args.port_file)
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(server.server_port))
    partial.replace(port_file)  # appears whole: the fixture polls for it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1:])
