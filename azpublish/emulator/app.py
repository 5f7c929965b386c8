"""The HTTPS application: ARM, Kudu, function invocations and administration on one listener."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from azpublish.emulator.admin import ADMIN_ROUTES
from azpublish.emulator.arm import arm_endpoint, metadata_endpoint
from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.deployments import DeploymentRunner
from azpublish.emulator.hostnames import HostRouting, split_label
from azpublish.emulator.invoke import invoke_endpoint
from azpublish.emulator.kudu import kudu_endpoint, kudu_home
from azpublish.emulator.middleware import ADMIN_PREFIX, ARM_PREFIXES, EmulatorMiddleware
from azpublish.emulator.responses import arm_error, text
from azpublish.emulator.store import NotFound

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_https_app(ctx: EmulatorContext, runner: DeploymentRunner) -> ASGIApp:
    routes = [
        Route("/metadata/endpoints", metadata_endpoint, methods=["GET"]),
        Route("/subscriptions", arm_endpoint, methods=ALL_METHODS),
        Route("/subscriptions/{rest:path}", arm_endpoint, methods=ALL_METHODS),
        Route("/tenants", arm_endpoint, methods=ALL_METHODS),
        Route("/providers/{rest:path}", arm_endpoint, methods=ALL_METHODS),
        Route("/scm/{app}/slots/{slot}/api/{rest:path}", kudu_endpoint, methods=ALL_METHODS),
        Route("/scm/{app}/api/{rest:path}", kudu_endpoint, methods=ALL_METHODS),
        Route("/scm/{app}/slots/{slot}", kudu_home, methods=["GET"]),
        Route("/scm/{app}", kudu_home, methods=["GET"]),
        Route("/sites/{app}/slots/{slot}/{rest:path}", invoke_endpoint, methods=ALL_METHODS),
        Route("/sites/{app}/{rest:path}", invoke_endpoint, methods=ALL_METHODS),
        Mount(ADMIN_PREFIX, routes=ADMIN_ROUTES),
    ]
    app = Starlette(routes=routes, exception_handlers={Exception: _internal_error})
    app.state.ctx = ctx
    app.state.runner = runner

    def slots_of(name: str) -> frozenset[str] | None:
        try:
            found = ctx.store.get_app(name)
        except NotFound:
            return None
        return frozenset(k.lower() for k in found.sites if k)

    return HostRouting(EmulatorMiddleware(app, ctx), lambda label: split_label(label, slots_of))


async def _internal_error(request: Request, error: Exception) -> Response:
    """A bug answers 500 in the caller's dialect; the traceback goes to the emulator's log."""
    message = f"The emulator failed to handle this request: {type(error).__name__}."
    if request.url.path.startswith(ARM_PREFIXES):
        return arm_error(request, 500, "InternalServerError", message)
    return text(message, 500)
