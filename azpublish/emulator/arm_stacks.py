"""``providers/Microsoft.Web/functionAppStacks`` and its per-location variant: the runtimes the
Azure CLI checks an app against before it deploys (``locations/{location}/functionAppStacks``
with ``sku=FC1`` is how it validates a Flex Consumption app).

Only the Python stack on Linux is described — the one stack the emulator runs. Query options:
``stackOsType`` (windows answers no Python), ``stack``, ``removeHiddenStacks``,
``removeDeprecatedStacks``, and ``sku`` (``FC1`` keeps the versions Flex offers, with their
``Sku`` details).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from azpublish.emulator.arm_routing import ArmCall, route
from azpublish.emulator.responses import arm_json, lower_query

# Python versions on Linux Functions ~4 and the end of their support (October of EOL year).
PYTHON_VERSIONS = {"3.13": 2029, "3.12": 2028, "3.11": 2027, "3.10": 2026, "3.9": 2025}
FLEX_VERSIONS = ("3.13", "3.12", "3.11", "3.10")
DEFAULT_VERSION = "3.11"


def _end_of_life(version: str) -> dt.datetime:
    return dt.datetime(PYTHON_VERSIONS[version], 10, 31, tzinfo=dt.timezone.utc)


def _flex_sku(version: str) -> dict[str, Any]:
    return {"skuCode": "FC1",
            "instanceMemoryMB": [{"size": 512, "isDefault": False},
                                 {"size": 2048, "isDefault": True},
                                 {"size": 4096, "isDefault": False}],
            "maximumInstanceCount": {"lowestMaximumInstanceCount": 40,
                                     "highestMaximumInstanceCount": 1000, "defaultValue": 100},
            "functionAppConfigProperties": {"runtime": {"name": "python", "version": version}}}


def _minor(version: str, *, flex: bool, now: dt.datetime) -> dict[str, Any]:
    end = _end_of_life(version)
    settings: dict[str, Any] = {
        "runtimeVersion": f"Python|{version}",
        "isDefault": version == DEFAULT_VERSION,
        "isPreview": False,
        "isDeprecated": end < now,
        "isHidden": False,
        "remoteDebuggingSupported": False,
        "appInsightsSettings": {"isSupported": True},
        "gitHubActionSettings": {"isSupported": True, "supportedVersion": version},
        "appSettingsDictionary": {"FUNCTIONS_WORKER_RUNTIME": "python"},
        "siteConfigPropertiesDictionary": {"use32BitWorkerProcess": False,
                                           "linuxFxVersion": f"Python|{version}"},
        "supportedFunctionsExtensionVersions": ["~4"],
        "endOfLifeDate": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Sku": [_flex_sku(version)] if flex and version in FLEX_VERSIONS else None,
    }
    return {"displayText": f"Python {version}", "value": version,
            "stackSettings": {"linuxRuntimeSettings": settings}}


def python_stack(query: dict[str, str], location: str | None) -> dict[str, Any] | None:
    """The Python stack for this query, or None when the query filters it out."""
    if query.get("stackostype", "all").lower() == "windows":
        return None
    if query.get("stack", "python").lower() != "python":
        return None
    flex = query.get("sku", "").upper() == "FC1"
    now = dt.datetime.now(dt.timezone.utc)
    minors = [_minor(v, flex=flex, now=now) for v in PYTHON_VERSIONS
              if not flex or v in FLEX_VERSIONS]
    if query.get("removedeprecatedstacks", "").lower() == "true":
        minors = [m for m in minors
                  if not m["stackSettings"]["linuxRuntimeSettings"]["isDeprecated"]]
    kind = ("Microsoft.Web/locations/functionAppStacks" if location
            else "Microsoft.Web/functionAppStacks")
    return {"id": None, "name": "python", "type": kind, "location": location,
            "properties": {"displayText": "Python", "value": "python", "preferredOs": "linux",
                           "majorVersions": [{"displayText": "Python 3", "value": "3",
                                              "minorVersions": minors}]}}


@route("GET", "providers/microsoft.web/functionappstacks")
async def _stacks(call: ArmCall) -> Response:
    stack = python_stack(lower_query(call.request), None)
    return arm_json(call.request, {"value": [stack] if stack else [], "nextLink": None})


@route("GET", "providers/microsoft.web/locations/{location}/functionappstacks")
async def _stacks_in(call: ArmCall) -> Response:
    stack = python_stack(lower_query(call.request), call.params["location"])
    return arm_json(call.request, {"value": [stack] if stack else [], "nextLink": None})
