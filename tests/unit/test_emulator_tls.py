"""The emulator's CA and server certificate, checked with a real (in-memory) TLS handshake."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from azpublish.emulator.layout import StateLayout
from azpublish.emulator.tls import ensure_certificates


def _handshake(ca: Path, cert: Path, key: Path, host: str) -> None:
    """A full TLS handshake through memory BIOs: no sockets involved."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(ca))
    client_ctx.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=host)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side, source, sink in (("client", client, c_out, s_in),
                                         ("server", server, s_out, c_in)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            sink.write(source.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def test_server_certificate_is_trusted_for_loopback_names(tmp_path: Path) -> None:
    files = ensure_certificates(StateLayout(tmp_path))
    for host in ("127.0.0.1", "localhost", "::1", "management.azurewebsites.localhost",
                 "my-app.azurewebsites.localhost", "my-app-staging.scm.azurewebsites.localhost"):
        _handshake(files.ca_cert, files.server_cert, files.server_key, host)
    for host in ("example.invalid", "a.b.azurewebsites.localhost", "azurewebsites.localhost"):
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(files.ca_cert, files.server_cert, files.server_key, host)
    assert oct(files.server_key.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "tls" / "ca.key").stat().st_mode & 0o777) == "0o600"


def test_certificates_are_kept_and_a_lost_server_cert_is_reissued(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path)
    first = ensure_certificates(layout)
    ca_before, server_before = first.ca_cert.read_bytes(), first.server_cert.read_bytes()
    again = ensure_certificates(layout)
    assert (again.ca_cert.read_bytes(), again.server_cert.read_bytes()) == \
        (ca_before, server_before)
    first.server_cert.unlink()
    reissued = ensure_certificates(layout)
    assert reissued.ca_cert.read_bytes() == ca_before
    assert reissued.server_cert.read_bytes() != server_before
    cert = x509.load_pem_x509_certificate(reissued.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(ca_before)
    assert cert.issuer == ca.subject
    _handshake(reissued.ca_cert, reissued.server_cert, reissued.server_key, "127.0.0.1")


def test_a_server_cert_without_the_app_service_names_is_reissued(tmp_path: Path) -> None:
    """A state directory from before the host names: its certificate is replaced on start."""
    layout = StateLayout(tmp_path)
    files = ensure_certificates(layout)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key((tmp_path / "tls" / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    old = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
           .issuer_name(ca.subject).public_key(key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1))
           .not_valid_after(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=300))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                          critical=False)
           .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    files.server_cert.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    again = ensure_certificates(layout)
    _handshake(again.ca_cert, again.server_cert, again.server_key,
               "app.scm.azurewebsites.localhost")
