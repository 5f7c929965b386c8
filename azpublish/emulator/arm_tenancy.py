"""ARM above the sites: subscriptions, tenants, resource groups, site and resource lists, plans."""

from __future__ import annotations

import re

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


def _resources(ctx: EmulatorContext, group: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for app in ctx.store.apps():
        if group and app.resource_group.lower() != group:
            continue
        for key, site in sorted(app.sites.items()):
            found.append({"id": shapes.site_id(ctx, app, site),
                          "name": shapes.site_name(app, site),
                          "type": "Microsoft.Web/sites/slots" if key else "Microsoft.Web/sites",
                          "kind": "functionapp,linux", "location": app.location,
                          "tags": dict(site.tags)})
        found.append({"id": shapes.plan_id(ctx, app), "name": plan_name(app.name),
                      "type": "Microsoft.Web/serverFarms", "kind": "functionapp",
                      "location": app.location, "tags": {}})
    return found


_CLAUSE = re.compile(r"^\s*(resourceType|resourceGroup|name)\s+eq\s+'([^']*)'\s*$",
                     re.IGNORECASE)


def resource_filter(expression: str) -> list[tuple[str, str]] | None:
    """``$filter`` clauses (``resourceType``, ``resourceGroup`` or ``name`` ``eq '...'``, joined
    by ``and``);
    None for what the emulator does not evaluate."""
    clauses = []
    for part in re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if match is None:
            return None
        clauses.append((match.group(1).lower(), match.group(2).lower()))
    return clauses


@route("GET", "subscriptions/{sub}/resources", "subscriptions/{sub}/resourcegroups/{rg}/resources")
async def _list_resources(call: ArmCall) -> Response:
    expression = next((v for k, v in call.request.query_params.items()
                       if k.lower() == "$filter"), "")
    clauses = resource_filter(expression) if expression else []
    if clauses is None:
        return arm_error(call.request, 400, "InvalidFilterInQueryString",
                         f"The $filter '{expression}' is not supported by the emulator: use "
                         "resourceType, resourceGroup or name eq '...', joined by and.")

    def field_of(resource: dict[str, object], field: str) -> str:
        if field == "resourcegroup":  # /subscriptions/S/resourceGroups/G/...
            return str(resource["id"]).split("/")[4].lower()
        return str(resource["type" if field == "resourcetype" else "name"]).lower()

    value = [r for r in _resources(call.ctx, call.params.get("rg", "").lower())
             if all(field_of(r, field) == wanted for field, wanted in clauses)]
    return arm_json(call.request, {"value": value})
