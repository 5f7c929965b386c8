"""ARM's view of a site's Kudu deployments: ``sites/{app}[/slots/{slot}]/deployments`` and
``.../deployments/{id}`` (``az webapp/functionapp log deployment``, ``web_apps.list_deployments``),
plus ``config/metadata`` (the ``CURRENT_STACK`` the portal and CLI keep there).
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from starlette.responses import Response

from azpublish.emulator import arm_shapes as shapes
from azpublish.emulator.arm_routing import ArmCall, site_route
from azpublish.emulator.model import App, Deployment, Site
from azpublish.emulator.responses import (
    ARM_NOT_FOUND_HINT,
    BadRequest,
    arm_error,
    arm_json,
    read_json_object,
)


def _deployment(call: ArmCall, app: App, site: Site, deployment: Deployment,
                active: bool) -> dict[str, Any]:
    resource = f"{shapes.site_id(call.ctx, app, site)}/deployments/{deployment.id}"
    return shapes.envelope(call.ctx, app, resource,
                           f"{shapes.site_name(app, site)}/{deployment.id}",
                           "Microsoft.Web/sites/deployments", {
                               "status": deployment.status, "message": deployment.message,
                               "author": deployment.author, "deployer": deployment.deployer,
                               "author_email": deployment.author_email,
                               "start_time": deployment.start_time,
                               "end_time": deployment.end_time, "active": active,
                               "details": None})


@site_route("GET", "deployments")
async def _list(call: ArmCall) -> Response:
    app, site = call.target
    with call.ctx.store.lock:
        active = site.last_success()
        value = [_deployment(call, app, site, d, d is active) for d in site.newest_deployments()]
    return arm_json(call.request, {"value": value, "nextLink": None})


@site_route("GET", "deployments/{deployment}")
async def _get(call: ArmCall) -> Response:
    app, site = call.target
    with call.ctx.store.lock:
        found = site.find_deployment(call.params["deployment"])
        if found is not None:
            return arm_json(call.request, _deployment(call, app, site, found,
                                                      found is site.last_success()))
    return arm_error(call.request, 404, "ResourceNotFound",
                     f"The Resource 'Microsoft.Web/sites/{app.name}/deployments/"
                     f"{call.params['deployment']}' was not found. {ARM_NOT_FOUND_HINT}")


def _metadata(call: ArmCall, app: App, site: Site) -> dict[str, Any]:
    return shapes.envelope(call.ctx, app, f"{shapes.site_id(call.ctx, app, site)}/config/"
                           "metadata", "metadata", "Microsoft.Web/sites/config",
                           dict(site.metadata))


@site_route("POST", "config/metadata/list")
async def _list_metadata(call: ArmCall) -> Response:
    app, site = call.target
    return arm_json(call.request, _metadata(call, app, site))


@site_route("PUT", "config/metadata")
async def _put_metadata(call: ArmCall) -> Response:
    app, site = call.target
    body = await read_json_object(call.request)
    properties = body.get("properties")
    if not isinstance(properties, dict) or not all(
            isinstance(v, str) for v in properties.values()):
        raise BadRequest("InvalidRequestContent", "'properties' must be an object of strings.")

    def change(target: Site) -> None:
        target.metadata = {str(k): str(v) for k, v in properties.items()}

    await to_thread.run_sync(call.ctx.store.update, app, change, site)
    return arm_json(call.request, _metadata(call, app, site))
