"""Calling a deployed app's HTTP functions: ``/sites/{app}/{routePrefix}/{route}``.

The host's own checks come first, as on Azure: route and method (404/405), then the function's
``authLevel`` against keys from ``?code=`` or ``x-functions-key`` (401). The function then runs in
a fresh worker process (``funchost.invoke_http``) off the event loop; the host log gets a line for
each call and what the function printed. ``/admin/...`` is the host's own API (``hostadmin``).
"""

from __future__ import annotations

import time
import uuid

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from azpublish.emulator import apphost, funchost, routes, sitelogs
from azpublish.emulator.context import EmulatorContext, context_of
from azpublish.emulator.funchost import HttpInvocation, IndexedFunction
from azpublish.emulator.hostadmin import admin_endpoint
from azpublish.emulator.hostkeys import authorized, given_key
from azpublish.emulator.model import Site
from azpublish.emulator.responses import text
from azpublish.emulator.store import NotFound
from azpublish.redact import redact

MAX_BODY = 100 * 1024 * 1024  # the Functions host's default request size limit
_DROPPED_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive"}
HOME_PAGE = ("<html><head><title>Your Azure Function App is up and running.</title></head>"
             "<body><h1>Your Functions 4.0 app is up and running</h1>"
             "<p>Served by the azpublish emulator.</p></body></html>")


def _split_prefix(site: Site, rest: str) -> str | None:
    """The path after the route prefix, or None when ``rest`` is outside it."""
    prefix = site.route_prefix.strip("/")
    if not prefix:
        return rest
    head, _, tail = rest.partition("/")
    return tail if head.lower() == prefix.lower() else None


async def invoke_endpoint(request: Request) -> Response:
    ctx = context_of(request)
    try:
        app, site = ctx.store.get_site(request.path_params["app"],
                                       request.path_params.get("slot"))
    except NotFound:
        return text("The function app does not exist on this emulator.", 404)
    rest = request.path_params.get("rest", "").strip("/")
    if not rest and request.method in ("GET", "HEAD"):
        return HTMLResponse(HOME_PAGE)
    head, _, admin_path = rest.partition("/")
    if head.lower() == "admin":  # the host's own routes come before any function's
        return admin_endpoint(request, app, site, admin_path.lower())
    path = _split_prefix(site, rest)
    if path is None:
        return Response(status_code=404)
    functions = list(site.functions)
    found = routes.match_route(functions, path, request.method)
    if found is None:
        allowed = routes.allowed_methods(functions, path)
        if allowed is None:
            return Response(status_code=404)
        return Response(status_code=405, headers={"Allow": ", ".join(sorted(allowed))})
    function, route_params = found
    if not authorized(site, function, given_key(request)):
        return Response(status_code=401)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return text("Request body too large.", 413)
    return await _run(ctx, request, site, function, route_params, bytes(body))


async def _run(ctx: EmulatorContext, request: Request, site: Site, function: IndexedFunction,
               route_params: dict[str, str], body: bytes) -> Response:
    app = ctx.store.get_app(site.app)
    wwwroot = ctx.layout.wwwroot(app.name, site.slot)
    python, _ = apphost.host_python(apphost.python_version(app, site))
    env = apphost.runtime_env(app, site, ctx.urls, wwwroot)
    invocation = HttpInvocation(
        method=request.method, url=str(request.url), headers=dict(request.headers),
        params=dict(request.query_params), route_params=route_params, body=body,
    )
    timeout = ctx.config.invoke_timeout_seconds

    def call() -> funchost.HttpResult:
        return funchost.invoke_http(wwwroot, python, env, function, invocation, timeout=timeout)

    invocation_id = str(uuid.uuid4())
    started = time.monotonic()
    result = await to_thread.run_sync(call)
    if result.error:
        ctx.log(redact(f"{site.label}: function {function.name} failed: {result.error}"))
    _log_invocation(ctx, site, function, invocation_id, result, time.monotonic() - started)
    headers = {k: v for k, v in result.headers.items() if k.lower() not in _DROPPED_HEADERS}
    return Response(result.body, status_code=result.status, headers=headers)


def _log_invocation(ctx: EmulatorContext, site: Site, function: IndexedFunction,
                    invocation_id: str, result: funchost.HttpResult, seconds: float) -> None:
    """Into the site's host log, shaped like the Functions host's own lines."""
    name = f"Functions.{function.name}"
    outcome = "Failed" if result.error else "Succeeded"
    lines = [f"[Information] Executing '{name}' (Id={invocation_id})",
             *(f"[Information] {line}" for line in result.logs.splitlines() if line.strip()),
             *([f"[Error] {result.error.splitlines()[-1]}"] if result.error.strip() else []),
             f"[Information] Executed '{name}' ({outcome}, Id={invocation_id}, "
             f"Duration={seconds * 1000:.0f}ms)"]
    sitelogs.append(ctx.layout, site.app, site.slot, sitelogs.HOST_LOG, lines)
