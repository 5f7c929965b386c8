"""Around every HTTPS request: injected failures first, then the request journal and access log.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware) so that handlers keep the server's
own ``receive``: streamed uploads and the dropped-connection fault depend on it.
"""

from __future__ import annotations

import time
import traceback
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.faults import Fault
from azpublish.emulator.responses import arm_error, rp_error, text
from azpublish.emulator.uploads import DRAIN_CAP
from azpublish.redact import redact

ADMIN_PREFIX = "/_emulator"
ARM_PREFIXES = ("/subscriptions", "/providers", "/tenants", "/metadata")


def app_of(path: str) -> str | None:
    """The app a request is about, for faults narrowed to one app."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] in ("scm", "sites"):
        return parts[1]
    lowered = [p.lower() for p in parts]
    if "sites" in lowered and lowered.index("sites") + 1 < len(parts):
        return parts[lowered.index("sites") + 1]
    return None


# What syncfunctiontriggers answers now and then right after a deployment (reference section 8).
SYNC_ERROR_MESSAGE = "Encountered an error (InternalServerError) from host runtime."


def fault_response(request: Request, fault: Fault) -> Response:
    if fault.kind == "sync_error":  # the resource provider's own answer, unwrapped
        return rp_error(request, 400, "BadRequest", SYNC_ERROR_MESSAGE)
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    message = f"Injected fault {fault.id}: this request fails with {fault.status}."
    if request.url.path.startswith(ARM_PREFIXES):
        code = {429: "TooManyRequests", 503: "ServiceUnavailable", 502: "BadGateway",
                500: "InternalServerError"}.get(fault.status, "InjectedFault")
        return arm_error(request, fault.status, code, message, headers)
    return text(message, fault.status, headers)


class EmulatorMiddleware:
    def __init__(self, app: ASGIApp, ctx: EmulatorContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        path: str = scope["path"]
        method: str = scope["method"]
        status = [0]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            fault = None
            if not path.startswith(ADMIN_PREFIX):
                fault = self.ctx.faults.take_failure(method, path, app_of(path))
            if fault is not None:
                request = Request(scope, receive)
                await _drain(request)
                await fault_response(request, fault)(scope, receive, tracking_send)
            else:
                await self.app(scope, receive, tracking_send)
        except Exception:
            # Starlette has already answered 500; keep the traceback in the emulator's log.
            self.ctx.log(redact(f"{method} {path} failed:\n{traceback.format_exc()}"))
        finally:
            if not path.startswith(ADMIN_PREFIX):
                self._record(scope, method, path, status[0], time.monotonic() - started)

    def _record(self, scope: Scope, method: str, path: str, status: int,
                seconds: float) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        lowered = {k.lower(): v for k, v in parse_qs(query).items()}
        api_version = lowered.get("api-version", [None])[0]
        self.ctx.journal.record(method=method, path=path, query=query, status=status,
                                api_version=api_version, ms=round(seconds * 1000, 1))
        suffix = f"?{query}" if query else ""
        self.ctx.log(redact(f"{method} {path}{suffix} -> {status} ({seconds * 1000:.0f} ms)"))


async def _drain(request: Request) -> None:
    budget = DRAIN_CAP
    try:
        async for chunk in request.stream():
            budget -= len(chunk)
            if budget < 0:
                return
    except Exception:  # a client that went away has nothing left to drain
        return
