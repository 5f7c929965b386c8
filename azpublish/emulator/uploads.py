"""Receiving an upload: streamed to a file chunk by chunk, never held in memory.

Oversized bodies are refused with 413 after draining what the client is still sending (so it
reads the answer instead of a broken pipe); the ``drop_upload`` fault aborts the TCP connection
midway, as a flaky network would.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from starlette.requests import ClientDisconnect, Request

# Past the limit, drain at most this much more before answering (then the connection closes).
DRAIN_CAP = 256 * 1024 * 1024


class UploadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The upload is larger than the limit of {limit} bytes.")
        self.limit = limit


class UploadBroken(Exception):
    """The client went away (or a fault cut the connection) before the body was complete."""


def abort_connection(request: Request) -> bool:
    """Cut the TCP connection under a request; False when the server does not expose it.

    uvicorn's protocol objects keep the transport on the object whose bound ``receive`` the
    ASGI app gets; aborting it is what a network failure looks like to the client.
    """
    owner = getattr(request.receive, "__self__", None)
    transport = getattr(owner, "transport", None)
    abort = getattr(transport, "abort", None)
    if abort is None:
        return False
    abort()
    return True


async def _drain(request: Request, budget: int) -> None:
    try:
        async for chunk in request.stream():
            budget -= len(chunk)
            if budget < 0:
                return
    except ClientDisconnect:
        return


async def receive_upload(request: Request, destination: Path, *, limit: int,
                         drop_after: int | None = None, idle_timeout: float | None = None,
                         pause: float = 0.0) -> int:
    """Write the body to ``destination``; the number of bytes received. A client that sends
    nothing for ``idle_timeout`` seconds is cut off (``UploadBroken``); ``pause`` seconds are
    waited after each chunk (the ``slow_upload`` fault)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        await _drain(request, DRAIN_CAP)
        raise UploadTooLarge(limit)
    received = 0
    chunks = request.stream().__aiter__()
    try:
        async with await anyio.open_file(destination, "wb") as handle:
            while True:
                try:
                    with anyio.fail_after(idle_timeout):
                        chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    abort_connection(request)
                    raise UploadBroken(f"nothing arrived for {idle_timeout:g} s after "
                                       f"{received} bytes; the connection was closed") from None
                received += len(chunk)
                if drop_after is not None and received >= drop_after:
                    abort_connection(request)
                    raise UploadBroken(f"connection dropped after {received} bytes (fault)")
                if received > limit:
                    await _drain(request, DRAIN_CAP)
                    raise UploadTooLarge(limit)
                await handle.write(chunk)
                if pause:
                    await anyio.sleep(pause)
    except ClientDisconnect as exc:
        raise UploadBroken(f"the client disconnected after {received} bytes") from exc
    return received
