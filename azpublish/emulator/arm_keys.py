"""Writing a function's keys: ``functions/{name}/keys/{keyName}`` PUT and DELETE, as
``az functionapp function keys set/delete`` and azure-mgmt-web's
``create_or_update_function_secret`` call them. (Reading them is ``listkeys``, in arm_sites.)

A PUT without a value gets a new random key; the answer is the flat ``{"name", "value"}`` the
specification's ``KeyInfo`` describes, 201 for a new key and 200 for a replaced one.
"""

from __future__ import annotations

import secrets

from anyio import to_thread
from starlette.responses import Response

from azpublish.emulator.arm_routing import ArmCall, Refused, headers, site_route
from azpublish.emulator.arm_sites import function_of
from azpublish.emulator.model import Site
from azpublish.emulator.responses import BadRequest, arm_error, arm_json, read_json_object
from azpublish.redact import register_secret

KEY_BYTES = 40


@site_route("PUT", "functions/{function}/keys/{key}")
async def _put_key(call: ArmCall) -> Response:
    app, site, function = function_of(call)
    body = await read_json_object(call.request)
    fields = body.get("properties") if isinstance(body.get("properties"), dict) else body
    value = fields.get("value") if isinstance(fields, dict) else None
    if value is not None and (not isinstance(value, str) or len(value) < 16):
        raise BadRequest("BadRequest", "A key value must be a string of at least 16 characters.")
    name = call.params["key"]
    chosen = value or secrets.token_urlsafe(KEY_BYTES)
    register_secret(chosen)
    existed = name in site.function_keys.get(function, {})

    def change(target: Site) -> None:
        target.function_keys.setdefault(function, {})[name] = chosen

    await to_thread.run_sync(call.ctx.store.update, app, change, site)
    return arm_json(call.request, {"name": name, "value": chosen}, 200 if existed else 201)


@site_route("DELETE", "functions/{function}/keys/{key}")
async def _delete_key(call: ArmCall) -> Response:
    app, site, function = function_of(call)
    name = call.params["key"]
    if name not in site.function_keys.get(function, {}):
        raise Refused(arm_error(call.request, 404, "NotFound",
                                f"The key '{name}' of function '{function}' does not exist."))

    def change(target: Site) -> None:
        target.function_keys[function].pop(name, None)

    await to_thread.run_sync(call.ctx.store.update, app, change, site)
    return Response(status_code=204, headers=headers(call))
