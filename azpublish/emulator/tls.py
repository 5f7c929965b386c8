"""The emulator's own certificate authority and its server certificate.

Made on first start under ``tls/``: a CA (kept for years, so a trusted bundle stays valid) and a
server certificate for ``127.0.0.1``, ``::1``, ``localhost`` and the App Service names under
``azurewebsites.localhost`` signed by it, renewed when it nears expiry or lacks a name.
Extensions follow what strict verifiers (Python 3.13's ``VERIFY_X509_STRICT``) demand.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from azpublish.emulator.layout import PRIVATE, StateLayout, write_bytes_atomic
from azpublish.emulator.urls import DNS_SUFFIX

# The names the server certificate covers: ARM's and every site's (one wildcard label deep),
# and every Kudu site's.
SERVER_NAMES = ("localhost", f"*.{DNS_SUFFIX}", f"*.scm.{DNS_SUFFIX}")

CA_DAYS = 3650
SERVER_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    trust_bundle: Path  # the system's roots plus the CA: for REQUESTS_CA_BUNDLE in a shell


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _make_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "azpublish emulator"),
        x509.NameAttribute(NameOID.COMMON_NAME, "azpublish emulator local CA"),
    ])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_bytes_atomic(folder / "ca.key", _key_pem(key), PRIVATE)
    write_bytes_atomic(folder / "ca.pem", cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _load_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    cert_path, key_path = folder / "ca.pem", folder / "ca.key"
    if not (cert_path.exists() and key_path.exists()):
        return None
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.not_valid_after_utc < _now():
        return None
    return cert, key


def _make_server(folder: Path, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=SERVER_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([
                *(x509.DNSName(name) for name in SERVER_NAMES),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_bytes_atomic(folder / "server.key", _key_pem(key), PRIVATE)
    write_bytes_atomic(folder / "server.pem", cert.public_bytes(serialization.Encoding.PEM))


def _server_is_fresh(folder: Path, ca: x509.Certificate) -> bool:
    cert_path = folder / "server.pem"
    if not (cert_path.exists() and (folder / "server.key").exists()):
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    covered = set(names.get_values_for_type(x509.DNSName)) >= set(SERVER_NAMES)
    return (covered and cert.issuer == ca.subject
            and cert.not_valid_after_utc - RENEW_BEFORE > _now())


def ensure_certificates(layout: StateLayout) -> TlsFiles:
    """The CA and server certificate files, made or renewed as needed."""
    folder = layout.tls_dir
    folder.mkdir(parents=True, exist_ok=True)
    loaded = _load_ca(folder)
    ca, ca_key = loaded if loaded is not None else _make_ca(folder)
    if loaded is None or not _server_is_fresh(folder, ca):
        _make_server(folder, ca, ca_key)
    trust = folder / "trust.pem"
    write_bytes_atomic(trust, trust_bundle(ca.public_bytes(serialization.Encoding.PEM)))
    return TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key", trust)


def trust_bundle(ca_pem: bytes) -> bytes:
    """The roots this machine trusts (OpenSSL's default file, which ``SSL_CERT_FILE`` moves;
    else certifi's) followed by the emulator's CA. A shell pointed at the CA alone would fail
    TLS with every real host (pip, the Azure CLI): ``REQUESTS_CA_BUNDLE`` replaces, it does
    not add."""
    roots = b""
    for candidate in (ssl.get_default_verify_paths().cafile, certifi.where()):
        if candidate and Path(candidate).is_file():
            roots = Path(candidate).read_bytes()
            break
    if roots and not roots.endswith(b"\n"):
        roots += b"\n"
    return roots + b"# the azpublish emulator's CA\n" + ca_pem
