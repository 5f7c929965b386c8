"""A Docker daemon that does not answer properly leaves no socket, client or warning behind.

The daemons here are stand-ins on a unix socket in the test's folder: none listening, one that
hangs up on every request and one that answers 500. A socket that only the garbage collector
closes warns (``ResourceWarning``: docker-py's unix connection leaks its socket when connecting
fails, which is why ``connect`` probes the socket itself first), and the open descriptors of
this process are counted before and after.
"""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azpublish.builders.container import connect
from azpublish.errors import BuildError

# A stand-in daemon in a process of its own, so that only this process's descriptors are
# counted: ``hang-up`` closes every connection at once, ``answer-500`` fails every request.
DAEMON = r'''
import socket, sys
path, mode = sys.argv[1], sys.argv[2]
body = b'{"message": "the daemon is broken"}'
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path + ".partial")
server.listen(8)
import os; os.rename(path + ".partial", path)
while True:
    conn, _ = server.accept()
    with conn:
        try:
            if mode == "answer-500" and conn.recv(65536):  # azpublish's probe sends nothing
                conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\n"
                             b"Content-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        except OSError:
            pass
'''


def _open_descriptors() -> set[str]:
    gc.collect()
    return {entry.name for entry in Path("/proc/self/fd").iterdir()}


@contextlib.contextmanager
def _no_socket_left_to_the_collector() -> Iterator[None]:
    """Fails when a socket opened inside is only closed by the garbage collector (a leak that
    ``gc`` happened to clean up still warns), or is still open afterwards."""
    before = _open_descriptors()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        after = _open_descriptors()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
    assert after <= before  # nothing new is open (earlier leftovers may have closed)


@pytest.fixture
def fake_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(mode: str) -> str:
        path = tmp_path / f"docker-{len(processes)}.sock"
        processes.append(subprocess.Popen([sys.executable, "-c", DAEMON, str(path), mode]))
        deadline = time.monotonic() + 10
        while not path.exists():
            assert time.monotonic() < deadline, "the stand-in daemon did not start"
            time.sleep(0.02)
        host = f"unix://{path}"
        monkeypatch.setenv("DOCKER_HOST", host)
        return host

    yield start
    for process in processes:
        process.kill()
        process.wait(timeout=10)


def test_no_daemon_listening_leaves_nothing_open(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'absent.sock'}")
    with _no_socket_left_to_the_collector(), pytest.raises(BuildError) as caught:
        connect()
    assert "absent.sock" in str(caught.value.where)


@pytest.mark.parametrize("mode", ["hang-up", "answer-500"])
def test_a_daemon_that_fails_the_ping_leaves_nothing_open(
        fake_daemon: Callable[[str], str], mode: str) -> None:
    host = fake_daemon(mode)
    with _no_socket_left_to_the_collector():
        for _ in range(3):
            with pytest.raises(BuildError) as caught:
                connect()
            assert caught.value.where == host


def test_a_given_factory_whose_client_fails_is_closed(fake_daemon: Callable[[str], str]) -> None:
    import docker

    host = fake_daemon("answer-500")
    made: list[docker.DockerClient] = []

    def factory() -> docker.DockerClient:
        client = docker.DockerClient(base_url=host, version="1.41")
        made.append(client)
        return client

    with _no_socket_left_to_the_collector(), pytest.raises(BuildError):
        connect(factory)
    assert len(made) == 1
