"""What the platform gives a function app at run time: its Python and its environment.

Bridges the emulator's records to the function host (``funchost``) and the builder (``oryx``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from azpublish import runtime
from azpublish.emulator import oryx
from azpublish.emulator.model import App, Site
from azpublish.emulator.urls import EmulatorUrls

DEFAULT_ROUTE_PREFIX = "api"
EMULATOR_PYTHON_OVERRIDE = "AZPUBLISH_EMULATOR_PYTHON"


def python_version(app: App, site: Site) -> str:
    """The app's runtime version: ``linuxFxVersion``, or the Flex runtime config."""
    if app.plan == "flex":
        return app.python
    return oryx.python_version_of(site.linux_fx_version) or app.python


def find_python(version: str) -> Path | None:
    """The interpreter the emulated platform runs ``version`` with: the machine's, as the
    client finds it, unless ``AZPUBLISH_EMULATOR_PYTHON_X_Y`` names another."""
    return runtime.find_python(version, os.environ, override_prefix=EMULATOR_PYTHON_OVERRIDE)


def host_python(version: str) -> tuple[Path, str | None]:
    """The interpreter the host runs the app with, and a warning when it is not ``version``.

    The build insists on the exact version; the host falls back to the emulator's own Python
    so that a package built elsewhere can still be tried here.
    """
    found = find_python(version)
    if found is not None:
        return found, None
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return Path(sys.executable), (
        f"No Python {version} interpreter on this machine; the function host runs the app with "
        f"Python {running} instead (set "
        f"{runtime.override_variable(version, EMULATOR_PYTHON_OVERRIDE)} "
        "to an interpreter to use)."
    )


def runtime_env(app: App, site: Site, urls: EmulatorUrls, wwwroot: Path) -> dict[str, str]:
    """App settings plus the variables App Service sets for every function app."""
    env = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "WEBSITE_SITE_NAME": app.name,
        "WEBSITE_SLOT_NAME": site.slot or "Production",
        "WEBSITE_HOSTNAME": urls.site_host(app.name, site.slot),
        "WEBSITE_RESOURCE_GROUP": app.resource_group,
        "WEBSITE_SKU": {"dedicated": "Basic", "premium": "ElasticPremium",
                        "flex": "FlexConsumption", "consumption": "Dynamic"}[app.plan],
        "WEBSITE_INSTANCE_ID": "azpublish-emulator",
        "AzureWebJobsScriptRoot": str(wwwroot),
        "HOME": str(wwwroot.parent),
    }
    env.update(site.settings)
    return env


def route_prefix(wwwroot: Path) -> str:
    """``extensions.http.routePrefix`` of host.json ("api" when absent or unreadable)."""
    try:
        host = json.loads((wwwroot / "host.json").read_text(encoding="utf-8-sig"))
        value = host["extensions"]["http"]["routePrefix"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_ROUTE_PREFIX
    return str(value).strip("/") if isinstance(value, str) else DEFAULT_ROUTE_PREFIX
