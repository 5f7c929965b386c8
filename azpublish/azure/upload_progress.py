"""Upload progress on bytes the server has acknowledged, not bytes handed to the kernel.

requests reads the body as fast as the socket takes it, and the socket's send buffer holds
megabytes: counted at read time, a 2 MB package reads "100%" while the server has had a tenth
of it. So the connections this adapter makes note, per thread, which socket is sending, and the
reader subtracts what that socket's send queue still holds (``TIOCOUTQ``: bytes not yet
acknowledged by the peer's TCP). Where that cannot be read (not Linux, a proxy's connection),
the count falls back to bytes sent.
"""

from __future__ import annotations

import fcntl
import struct
import termios
import threading
from collections.abc import Callable
from typing import IO, Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_sending = threading.local()  # .connection: the connection sending a request on this thread


def sending() -> object | None:
    """The connection sending a request on this thread, if one of ours is."""
    return getattr(_sending, "connection", None)


def unacknowledged(connection: object | None) -> int:
    """Bytes ``connection``'s socket has queued that its peer has not acknowledged."""
    sock = getattr(connection, "sock", None)
    if sock is None:
        return 0
    try:
        answer = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError):  # closed, or a socket kind without a send queue
        return 0
    return max(0, int(struct.unpack("i", answer)[0]))


class _Noting:
    """Mixed into urllib3's connections: note this connection while it sends a request, and
    what the server had not taken when its answer came or the wait for it ended (read while
    the socket is still open: urllib3 closes it on a timeout)."""

    unanswered_queue: int | None = None

    def request(self, *args: Any, **kwargs: Any) -> None:
        _sending.connection = self
        self.unanswered_queue = None
        try:
            super().request(*args, **kwargs)  # type: ignore[misc]
        finally:
            _sending.connection = None

    def getresponse(self) -> Any:
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            self.unanswered_queue = unacknowledged(self)


class _NotingHTTPConnection(_Noting, HTTPConnection):
    pass


class _NotingHTTPSConnection(_Noting, HTTPSConnection):
    pass


class _NotingHTTPPool(HTTPConnectionPool):
    ConnectionCls = _NotingHTTPConnection


class _NotingHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _NotingHTTPSConnection


class AcknowledgedProgressAdapter(HTTPAdapter):
    """requests' adapter, with connections whose sending socket ``unacknowledged`` can read."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _NotingHTTPPool,
                                                   "https": _NotingHTTPSPool}


class ProgressReader:
    """A file wrapper for a streamed body that reports, as it is read, how much of it the
    server has acknowledged so far in this attempt."""

    def __init__(self, handle: IO[bytes], size: int, progress: Callable[[int], None]) -> None:
        self._handle = handle
        self._size = size
        self._read = 0
        self._progress = progress
        self._connection: object | None = None
        self.acknowledged = 0

    def __len__(self) -> int:
        return self._size

    @property
    def incomplete(self) -> bool:
        """Whether the server stopped taking the package before its end."""
        left = getattr(self._connection, "unanswered_queue", None) or 0
        return self._read - left < self._size

    def read(self, size: int = -1) -> bytes:
        if self._connection is None:
            self._connection = sending()
        # Everything read before this call has been handed to the socket by now.
        acknowledged = max(self.acknowledged, self._read - unacknowledged(self._connection))
        if acknowledged != self.acknowledged:
            self.acknowledged = acknowledged
            self._progress(acknowledged)
        chunk = self._handle.read(size)
        self._read += len(chunk)
        return chunk

    def answered(self) -> None:
        """The server answered: it has what it read of the body."""
        self.acknowledged = self._read
        self._progress(self._read)

    def close(self) -> None:
        self._handle.close()
