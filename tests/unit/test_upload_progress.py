"""Upload progress counts what the server's TCP acknowledged: against a server that never
reads, it never runs ahead of the bytes that reached the server, and a package small enough to
sit whole in the client's send buffer is still known not to have arrived."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from azpublish.azure.kudu import BasicAuth, KuduClient, KuduError
from azpublish.azure.retry import RetryPolicy

PACKAGE_SIZE = 512 << 10  # fits the client's send buffer: read whole long before it arrives


@pytest.fixture
def deaf_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A server with a tiny receive buffer that accepts and never reads."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited when accepted
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        accepted: list[socket.socket] = []
        acceptor = threading.Thread(target=lambda: accepted.append(server.accept()[0]))
        acceptor.start()
        yield server.getsockname()[1], accepted
        acceptor.join(timeout=10)
        for connection in accepted:
            connection.close()


def received(connection: socket.socket) -> int:
    """Bytes waiting in the server's receive queue: what its TCP acknowledged."""
    answer = fcntl.ioctl(connection.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", answer)[0])


def upload_in_thread(port: int, package: Path, shown: list[int]) -> tuple[threading.Thread,
                                                                             list[BaseException]]:
    client = KuduClient(f"http://127.0.0.1:{port}/", BasicAuth("u", "p"),
                        retry=RetryPolicy(attempts=1), upload_timeout=(2.0, 3.0))
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            client.zipdeploy(package, deployer="t", message="m", progress=shown.append)
        except BaseException as error:  # handed to the test's thread
            errors.append(error)

    thread = threading.Thread(target=upload)
    thread.start()
    return thread, errors


def test_progress_never_runs_ahead_of_what_reached_the_server(
        tmp_path: Path, deaf_server: tuple[int, list[socket.socket]]) -> None:
    port, accepted = deaf_server
    package = tmp_path / "app.zip"
    package.write_bytes(os.urandom(PACKAGE_SIZE))
    shown: list[int] = []
    thread, errors = upload_in_thread(port, package, shown)
    deadline = time.monotonic() + 10
    while not accepted:
        assert time.monotonic() < deadline, "the client never connected"
        time.sleep(0.01)
    time.sleep(1.0)  # the client has handed everything to its socket by now
    at_server = received(accepted[0])
    thread.join(timeout=30)
    assert at_server < PACKAGE_SIZE // 4  # the premise: most of it never left the client
    assert max(shown, default=0) <= at_server  # never more than arrived
    assert errors and isinstance(errors[0], KuduError)


def test_a_small_package_the_server_never_took_is_said_to_have_stalled(
        tmp_path: Path, deaf_server: tuple[int, list[socket.socket]]) -> None:
    port, _ = deaf_server
    package = tmp_path / "app.zip"
    package.write_bytes(os.urandom(PACKAGE_SIZE))
    thread, errors = upload_in_thread(port, package, [])
    thread.join(timeout=30)
    [error] = errors
    assert isinstance(error, KuduError)
    assert "the upload stalled" in error.what
    assert "took the upload" not in error.what
