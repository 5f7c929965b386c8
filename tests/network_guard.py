"""A tripwire for traffic that would leave loopback, for the whole test session.

Two nets, because a test's code runs both in this process and in subprocesses (the emulator,
pip, uv, the Azure CLI):

* in this process, ``socket.socket.connect``/``connect_ex``/``sendto`` and
  ``socket.getaddrinfo`` refuse any address outside loopback (and any name that only a DNS server
  could resolve) before a packet is sent;
* subprocesses inherit ``HTTP(S)_PROXY``/``ALL_PROXY`` pointing at a proxy on loopback that
  refuses every request and records its target, with ``NO_PROXY`` naming loopback, so an HTTP
  client that honours the proxy variables (requests, pip, uv, httpx, azure-core, the Azure CLI)
  reaches this tripwire instead of the internet.

Each refusal is recorded; the ``conftest`` fixture fails the test during which one happened.
Setup that must reach a package index runs before pytest (``scripts/test-setup.sh``), never here.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost",
                            "ip6-loopback"})
NO_PROXY = "localhost,.localhost,127.0.0.0/8,127.0.0.1,::1,[::1]"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                   "all_proxy")


class OffLoopbackError(ConnectionRefusedError):
    """Raised where a test's code would have sent a packet off this machine's loopback."""


def _hosts_file_loopback_names(path: Path = Path("/etc/hosts")) -> frozenset[str]:
    names: set[str] = set()
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return frozenset()
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and is_loopback_address(fields[0]):
            names.update(name.lower() for name in fields[1:])
    return frozenset(names)


def is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


class NetworkGuard:
    def __init__(self) -> None:
        self.violations: list[str] = []
        self._lock = threading.Lock()
        self._local_names = LOOPBACK_NAMES | _hosts_file_loopback_names()
        self._proxy: socketserver.ThreadingTCPServer | None = None
        self._saved: dict[str, Any] = {}

    # -- what counts as local ----------------------------------------------------------------

    def name_is_local(self, host: str) -> bool:
        name = host.rstrip(".").lower()
        return (name in self._local_names or name.endswith(".localhost")
                or is_loopback_address(name))

    def record(self, what: str) -> None:
        from azpublish.redact import redact

        with self._lock:  # a refused URL may carry an index's credentials: never show them
            self.violations.append(redact(what))

    def take(self) -> list[str]:
        with self._lock:
            taken, self.violations = self.violations, []
        return taken

    # -- in this process ---------------------------------------------------------------------

    def _check_address(self, family: int, address: Any, doing: str) -> None:
        if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
            return
        host = str(address[0])
        if self.name_is_local(host):
            return
        self.record(f"{doing} {host}:{address[1]}")
        raise OffLoopbackError(f"the test suite's network guard refused {doing} {host} "
                               f"(only loopback is allowed in tests)")

    def install(self) -> dict[str, str]:
        """Patch the socket module; start the proxy tripwire; return the proxy variables."""
        guard = self
        original_connect = socket.socket.connect
        original_connect_ex = socket.socket.connect_ex
        original_sendto = socket.socket.sendto
        original_getaddrinfo = socket.getaddrinfo

        def connect(sock: socket.socket, address: Any) -> None:
            guard._check_address(sock.family, address, "a connection to")
            original_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard._check_address(sock.family, address, "a connection to")
            return original_connect_ex(sock, address)

        def sendto(sock: socket.socket, data: Any, *args: Any) -> int:
            guard._check_address(sock.family, args[-1], "a datagram to")
            return original_sendto(sock, data, *args)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host is not None:
                name = host.decode() if isinstance(host, bytes) else str(host)
                if not (_is_ip_literal(name) or guard.name_is_local(name)):
                    guard.record(f"a name lookup of {name}")
                    raise socket.gaierror(socket.EAI_NONAME,
                                          f"the test suite's network guard refused to look "
                                          f"up {name} (only loopback names resolve in tests)")
            return original_getaddrinfo(host, *args, **kwargs)

        self._saved = {"connect": original_connect, "connect_ex": original_connect_ex,
                       "sendto": original_sendto, "getaddrinfo": original_getaddrinfo}
        for name, patched in (("connect", connect), ("connect_ex", connect_ex),
                              ("sendto", sendto)):
            setattr(socket.socket, name, patched)
        socket.getaddrinfo = getaddrinfo
        return self._start_proxy()

    def uninstall(self) -> None:
        if self._saved:
            for name in ("connect", "connect_ex", "sendto"):
                setattr(socket.socket, name, self._saved[name])
            socket.getaddrinfo = self._saved["getaddrinfo"]
            self._saved = {}
        if self._proxy is not None:
            self._proxy.shutdown()
            self._proxy.server_close()
            self._proxy = None

    # -- for subprocesses ----------------------------------------------------------------------

    def _start_proxy(self) -> dict[str, str]:
        record: Callable[[str], None] = self.record

        class Refuse(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.connection.settimeout(10)
                try:
                    line = self.rfile.readline(8192).decode("latin-1").strip()
                except OSError:
                    return
                if not line:
                    return
                record(f"a proxied request from a subprocess: {line}")
                body = b"refused by the test suite's network guard: only loopback in tests\n"
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n"
                                 b"Content-Type: text/plain\r\nContent-Length: "
                                 + str(len(body)).encode() + b"\r\n\r\n" + body)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._proxy = Server(("127.0.0.1", 0), Refuse)
        threading.Thread(target=self._proxy.serve_forever, name="network-guard-proxy",
                         daemon=True).start()
        url = f"http://127.0.0.1:{self._proxy.server_address[1]}"
        variables = dict.fromkeys(PROXY_VARIABLES, url)
        variables.update(NO_PROXY=NO_PROXY, no_proxy=NO_PROXY)
        return variables
