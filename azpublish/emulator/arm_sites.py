"""ARM for one site (or slot): config, app settings, credentials, policies, functions, keys."""

from __future__ import annotations

from anyio import to_thread
from starlette.responses import Response

from azpublish.emulator import arm_shapes as shapes
from azpublish.emulator.arm_routing import SITE, SLOT, ArmCall, Refused, headers, route, site_route
from azpublish.emulator.model import App, Site
from azpublish.emulator.responses import (
    BadRequest,
    arm_error,
    arm_json,
    read_json_object,
    rp_error,
)


@site_route("GET")
async def _get_site(call: ArmCall) -> Response:
    app, site = call.target
    return arm_json(call.request, shapes.site_body(call.ctx, app, site))


@route("PUT", SLOT)
async def _put_slot(call: ArmCall) -> Response:
    """Create a slot (copying production's settings), or answer the existing one."""
    assert call.app is not None
    if call.site is None:
        await read_json_object(call.request)
        site = await to_thread.run_sync(call.ctx.store.create_slot, call.app.name,
                                        call.params["slot"])
        return arm_json(call.request, shapes.site_body(call.ctx, call.app, site))
    return arm_json(call.request, shapes.site_body(call.ctx, call.app, call.site))


@route("DELETE", SITE, SLOT)
async def _delete_site(call: ArmCall) -> Response:
    app, site = call.target
    if site.slot is None:
        await to_thread.run_sync(call.ctx.store.delete_app, app.name)
    else:
        await to_thread.run_sync(call.ctx.store.delete_slot, app.name, site.slot)
    return Response(status_code=200, headers=headers(call))


@route("GET", SITE + "/slots")
async def _list_slots(call: ArmCall) -> Response:
    app, _ = call.target
    return arm_json(call.request, {"value": [shapes.site_body(call.ctx, app, s)
                                             for k, s in sorted(app.sites.items()) if k]})


@site_route("GET", "config/web")
async def _get_config(call: ArmCall) -> Response:
    app, site = call.target
    return arm_json(call.request, shapes.config_body(call.ctx, app, site))


@site_route("PUT", "config/web")
@site_route("PATCH", "config/web")
async def _update_config(call: ArmCall) -> Response:
    app, site = call.target
    body = await read_json_object(call.request)
    properties = body.get("properties", {})
    if not isinstance(properties, dict):
        raise BadRequest("InvalidRequestContent", "'properties' must be a JSON object.")
    readonly = {"publishingUsername", "appSettings"}

    def change(target: Site) -> None:
        for key, value in properties.items():
            if key == "linuxFxVersion":
                target.linux_fx_version = "" if value is None else str(value)
            elif key not in readonly and value is not None:
                target.site_config[key] = value

    await to_thread.run_sync(call.ctx.store.update, app, change, site)
    return arm_json(call.request, shapes.config_body(call.ctx, app, site))


@site_route("POST", "config/appsettings/list")
async def _list_settings(call: ArmCall) -> Response:
    app, site = call.target
    return arm_json(call.request, shapes.settings_body(call.ctx, app, site))


def _settings_from(body: dict[str, object]) -> dict[str, str]:
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise BadRequest("InvalidRequestContent",
                         "The request content was invalid: 'properties' must be a JSON object "
                         "of app setting names to values.")
    settings: dict[str, str] = {}
    for name, value in properties.items():
        if isinstance(value, bool):
            settings[name] = "True" if value else "False"
        elif isinstance(value, (str, int, float)):
            settings[name] = str(value)
        else:
            raise BadRequest("InvalidRequestContent",
                             f"The value of app setting '{name}' must be a string.")
        if not name or "=" in name:
            raise BadRequest("BadRequest", f"The app setting name '{name}' is invalid.")
    return settings


@site_route("PUT", "config/appsettings")
async def _put_settings(call: ArmCall) -> Response:
    app, site = call.target
    settings = _settings_from(await read_json_object(call.request))
    if app.plan == "flex":
        rejected = sorted(n for n in settings if n.upper() in call.ctx.config.flex_rejected)
        if rejected:
            return rp_error(call.request, 400, "BadRequest",
                            f"The following app setting (Site.SiteConfig.AppSettings."
                            f"{rejected[0]}) for Flex Consumption sites is invalid. Please "
                            "remove or rename it before retrying.")
    await to_thread.run_sync(call.ctx.store.replace_settings, app, site, settings)
    return arm_json(call.request, shapes.settings_body(call.ctx, app, site))


@site_route("POST", "config/publishingcredentials/list")
async def _list_credentials(call: ArmCall) -> Response:
    app, site = call.target
    return arm_json(call.request, shapes.credentials_body(call.ctx, app, site))


