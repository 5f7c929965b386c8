"""Starting and stopping the emulator: two uvicorn servers in one event loop.

The HTTPS listener serves ARM, Kudu, function invocations and administration; a plain-http
listener serves only the managed-identity token endpoint, as on App Service. Sockets are bound
before anything else so the host names handed out carry the real port. SIGINT/SIGTERM stop both
servers gracefully; ``endpoint.json`` is written once both accept connections and removed on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import shutil
import signal
import socket
import sys
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from azpublish.emulator.app import build_https_app
from azpublish.emulator.config import load_config, save_config
from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.deployments import DeploymentRunner
from azpublish.emulator.endpoint import EndpointInfo, write_endpoint
from azpublish.emulator.faults import FaultBook
from azpublish.emulator.filelock import FileLock, LockBusy
from azpublish.emulator.holds import HoldRegistry
from azpublish.emulator.hostnames import choose_scheme
from azpublish.emulator.identity import EmulatorIdentity
from azpublish.emulator.keys import EmulatorKeys, Sealer
from azpublish.emulator.layout import StateLayout
from azpublish.emulator.msi import TOKEN_PATH, build_msi_app
from azpublish.emulator.store import AppStore
from azpublish.emulator.tls import ensure_certificates
from azpublish.emulator.tokens import TokenIssuer
from azpublish.emulator.urls import EmulatorUrls
from azpublish.errors import UsageError
from azpublish.redact import redact

STARTUP_TIMEOUT = 30.0
GRACEFUL_SHUTDOWN = 5


@dataclass(frozen=True)
class ServeOptions:
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    identity_port: int = 0
    url_scheme: str = "auto"  # see urls: "hostnames", "path", or auto-detect
    config_changes: Mapping[str, Any] = field(default_factory=dict)


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to us: two servers must stop together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         fix="choose another --port (0 picks a free one)") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _loopback_twin(host: str, urls: EmulatorUrls) -> list[socket.socket]:
    """The same port on ``::1``, where the host names are handed out: ``*.localhost`` resolves
    to ``::1`` first, and a client would otherwise lose a refused connection on each request."""
    if urls.scheme != "hostnames" or host not in ("127.0.0.1", "localhost"):
        return []
    try:
        return [_bind("::1", urls.port)]
    except UsageError:  # no IPv6 loopback here: clients fall back to 127.0.0.1
        return []


def _file_logger(path: Path) -> Callable[[str], None]:
    logger = logging.getLogger(f"azpublish.emulator.{os.getpid()}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=10 * 1024 * 1024,
                                                   backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)

    def log(message: str) -> None:
        logger.info(redact(message))

    return log


def _server(app: Any, **ssl: Any) -> _QuietServer:
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN, server_header=False,
                            **ssl)
    return _QuietServer(config)


def serve(options: ServeOptions, *, announce: Callable[[str], None] | None = None) -> int:
    """Run until SIGINT/SIGTERM; the exit code (0 after a clean shutdown)."""
    layout = StateLayout(options.state_dir.resolve())
    layout.ensure()
    lock = FileLock(layout.server_lock)
    try:
        lock.acquire(blocking=False)
    except LockBusy as busy:
        raise UsageError("another emulator (or an emulator command) is using this state directory",
                         where=str(layout.root),
                         fix="stop it, or give this one its own --state-dir") from busy
    try:
        return _serve_locked(options, layout, announce or print)
    finally:
        layout.endpoint_file.unlink(missing_ok=True)
        lock.release()


def _clear_orphaned_uploads(layout: StateLayout) -> None:
    """Uploads a killed emulator left half-received: with the state directory's lock held no
    upload can be running, so whatever is there belongs to no one."""
    for leftover in layout.uploads_dir.iterdir():
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _serve_locked(options: ServeOptions, layout: StateLayout,
                  announce: Callable[[str], None]) -> int:
    _clear_orphaned_uploads(layout)
    keys = EmulatorKeys.load(layout)
    identity = EmulatorIdentity.load(layout)
    config = load_config(layout).updated(options.config_changes, where="emulator start")
    save_config(layout, config)
    tls = ensure_certificates(layout)
    https_sock = _bind(options.host, options.port)
    msi_sock = _bind(options.host, options.identity_port)
    urls = EmulatorUrls(options.host, https_sock.getsockname()[1],
                        choose_scheme(options.url_scheme, options.host))
    store = AppStore(layout, Sealer(keys.seal_key))
    store.load()
    faults = FaultBook(layout)
    faults.load()
    holder: dict[str, EmulatorContext] = {}
    tokens = TokenIssuer(keys.token_key, identity,
                         lifetime=lambda: holder["ctx"].config.token_lifetime_seconds)
    ctx = EmulatorContext(layout=layout, identity=identity, keys=keys, store=store,
                          faults=faults, holds=HoldRegistry(), tokens=tokens, urls=urls, tls=tls,
                          config=config, log=_file_logger(layout.log_file))
    holder["ctx"] = ctx
    https_socks = [https_sock, *_loopback_twin(options.host, urls)]
    https = _server(build_https_app(ctx, DeploymentRunner(ctx)),
                    ssl_certfile=str(tls.server_cert), ssl_keyfile=str(tls.server_key))
    msi = _server(build_msi_app(ctx))
    msi_host = f"[{options.host}]" if ":" in options.host else options.host
    info = EndpointInfo(
        arm_endpoint=urls.base, ca_bundle=str(tls.ca_cert),
        identity_endpoint=f"http://{msi_host}:{msi_sock.getsockname()[1]}{TOKEN_PATH}",
        identity_header=keys.identity_header, subscription_id=identity.subscription_id,
        resource_group=identity.resource_group, tenant_id=identity.tenant_id, pid=os.getpid(),
        admin_url=f"{urls.base}/_emulator", url_scheme=urls.scheme,
        trust_bundle=str(tls.trust_bundle),
    )

    def ready() -> None:
        write_endpoint(layout, info)
        ctx.log(f"listening on {urls.base} (identity endpoint {info.identity_endpoint})")
        announce(f"azpublish emulator listening on {urls.base} (managed identity: "
                 f"{info.identity_endpoint}); {urls.scheme_note}; state in {layout.root}")
        sys.stdout.flush()

    return asyncio.run(_run([(https, https_socks), (msi, [msi_sock])], ready,
                            ctx.stopping.set))


def _on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Callable[[], None]:
    """Set ``stop`` on SIGINT/SIGTERM; the function that undoes it."""
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        for signum in signals:
            loop.add_signal_handler(signum, stop.set)
    except NotImplementedError:  # pragma: no cover - Windows event loops
        previous = {s: signal.signal(s, lambda *_: loop.call_soon_threadsafe(stop.set))
                    for s in signals}

        def restore_handlers() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore_handlers

    def remove_handlers() -> None:
        for signum in signals:
            loop.remove_signal_handler(signum)

    return remove_handlers


async def _abort_idle_connections(servers: list[_QuietServer]) -> None:
    """Cut keep-alive connections that sit idle while we stop.

    uvicorn closes them politely, and over TLS that waits for the client's close_notify, which a
    client holding a pooled connection never sends: shutdown would stall for the whole grace
    period. Connections still answering a request are left to finish.
    """
    while True:
        await asyncio.sleep(0.2)
        for server in servers:
            for connection in list(server.server_state.connections):
                cycle = getattr(connection, "cycle", None)
                transport = getattr(connection, "transport", None)
                if transport is not None and (cycle is None or cycle.response_complete):
                    transport.abort()


async def _run(servers: list[tuple[_QuietServer, list[socket.socket]]],
               ready: Callable[[], None], stopping: Callable[[], None]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    restore = _on_signals(loop, stop)
    tasks = [asyncio.create_task(server.serve(sockets=socks)) for server, socks in servers]
    deadline = loop.time() + STARTUP_TIMEOUT
    while not all(server.started for server, _ in servers):
        if any(task.done() for task in tasks) or loop.time() > deadline:
            break
        await asyncio.sleep(0.02)
    failed = not all(server.started for server, _ in servers)
    if not failed:
        ready()
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
    stopping()
    for server, _ in servers:
        server.should_exit = True
    helpers = {asyncio.create_task(_abort_idle_connections([s for s, _ in servers]))}
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for helper in helpers:
        helper.cancel()
    crashed = [r for r in results if isinstance(r, BaseException)]
    restore()
    return 1 if failed or crashed else 0
