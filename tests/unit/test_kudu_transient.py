"""Which Kudu failures are the service's or the network's trouble (worth asking again later)
and which are the request's own: the tracker keeps following a deployment through the first."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from azpublish.azure.kudu import BasicAuth, KuduClient, KuduError
from azpublish.azure.retry import RetryPolicy


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def test_no_connection_is_transient() -> None:
    client = KuduClient(f"https://127.0.0.1:{closed_port()}/", BasicAuth("u", "p"),
                        retry=RetryPolicy(attempts=1))
    with pytest.raises(KuduError) as caught:
        client.deployment("d1")
    assert caught.value.transient and caught.value.status is None
    assert "could not reach Kudu" in caught.value.what


def test_an_upload_the_server_stops_reading_is_said_to_have_stalled(tmp_path: Path) -> None:
    # A server that takes the connection and never reads: the package cannot arrive whole.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        package = tmp_path / "app.zip"
        package.write_bytes(os.urandom(8 << 20))  # far more than the socket buffers hold
        client = KuduClient(f"http://127.0.0.1:{port}/", BasicAuth("u", "p"),
                            retry=RetryPolicy(attempts=1), upload_timeout=(2.0, 2.0))
        sent: list[int] = []
        with pytest.raises(KuduError) as caught:
            client.zipdeploy(package, deployer="t", message="m", progress=sent.append)
    assert "the upload stalled" in caught.value.what
    assert "took the upload" not in caught.value.what
    assert sent and sent[-1] < package.stat().st_size
