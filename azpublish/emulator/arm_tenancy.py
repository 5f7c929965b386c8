"""ARM above the sites: subscriptions, tenants, resource groups, site lists, plans."""

from __future__ import annotations

from starlette.responses import Response

from azpublish.emulator import arm_shapes as shapes
from azpublish.emulator.arm_routing import ArmCall, groups, route
from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.plans import plan_name
from azpublish.emulator.responses import ARM_NOT_FOUND_HINT, arm_error, arm_json


def _subscription(ctx: EmulatorContext) -> dict[str, object]:
    sub = ctx.identity.subscription_id
    return {"id": f"/subscriptions/{sub}", "authorizationSource": "RoleBased",
            "managedByTenants": [], "subscriptionId": sub, "tenantId": ctx.identity.tenant_id,
            "displayName": "azpublish emulator", "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                     "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"}}


@route("GET", "subscriptions")
async def _list_subscriptions(call: ArmCall) -> Response:
    return arm_json(call.request, {"value": [_subscription(call.ctx)],
                                   "count": {"type": "Total", "value": 1}})


@route("GET", "subscriptions/{sub}")
async def _get_subscription(call: ArmCall) -> Response:
    return arm_json(call.request, _subscription(call.ctx))


@route("GET", "tenants")
async def _list_tenants(call: ArmCall) -> Response:
    tid = call.ctx.identity.tenant_id
    return arm_json(call.request, {"value": [
        {"id": f"/tenants/{tid}", "tenantId": tid, "tenantCategory": "Home",
         "displayName": "azpublish emulator", "defaultDomain": "azpublish.invalid"}]})


def _group_body(ctx: EmulatorContext, group: str) -> dict[str, object]:
    name = next((a.resource_group for a in ctx.store.apps() if a.resource_group.lower() ==
                 group.lower()), group)
    return {"id": shapes.group_id(ctx, name), "name": name,
            "type": "Microsoft.Resources/resourceGroups", "location": "westeurope",
            "properties": {"provisioningState": "Succeeded"}}


@route("GET", "subscriptions/{sub}/resourcegroups")
async def _listgroups(call: ArmCall) -> Response:
    return arm_json(call.request, {"value": [_group_body(call.ctx, g)
                                             for g in sorted(groups(call.ctx))]})


@route("GET", "subscriptions/{sub}/resourcegroups/{rg}")
async def _get_group(call: ArmCall) -> Response:
    return arm_json(call.request, _group_body(call.ctx, call.params["rg"]))


@route("GET", "subscriptions/{sub}/providers/microsoft.web/sites",
        "subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.web/sites")
async def _list_sites(call: ArmCall) -> Response:
    group = call.params.get("rg", "").lower()
    apps = [a for a in call.ctx.store.apps() if not group or a.resource_group.lower() == group]
    return arm_json(call.request, {"value": [shapes.site_body(call.ctx, a, a.production)
                                             for a in apps]})


@route("GET", "subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.web/serverfarms/{plan}")
async def _get_plan(call: ArmCall) -> Response:
    wanted = call.params["plan"].lower()
    group = call.params["rg"].lower()
    for app in call.ctx.store.apps():
        if plan_name(app.name).lower() == wanted and app.resource_group.lower() == group:
            return arm_json(call.request, shapes.plan_body(call.ctx, app, len(app.sites)))
    return arm_error(call.request, 404, "ResourceNotFound",
                     f"The Resource 'Microsoft.Web/serverFarms/{call.params['plan']}' under "
                     f"resource group '{call.params['rg']}' was not found. {ARM_NOT_FOUND_HINT}")