@site_route("GET", "basicpublishingcredentialspolicies/scm")
async def _get_scm_policy(call: ArmCall) -> Response:
    app, site = call.target
    return arm_json(call.request, shapes.policy_body(call.ctx, app, site, "scm"))


@site_route("GET", "basicpublishingcredentialspolicies/ftp")
async def _get_ftp_policy(call: ArmCall) -> Response:
    app, site = call.target
    return arm_json(call.request, shapes.policy_body(call.ctx, app, site, "ftp"))


async def _put_policy(call: ArmCall, which: str) -> Response:
    app, site = call.target
    body = await read_json_object(call.request)
    properties = body.get("properties")
    if not isinstance(properties, dict) or not isinstance(properties.get("allow"), bool):
        raise BadRequest("InvalidRequestContent",
                         "The request content must be {\"properties\": {\"allow\": true|false}}.")
    allow = properties["allow"]

    def change(target: Site) -> None:
        if which == "scm":
            target.scm_allow = allow
        else:
            target.ftp_allow = allow

    await to_thread.run_sync(call.ctx.store.update, app, change, site)
    return arm_json(call.request, shapes.policy_body(call.ctx, app, site, which))


@site_route("PUT", "basicpublishingcredentialspolicies/scm")
async def _put_scm_policy(call: ArmCall) -> Response:
    return await _put_policy(call, "scm")


@site_route("PUT", "basicpublishingcredentialspolicies/ftp")
async def _put_ftp_policy(call: ArmCall) -> Response:
    return await _put_policy(call, "ftp")


@site_route("POST", "syncfunctiontriggers")
async def _sync_triggers(call: ArmCall) -> Response:
    # The service answers 200 where azure-mgmt-web expects 204: clients must accept both.
    return Response(status_code=call.ctx.config.sync_triggers_status, headers=headers(call))


@site_route("POST", "host/default/sync")
async def _sync_functions(call: ArmCall) -> Response:
    return Response(status_code=204, headers=headers(call))


@site_route("POST", "restart")
async def _restart(call: ArmCall) -> Response:
    app, site = call.target

    def change(target: Site) -> None:
        target.restart_count += 1

    await to_thread.run_sync(call.ctx.store.update, app, change, site)
    return Response(status_code=200, headers=headers(call))


@site_route("GET", "functions")
async def _list_functions(call: ArmCall) -> Response:
    app, site = call.target
    if call.ctx.config.quirk("index_lag") and call.ctx.clock() < site.functions_listed_after:
        # As recorded right after a deployment: an empty list, with these nulls.
        return arm_json(call.request, {"value": [], "nextLink": None, "id": None})
    return arm_json(call.request, {"value": [shapes.function_body(call.ctx, app, site, f)
                                             for f in site.functions], "nextLink": None,
                                   "id": None})


def function_of(call: ArmCall) -> tuple[App, Site, str]:
    """The app, site and (exact) name of the function the path names; 404 as the RP says."""
    app, site = call.target
    name = call.params["function"]
    function = next((f for f in site.functions if f.name.lower() == name.lower()), None)
    if function is None:
        raise Refused(arm_error(call.request, 404, "NotFound",
                                f"Error retrieving function '{name}' of site "
                                f"'{shapes.site_name(app, site)}': it does not exist."))
    return app, site, function.name


@site_route("GET", "functions/{function}")
async def _get_function(call: ArmCall) -> Response:
    app, site, name = function_of(call)
    function = next(f for f in site.functions if f.name == name)
    return arm_json(call.request, shapes.function_body(call.ctx, app, site, function))


@site_route("POST", "functions/{function}/listkeys")
async def _function_keys(call: ArmCall) -> Response:
    # The service answers a flat {"default": "..."} (not the SDK's {"properties": ...}).
    _, site, name = function_of(call)
    return arm_json(call.request, dict(site.function_keys.get(name, {})))


@site_route("POST", "functions/{function}/listsecrets")
async def _function_secrets(call: ArmCall) -> Response:
    app, site, name = function_of(call)
    function = next(f for f in site.functions if f.name == name)
    key = site.function_keys.get(name, {}).get("default", "")
    url = shapes.function_body(call.ctx, app, site, function)["properties"]["invoke_url_template"]
    return arm_json(call.request, {"key": key, "trigger_url": f"{url}?code={key}" if url else None})


@site_route("POST", "host/default/listkeys")
async def _host_keys(call: ArmCall) -> Response:
    _, site = call.target
    return arm_json(call.request, {"masterKey": site.host_keys["masterKey"],
                                   "functionKeys": {"default": site.host_keys["default"]},
                                   "systemKeys": {}})
