"""Plain-data views of the emulator's apps, shared by the admin API and the offline CLI."""

from __future__ import annotations

from typing import Any

from azpublish.emulator.model import App, Site
from azpublish.emulator.plans import SKUS, plan_name
from azpublish.emulator.urls import EmulatorUrls


def site_summary(site: Site, urls: EmulatorUrls | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slot": site.slot,
        "restart_count": site.restart_count,
        "functions": [f.name for f in site.functions],
        "deploying": site.deploying is not None,
        "deployments": len(site.deployments),
        "publishing_user": site.publishing_user,
        "scm_basic_auth": site.scm_allow,
        "linux_fx_version": site.linux_fx_version,
    }
    if urls is not None:
        data["default_host_name"] = urls.site_host(site.app, site.slot)
        data["scm_host_name"] = urls.scm_host(site.app, site.slot)
    return data


def app_summary(app: App, urls: EmulatorUrls | None) -> dict[str, Any]:
    return {
        "name": app.name,
        "resource_group": app.resource_group,
        "plan": app.plan,
        "plan_name": plan_name(app.name),
        "sku_tier": SKUS[app.plan].tier,
        "python": app.python,
        "location": app.location,
        "created": app.created,
        "sites": [site_summary(s, urls) for _, s in sorted(app.sites.items())],
    }
