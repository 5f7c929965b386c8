"""The Functions host's own admin API on the app's host name: ``/admin/host/status``.

As the host answers it: the master key is required (``x-functions-key`` or ``?code=``; admin
level, so neither the default host key nor a function key will do), 401 with no body otherwise.
The emulator's host is always ``Running``; its ``id`` follows the host's rules (the site name,
``-slot`` for a slot, lower case, at most 32 characters, no trailing ``-``; on Flex a hash of
that name).
"""

from __future__ import annotations

import hashlib
import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from azpublish.emulator.hostkeys import given_key, is_master_key
from azpublish.emulator.model import App, Site

HOST_VERSION = "4.1044.400.0"
HOST_VERSION_DETAILS = "4.1044.400+azpublish-emulator"
MAX_HOST_ID = 32
_STARTED = time.monotonic()  # the emulator's host runs as long as the emulator does


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


def host_status(app: App, site: Site) -> dict[str, object]:
    return {
        "id": host_id(app, site),
        "state": "Running",
        "version": HOST_VERSION,
        "versionDetails": HOST_VERSION_DETAILS,
        "platformVersion": "",  # empty on Linux workers
        "instanceId": "azpublish-emulator",
        "computerName": "",
        "processUptime": int((time.monotonic() - _STARTED) * 1000),
        "functionAppContentEditingState": content_editing_state(app, site),
    }


def admin_endpoint(request: Request, app: App, site: Site, path: str) -> Response:
    """``path`` is the part after ``admin/``, lower-cased."""
    if path.strip("/") != "host/status":
        return Response(status_code=404)
    if request.method != "GET":
        return Response(status_code=405, headers={"Allow": "GET"})
    if not is_master_key(site, given_key(request)):
        return Response(status_code=401)
    return JSONResponse(host_status(app, site))
