"""Who may call what: Bearer tokens for ARM, Bearer or Basic for Kudu, a key for /_emulator.

Each check answers the refusal the real service gives (ARM: 401 with an ARM error body and a
``WWW-Authenticate`` challenge; Kudu: 401 with a Basic challenge), or None when the caller passes.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.requests import Request
from starlette.responses import Response

from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.model import Site
from azpublish.emulator.responses import arm_error, text
from azpublish.emulator.tokens import APP_SERVICE_AUDIENCE, ARM_AUDIENCES, TokenRejected

ADMIN_HEADER = "x-emulator-key"


def _scheme(request: Request) -> tuple[str, str]:
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    return scheme.lower(), value.strip()


def _challenge(ctx: EmulatorContext, error: str, description: str) -> dict[str, str]:
    return {"WWW-Authenticate": (
        f'Bearer authorization_uri="https://login.windows.net/{ctx.identity.tenant_id}", '
        f'error="{error}", error_description="{description}"'
    )}


def check_arm(request: Request, ctx: EmulatorContext) -> Response | None:
    scheme, value = _scheme(request)
    if scheme != "bearer" or not value:
        message = "Authentication failed. The 'Authorization' header is missing."
        if scheme:
            message = "Authentication failed. The 'Authorization' header is not a Bearer token."
        return arm_error(request, 401, "AuthenticationFailed", message,
                         _challenge(ctx, "invalid_token", message))
    try:
        ctx.tokens.verify(value, ARM_AUDIENCES)
    except TokenRejected as rejected:
        return arm_error(request, 401, rejected.code, rejected.message,
                         _challenge(ctx, "invalid_token", rejected.message))
    return None


def _kudu_refusal(message: str) -> Response:
    return text(message, 401, {"WWW-Authenticate": 'Basic realm="site"'})


def check_kudu(request: Request, ctx: EmulatorContext, site: Site) -> Response | None:
    scheme, value = _scheme(request)
    if scheme == "bearer" and value:
        try:
            ctx.tokens.verify(value, (*ARM_AUDIENCES, APP_SERVICE_AUDIENCE))
        except TokenRejected as rejected:
            return _kudu_refusal(f"Unauthorized: {rejected.message}")
        return None
    if scheme == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _kudu_refusal("Unauthorized: malformed Basic credentials.")
        # Kudu takes "$app" and "app\$app" alike.
        user = user.rpartition("\\")[2]
        matches = hmac.compare_digest(user.lower(), site.publishing_user.lower()) and \
            hmac.compare_digest(password, site.publishing_password)
        if not site.scm_allow:
            return _kudu_refusal("Unauthorized: basic authentication is disabled for this site "
                                 "(basicPublishingCredentialsPolicies/scm allow=false).")
        return None if matches else _kudu_refusal("Unauthorized")
    return _kudu_refusal("Unauthorized: send a Bearer token or the publishing credentials.")


def check_admin(request: Request, ctx: EmulatorContext) -> Response | None:
    given = request.headers.get(ADMIN_HEADER, "")
    if given and hmac.compare_digest(given, ctx.keys.admin_key):
        return None
    return text(f"The {ADMIN_HEADER} header must hold the key in the state directory's "
                "secrets/admin.key.", 401)
