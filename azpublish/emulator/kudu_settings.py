"""Kudu's settings API: ``GET /api/settings[/{name}]``, ``POST /api/settings``,
``DELETE /api/settings/{name}``.

As on Kudu (Linux and Windows alike), POST and DELETE change Kudu's *own* settings (the
``settings.xml`` under ``/home/site/deployments`` on App Service), not the app settings: Kudu and
its builds see them over the app settings, ARM's ``config/appsettings`` never does. They take the
deployment lock: POST waits for it up to 5 seconds, DELETE not at all, then 409.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.model import App, Site, overlay
from azpublish.emulator.responses import text
from azpublish.emulator.store import StateConflict

LOCK_WAIT_SECONDS = 5.0  # how long Kudu's POST waits for a running deployment
_LOCK_POLL = 0.1
MAX_BODY = 1024 * 1024


def kudu_settings(ctx: EmulatorContext, app: App, site: Site) -> dict[str, str]:
    """What Kudu sees: its defaults, under the app settings, under its own settings."""
    defaults = {
        "deployment_branch": "master",
        "SCM_TRACE_LEVEL": "1",
        "SCM_COMMAND_IDLE_TIMEOUT": "60",
        "SCM_LOGSTREAM_TIMEOUT": "7200",
        "SCM_BUILD_ARGS": "",
        "ScmType": "None",
        "WEBSITE_SITE_NAME": app.name,
    }
    if app.plan == "consumption":
        defaults["SCM_RUN_FROM_PACKAGE"] = ""
    with ctx.store.lock:
        return overlay(defaults, site.kudu_settings(ctx.clock(), ctx.settings_delay(app.name)))


async def settings_endpoint(request: Request, ctx: EmulatorContext, app: App, site: Site,
                            names: list[str]) -> Response:
    """``names`` is the path after ``settings`` (at most one setting name)."""
    method = request.method
    if method == "GET" and not names:
        return JSONResponse(kudu_settings(ctx, app, site))
    if method == "GET" and len(names) == 1:
        return _get_one(ctx, app, site, names[0])
    if method == "POST" and not names:
        return await _set(request, ctx, app, site)
    if method == "DELETE" and len(names) == 1:
        return await _delete(ctx, app, site, names[0])
    return text(f"No route registered for '/api/settings/{'/'.join(names)}'", 404)


def _get_one(ctx: EmulatorContext, app: App, site: Site, name: str) -> Response:
    # Kudu answers the first non-empty value, looking through its own settings first.
    found = {k.upper(): v for k, v in kudu_settings(ctx, app, site).items() if v}
    value = found.get(name.upper())
    if value is None:
        return text(f"No setting named '{name}' exists.", 404)
    return text(value)


def _as_setting(value: Any) -> str | None:
    """The string Kudu stores for a JSON value; None for what it cannot store."""
    if isinstance(value, bool):
        return "True" if value else "False"  # .NET's rendering of a JSON boolean
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _parse(body: bytes) -> dict[str, str] | None:
    """The settings a POST body asks for, or None when Kudu would answer 400.

    Both of Kudu's shapes: ``{"name": "value", ...}`` and the older ``{"key": k, "value": v}``.
    """
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    if set(data) == {"key", "value"}:
        data = {data["key"]: data["value"]} if isinstance(data["key"], str) else {"": None}
    values = {name: _as_setting(value) for name, value in data.items()}
    if any(not name or value is None for name, value in values.items()):
        return None
    return {name: value for name, value in values.items() if value is not None}


async def _set(request: Request, ctx: EmulatorContext, app: App, site: Site) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return text("Request Entity Too Large", 413)
    values = _parse(body)
    if values is None:
        return Response(status_code=400)  # Kudu's bare BadRequest()
    waited = 0.0
    while True:
        try:
            await to_thread.run_sync(ctx.store.change_deployment_settings, app, site, values)
            return Response(status_code=204)
        except StateConflict:
            if waited >= LOCK_WAIT_SECONDS:
                return _locked(ctx, site, "Updating deployment settings")
        await asyncio.sleep(_LOCK_POLL)
        waited += _LOCK_POLL


async def _delete(ctx: EmulatorContext, app: App, site: Site, name: str) -> Response:
    try:
        await to_thread.run_sync(ctx.store.change_deployment_settings, app, site, {}, (name,))
    except StateConflict:
        return _locked(ctx, site, "Deleting a deployment setting")
    return Response(status_code=204)  # also when there was no such setting, as on Kudu


def _locked(ctx: EmulatorContext, site: Site, operation: str) -> Response:
    with ctx.store.lock:
        running = site.find_deployment(site.deploying) if site.deploying else None
    since = running.received_time if running else dt.datetime.now(dt.timezone.utc).isoformat()
    return text(f"{operation} clashes with the deployment in progress since {since}; retry "
                "when it has finished.", 409)
