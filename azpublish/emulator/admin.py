"""Administration under ``/_emulator``: apps, slots, faults, configuration, the request journal.

Authenticated by the ``X-Emulator-Key`` header (``secrets/admin.key``). The CLI's ``create-app``,
``delete-app``, ``list-apps`` and ``fault`` talk to a running emulator through these routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from azpublish.emulator.auth import check_admin
from azpublish.emulator.context import EmulatorContext, context_of
from azpublish.emulator.faults import parse_fault
from azpublish.emulator.plans import PLAN_KINDS
from azpublish.emulator.responses import BadRequest, read_json_object
from azpublish.emulator.store import NotFound, StateConflict
from azpublish.emulator.summaries import app_summary
from azpublish.errors import AzPublishError

AdminHandler = Callable[[Request, EmulatorContext], Awaitable[Response]]


def _problem(status: int, message: str, fix: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "fix": fix}, status_code=status)


def _admin(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ctx = context_of(request)
        refusal = check_admin(request, ctx)
        if refusal is not None:
            return refusal
        try:
            return await handler(request, ctx)
        except BadRequest as bad:
            return _problem(400, bad.message)
        except AzPublishError as error:
            return _problem(400, error.what if not error.where else f"{error.where}: "
                            f"{error.what}", error.fix)
        except NotFound as missing:
            return _problem(404, f"no app or slot {missing}")
        except StateConflict as conflict:
            return _problem(409, str(conflict))

    return endpoint


async def _info(request: Request, ctx: EmulatorContext) -> Response:
    return JSONResponse({"arm_endpoint": ctx.urls.base, "tenant_id": ctx.identity.tenant_id,
                         "subscription_id": ctx.identity.subscription_id,
                         "resource_group": ctx.identity.resource_group,
                         "state_dir": str(ctx.layout.root), "config": ctx.config.as_dict()})


async def _list_apps(request: Request, ctx: EmulatorContext) -> Response:
    with ctx.store.lock:
        return JSONResponse([app_summary(a, ctx.urls) for a in ctx.store.apps()])


async def _create_app(request: Request, ctx: EmulatorContext) -> Response:
    body = await read_json_object(request)
    name = body.get("name")
    if not isinstance(name, str):
        raise BadRequest("BadRequest", "'name' is required")
    plan = str(body.get("plan") or "dedicated")
    if plan not in PLAN_KINDS:
        raise BadRequest("BadRequest", f"plan must be one of {', '.join(PLAN_KINDS)}")

    def create() -> dict[str, object]:
        app = ctx.store.create_app(
            name, plan=plan, python=str(body.get("python") or "3.11"),
            resource_group=str(body.get("resource_group") or ctx.identity.resource_group),
            location=ctx.identity.location)
        return app_summary(app, ctx.urls)

    return JSONResponse(await to_thread.run_sync(create), status_code=201)


async def _get_app(request: Request, ctx: EmulatorContext) -> Response:
    app = ctx.store.get_app(request.path_params["name"])
    with ctx.store.lock:
        return JSONResponse(app_summary(app, ctx.urls))


async def _delete_app(request: Request, ctx: EmulatorContext) -> Response:
    name = request.path_params["name"]
    await to_thread.run_sync(ctx.store.delete_app, name)
    return JSONResponse({"deleted": name})


async def _create_slot(request: Request, ctx: EmulatorContext) -> Response:
    body = await read_json_object(request)
    slot = body.get("slot")
    if not isinstance(slot, str):
        raise BadRequest("BadRequest", "'slot' is required")
    name = request.path_params["name"]
    await to_thread.run_sync(ctx.store.create_slot, name, slot)
    app = ctx.store.get_app(name)
    return JSONResponse(app_summary(app, ctx.urls), status_code=201)


async def _release(request: Request, ctx: EmulatorContext) -> Response:
    name = request.path_params["name"]
    slot = request.query_params.get("slot") or None
    ctx.store.get_site(name, slot)
    if not ctx.holds.release(name, slot):
        return _problem(404, f"no deployment of {name} is held")
    return JSONResponse({"released": name, "slot": slot})


async def _list_faults(request: Request, ctx: EmulatorContext) -> Response:
    return JSONResponse([f.as_dict() for f in ctx.faults.list()])


async def _add_fault(request: Request, ctx: EmulatorContext) -> Response:
    fault = parse_fault(await read_json_object(request), where="POST /_emulator/faults")
    ctx.faults.add(fault)
    return JSONResponse(fault.as_dict(), status_code=201)


async def _clear_faults(request: Request, ctx: EmulatorContext) -> Response:
    return JSONResponse({"removed": ctx.faults.clear()})


async def _remove_fault(request: Request, ctx: EmulatorContext) -> Response:
    if not ctx.faults.remove(request.path_params["fault_id"]):
        return _problem(404, f"no fault {request.path_params['fault_id']}")
    return JSONResponse({"removed": 1})


async def _get_config(request: Request, ctx: EmulatorContext) -> Response:
    return JSONResponse(ctx.config.as_dict())


async def _patch_config(request: Request, ctx: EmulatorContext) -> Response:
    changes = await read_json_object(request)
    ctx.reconfigure(ctx.config.updated(changes, where="PATCH /_emulator/config"))
    return JSONResponse(ctx.config.as_dict())


async def _journal(request: Request, ctx: EmulatorContext) -> Response:
    return JSONResponse(ctx.journal.entries())


ADMIN_ROUTES = [
    Route("/info", _admin(_info), methods=["GET"]),
    Route("/apps", _admin(_list_apps), methods=["GET"]),
    Route("/apps", _admin(_create_app), methods=["POST"]),
    Route("/apps/{name}", _admin(_get_app), methods=["GET"]),
    Route("/apps/{name}", _admin(_delete_app), methods=["DELETE"]),
    Route("/apps/{name}/slots", _admin(_create_slot), methods=["POST"]),
    Route("/apps/{name}/release", _admin(_release), methods=["POST"]),
    Route("/faults", _admin(_list_faults), methods=["GET"]),
    Route("/faults", _admin(_add_fault), methods=["POST"]),
    Route("/faults", _admin(_clear_faults), methods=["DELETE"]),
    Route("/faults/{fault_id}", _admin(_remove_fault), methods=["DELETE"]),
    Route("/config", _admin(_get_config), methods=["GET"]),
    Route("/config", _admin(_patch_config), methods=["PATCH"]),
    Route("/requests", _admin(_journal), methods=["GET"]),
]
