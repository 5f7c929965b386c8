"""The Functions host's own admin API on the app's host name: ``/admin/host/status`` and
``/admin/functions/{name}/status``.

As the host answers them: the master key is required (``x-functions-key`` or ``?code=``; admin
level, so neither the default host key nor a function key will do), 401 with no body otherwise.
The host status ``id`` follows the host's rules (the site name, ``-slot`` for a slot, lower
case, at most 32 characters, no trailing ``-``; on Flex a hash of that name).

A function's status holds only what the host itself refused (see ``hostmeta``): a listed
function it could not create (``host_error``, kept with the site's functions) or one it did
not list at all (its last index of the site, ``funchost.last_index``, kept in memory). Any
other listed function answers ``{}`` (a v1 script that does not import too: that is the
worker's error, only in the host log), a name the host never saw 404. The host status has
``errors`` only when the host itself failed to start (the worker could not be started or did
not answer), and ``state`` is then ``Error`` when nothing is listed; an import error in
function_app.py leaves it ``Running`` with no ``errors``. The host leaves ``errors`` out when
there are none.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from azpublish.emulator import funchost
from azpublish.emulator.context import context_of
from azpublish.emulator.hostkeys import given_key, is_master_key
from azpublish.emulator.model import App, Site
from azpublish.redact import redact

HOST_VERSION = "4.1044.400.0"
HOST_VERSION_DETAILS = "4.1044.400+azpublish-emulator"
MAX_HOST_ID = 32
_STARTED = time.monotonic()  # the emulator's host runs as long as the emulator does
_FUNCTION_STATUS = re.compile(r"functions/(?P<name>[^/]+)/status")


def host_id(app: App, site: Site) -> str:
    unique = (f"{app.name}-{site.slot}" if site.slot else app.name).lower()
    if app.plan == "flex":  # a GUID from the MD5 of the name, in .NET's byte order
        return uuid.UUID(bytes_le=hashlib.md5(unique.encode(), usedforsecurity=False)
                         .digest()).hex
    return unique[:MAX_HOST_ID].rstrip("-")


def content_editing_state(app: App, site: Site) -> str:
    """What the host can tell about editing the app's files: only on Linux Consumption (and
    Flex), where it is allowed with an Azure Files share and no run-from-package."""
    if app.plan not in ("consumption", "flex"):
        return "Unknown"
    names = {name.upper() for name, value in site.settings.items() if value}
    share = {"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE"} <= names
    return "Allowed" if share and "WEBSITE_RUN_FROM_PACKAGE" not in names else "NotAllowed"


def host_status(app: App, site: Site,
                index: funchost.IndexResult | None = None) -> dict[str, object]:
    errors = [redact(e) for e in index.host_errors] if index else []
    status: dict[str, object] = {
        "id": host_id(app, site),
        "state": "Error" if errors and not site.functions else "Running",
        "version": HOST_VERSION,
        "versionDetails": HOST_VERSION_DETAILS,
        "platformVersion": "",  # empty on Linux workers
        "instanceId": "azpublish-emulator",
        "computerName": "",
        "processUptime": int((time.monotonic() - _STARTED) * 1000),
        "functionAppContentEditingState": content_editing_state(app, site),
    }
    if errors:
        status["errors"] = errors
    return status


def function_status(site: Site, name: str,
                    index: funchost.IndexResult | None) -> dict[str, object] | None:
    """The host's answer for one function (None: 404). Names compare case-insensitively."""
    listed = next((f for f in site.functions if f.name.lower() == name.lower()), None)
    if listed is not None and listed.host_error:
        return {"errors": [redact(listed.host_error)]}
    errors = next((texts for known, texts in (index.function_errors if index else {}).items()
                   if known.lower() == name.lower()), ())
    if errors:
        return {"errors": [redact(e) for e in errors]}
    return {} if listed is not None else None


def admin_endpoint(request: Request, app: App, site: Site, path: str) -> Response:
    """``path`` is the part after ``admin/``, lower-cased."""
    route = path.strip("/")
    function = _FUNCTION_STATUS.fullmatch(route)
    if route != "host/status" and function is None:
        return Response(status_code=404)
    if request.method != "GET":
        return Response(status_code=405, headers={"Allow": "GET"})
    if not is_master_key(site, given_key(request)):
        return Response(status_code=401)
    wwwroot = context_of(request).layout.wwwroot(app.name, site.slot)
    index = funchost.last_index(wwwroot, [f.name for f in site.functions])
    if function is None:
        return JSONResponse(host_status(app, site, index))
    answer = function_status(site, function["name"], index)
    return Response(status_code=404) if answer is None else JSONResponse(answer)
