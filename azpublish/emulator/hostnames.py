"""App Service host names on loopback: which URL scheme to hand out, and the routing that maps
``<app>[-<slot>][.scm].azurewebsites.localhost`` onto the emulator's path-prefixed routes.

The names resolve to loopback without touching real DNS names: ``*.localhost`` is loopback by
RFC 6761, and systemd-resolved and glibc's ``myhostname`` NSS module answer it so. Where they
do not, the path scheme is the fallback (see ``urls``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from azpublish.emulator.urls import ARM_HOST, DNS_SUFFIX, URL_SCHEME_CHOICES, UrlScheme
from azpublish.errors import UsageError

# Names probed before handing out host names: ARM's, and a Kudu one (two labels deeper).
PROBED = (ARM_HOST, f"probe.scm.{DNS_SUFFIX}")
_SLASHES = re.compile(r"/{2,}")
_RAW_SLASHES = re.compile(rb"/{2,}")
NAME_RESOLUTION_FIX = (
    "make *.localhost resolve to loopback: install libnss-myhostname and put 'myhostname' in "
    "the hosts: line of /etc/nsswitch.conf (make test does this), or use systemd-resolved; or "
    "start with --url-scheme path")


def resolves_to_loopback(name: str) -> bool:
    try:
        answers = socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {str(answer[4][0]).split("%", 1)[0] for answer in answers}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def listens_on_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def choose_scheme(requested: str, listen_host: str,
                  resolves: Callable[[str], bool] = resolves_to_loopback) -> UrlScheme:
    """``auto``: host names where they reach this listener, else path prefixes."""
    if requested == "path":
        return "path"
    unresolved = [name for name in PROBED if not resolves(name)]
    usable = listens_on_loopback(listen_host) and not unresolved
    if requested == "hostnames" and not usable:
        why = (f"{', '.join(unresolved)} do not resolve to loopback" if unresolved
               else f"the emulator listens on {listen_host}, not on loopback")
        raise UsageError(f"--url-scheme hostnames: {why}", fix=NAME_RESOLUTION_FIX)
    if requested not in URL_SCHEME_CHOICES:
        raise UsageError(f"unknown URL scheme {requested!r}",
                         fix=f"use one of: {', '.join(URL_SCHEME_CHOICES)}")
    return "hostnames" if usable else "path"


def split_label(label: str, slots_of: Callable[[str], frozenset[str] | None]
                ) -> tuple[str, str | None]:
    """``app-slot`` into app and slot, given ``slots_of(app)`` (None: no such app).

    App names may hold hyphens too, so the split that names an existing app and slot wins;
    an existing app of the whole label comes first, as App Service keeps the names apart.
    """
    if slots_of(label) is not None:
        return label, None
    for at in [i for i, c in enumerate(label) if c == "-"][::-1]:
        slots = slots_of(label[:at])
        if slots is not None and label[at + 1:] in slots:
            return label[:at], label[at + 1:]
    return label, None


def route_of_host(host: str, split_label: Callable[[str], tuple[str, str | None]]) -> str | None:
    """The path prefix a request to ``host`` is served under ("" for ARM), or None when the
    host is not one of the emulator's names (then the path decides, as in the path scheme)."""
    name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
    if name == ARM_HOST or not name.endswith(f".{DNS_SUFFIX}"):
        return "" if name == ARM_HOST else None
    labels = name[: -len(DNS_SUFFIX) - 1].split(".")
    if len(labels) == 2 and labels[1] == "scm":
        kind = "scm"
    elif len(labels) == 1:
        kind = "sites"
    else:
        return None
    app, slot = split_label(labels[0])
    return f"/{kind}/{app}" + (f"/slots/{slot}" if slot else "")


class HostRouting:
    """Serve the App Service host names by prefixing the path their host stands for, and
    collapse repeated slashes as the service's front end does (a trailing-slash ARM endpoint
    makes clients ask for ``//metadata/endpoints``)."""

    def __init__(self, app: ASGIApp, split_label: Callable[[str], tuple[str, str | None]]
                 ) -> None:
        self.app = app
        self.split_label = split_label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            prefix = route_of_host(host, self.split_label) or ""
            path = _joined(prefix, _SLASHES.sub("/", scope["path"]))
            if path != scope["path"]:
                raw = scope.get("raw_path") or scope["path"].encode("utf-8")
                raw_path = _joined(prefix, _RAW_SLASHES.sub(b"/", raw).decode("latin-1"))
                scope = {**scope, "path": path, "raw_path": raw_path.encode("latin-1")}
        await self.app(scope, receive, send)


def _joined(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return prefix if path.rstrip("/") == "" else prefix + path
