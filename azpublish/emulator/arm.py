"""ARM: the Microsoft.Web management calls azpublish (through azure-mgmt-web) makes.

Authentication, api-version and the subscription/group/app/slot of the path are checked here;
the handlers live in ``arm_tenancy`` (above the sites) and ``arm_sites`` (one site or slot).
Every answer carries ARM's tracing headers and errors have ARM's ``{"error": {...}}`` body.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from azpublish.emulator import (
    arm_deployments,
    arm_keys,
    arm_publishing,
    arm_sites,
    arm_slots,
    arm_stacks,
    arm_tags,
    arm_tenancy,
)
from azpublish.emulator import arm_shapes as shapes
from azpublish.emulator.arm_routing import ROUTES, ArmCall, Refused, groups, match
from azpublish.emulator.auth import check_arm
from azpublish.emulator.context import context_of
from azpublish.emulator.responses import (
    ARM_NOT_FOUND_HINT,
    BadRequest,
    arm_error,
    arm_json,
    lower_query,
)
from azpublish.emulator.store import NotFound, StateConflict
from azpublish.errors import UsageError

HANDLER_MODULES = (arm_deployments, arm_keys, arm_publishing, arm_sites, arm_slots, arm_stacks,
                   arm_tags, arm_tenancy)  # imported for their routes


async def arm_endpoint(request: Request) -> Response:
    ctx = context_of(request)
    refusal = check_arm(request, ctx)
    if refusal is not None:
        return refusal
    if "api-version" not in lower_query(request):
        return arm_error(request, 400, "MissingApiVersionParameter",
                         "The api-version query parameter (?api-version=) is required for all "
                         "requests.")
    segments = [s for s in request.url.path.split("/") if s]
    matched = [(m, h, v) for m, p, h in ROUTES if (v := match(p, segments)) is not None]
    chosen = next(((h, v) for m, h, v in matched if m == request.method), None)
    if chosen is None:
        if matched:
            return arm_error(request, 405, "MethodNotAllowed",
                             f"The requested resource does not support http method "
                             f"'{request.method}'.")
        return arm_error(request, 404, "InvalidResourceType",
                         f"The emulator serves no resource at '{request.url.path}'. It imitates "
                         "the Microsoft.Web calls listed in the README's emulator section.")
    handler, params = chosen
    try:
        call = _resolve(ArmCall(request, ctx, params))
        return await handler(call)
    except Refused as refused:
        return refused.response
    except BadRequest as bad:
        return arm_error(request, 400, bad.code, bad.message)
    except UsageError as bad:
        return arm_error(request, 400, "BadRequest", bad.what)
    except StateConflict as conflict:
        return arm_error(request, 409, "Conflict", str(conflict))


def _resolve(call: ArmCall) -> ArmCall:
    """Check subscription, group, app and slot of the path; 404 as ARM words it."""
    ctx, params, request = call.ctx, call.params, call.request
    if "sub" in params and params["sub"].lower() != ctx.identity.subscription_id:
        raise Refused(arm_error(request, 404, "SubscriptionNotFound",
                                f"The subscription '{params['sub']}' could not be found."))
    group = params.get("rg")
    if group is not None and group.lower() not in groups(ctx):
        raise Refused(arm_error(request, 404, "ResourceGroupNotFound",
                                f"Resource group '{group}' could not be found."))
    if "name" not in params:
        return call
    try:
        app = ctx.store.get_app(params["name"])
    except NotFound:
        app = None
    if app is None or (group is not None and app.resource_group.lower() != group.lower()):
        raise Refused(arm_error(request, 404, "ResourceNotFound",
                                f"The Resource 'Microsoft.Web/sites/{params['name']}' under "
                                f"resource group '{group}' was not found. {ARM_NOT_FOUND_HINT}"))
    slot = params.get("slot")
    site = app.site(slot.lower() if slot else None)
    if site is None and not (request.method == "PUT" and _is_slot_root(params, request)):
        raise Refused(arm_error(request, 404, "ResourceNotFound",
                                f"The Resource 'Microsoft.Web/sites/{app.name}/slots/{slot}' "
                                f"under resource group '{group}' was not found. "
                                f"{ARM_NOT_FOUND_HINT}"))
    return ArmCall(request, ctx, params, app, site)


def _is_slot_root(params: dict[str, str], request: Request) -> bool:
    return "slot" in params and request.url.path.rstrip("/").lower().endswith(
        f"/slots/{params['slot'].lower()}")


async def metadata_endpoint(request: Request) -> Response:
    """``/metadata/endpoints``: no authentication; 2019-05-01 and 2020-06-01 answer a list."""
    ctx = context_of(request)
    body = shapes.metadata_endpoints(ctx)
    version = lower_query(request).get("api-version", "")
    if "2019-05-01" <= version < "2022-09-01":
        return arm_json(request, [body])
    return arm_json(request, body)
