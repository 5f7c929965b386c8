"""Slot-sticky settings (``config/slotConfigNames``) and slot swaps (``slotsswap``).

``slotConfigNames`` belongs to the app (production's path only, as in the REST specification);
a swap of production with a slot is ``POST sites/{app}/slotsswap`` with the slot as
``targetSlot``, and of a slot with another (or production) ``POST .../slots/{slot}/slotsswap``.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from starlette.responses import Response

from azpublish.emulator import arm_shapes as shapes
from azpublish.emulator.arm_routing import SITE, ArmCall, headers, route, site_route
from azpublish.emulator.model import App
from azpublish.emulator.responses import BadRequest, arm_json, read_json_object
from azpublish.emulator.swap import swap_sites

NAME_LISTS = ("connectionStringNames", "appSettingNames", "azureStorageConfigNames")


def _names_body(call: ArmCall, app: App) -> dict[str, Any]:
    properties = {key: list(app.slot_config_names[key]) if app.slot_config_names.get(key)
                  else None for key in NAME_LISTS}
    return shapes.envelope(call.ctx, app,
                           f"{shapes.site_id(call.ctx, app, app.production)}/config/"
                           "slotConfigNames", "slotConfigNames", "Microsoft.Web/sites/config",
                           properties)


@route("GET", SITE + "/config/slotconfignames")
async def _get_names(call: ArmCall) -> Response:
    app, _ = call.target
    return arm_json(call.request, _names_body(call, app))


@route("PUT", SITE + "/config/slotconfignames")
async def _put_names(call: ArmCall) -> Response:
    app, site = call.target
    body = await read_json_object(call.request)
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise BadRequest("InvalidRequestContent", "'properties' must be a JSON object.")
    names: dict[str, list[str]] = {}
    for key in NAME_LISTS:
        value = properties.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest("InvalidRequestContent", f"'properties.{key}' must be a list of "
                             "strings or null.")
        names[key] = list(dict.fromkeys(value))

    def change(_: object) -> None:
        app.slot_config_names = names

    await to_thread.run_sync(call.ctx.store.update, app, change, site)
    return arm_json(call.request, _names_body(call, app))


@site_route("POST", "slotsswap")
async def _swap(call: ArmCall) -> Response:
    app, source = call.target
    body = await read_json_object(call.request)
    target_name = body.get("targetSlot")
    if not isinstance(target_name, str) or not target_name.strip():
        raise BadRequest("InvalidRequestContent", "'targetSlot' is required: the slot to swap "
                         "with ('production' for the production site).")
    key = "" if target_name.lower() == "production" else target_name.lower()
    target = app.site(key or None)
    if target is None:
        raise BadRequest("BadRequest", f"Cannot find slot '{target_name}' of site "
                         f"'{app.name}'.")
    if target is source:
        raise BadRequest("BadRequest", "Source and target slot of a swap cannot be the same.")
    await to_thread.run_sync(swap_sites, call.ctx.store, app, source, target)
    # The service answers 202 and finishes in the background; the emulator swaps at once.
    return Response(status_code=200, headers=headers(call))
