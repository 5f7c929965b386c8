"""The managed-identity token endpoint (App Service's ``IDENTITY_ENDPOINT``), on plain http.

Answers ``GET /msi/token?api-version=2019-08-01&resource=...`` with header ``X-IDENTITY-HEADER``
the way App Service does, so azure-identity's ``ManagedIdentityCredential`` (and
``DefaultAzureCredential``) obtain tokens here unchanged.
"""

from __future__ import annotations

import hmac

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from azpublish.emulator.context import EmulatorContext, context_of

TOKEN_PATH = "/msi/token"  # noqa: S105 - a path, not a password
API_VERSION = "2019-08-01"


def _refuse(status: int, message: str) -> Response:
    return JSONResponse({"statusCode": status, "message": message}, status_code=status)


async def token_endpoint(request: Request) -> Response:
    ctx = context_of(request)
    header = request.headers.get("x-identity-header", "")
    if not header or not hmac.compare_digest(header, ctx.keys.identity_header):
        return _refuse(401, "The X-IDENTITY-HEADER header is missing or does not match "
                            "IDENTITY_HEADER.")
    query = {k.lower(): v for k, v in request.query_params.items()}
    if query.get("api-version") != API_VERSION:
        return _refuse(400, f"api-version must be {API_VERSION}.")
    resource = query.get("resource", "").strip()
    if not resource:
        return _refuse(400, "The resource parameter is required.")
    for key in ("client_id", "object_id", "mi_res_id", "principal_id"):
        asked = query.get(key)
        if asked and asked.lower() not in (ctx.identity.client_id, ctx.identity.object_id,
                                           ctx.identity.identity_resource_id.lower()):
            return _refuse(400, f"No managed identity matches {key}={asked}: the emulator has "
                                "only its system-assigned identity.")
    issued = ctx.tokens.issue(resource)
    return JSONResponse({
        "access_token": issued.access_token,
        "expires_on": str(issued.expires_on),
        "resource": issued.resource,
        "token_type": "Bearer",
        "client_id": ctx.identity.client_id,
    })


def build_msi_app(ctx: EmulatorContext) -> Starlette:
    app = Starlette(routes=[Route(TOKEN_PATH, token_endpoint, methods=["GET"])])
    app.state.ctx = ctx
    return app
