"""Which Kudu failures are the service's or the network's trouble (worth asking again later)
and which are the request's own: the tracker keeps following a deployment through the first."""

from __future__ import annotations

import socket

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
