"""Response and request helpers shared by the ARM, Kudu, admin and function-host handlers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

ARM_NOT_FOUND_HINT = "For more details please go to https://aka.ms/ARMResourceNotFoundFix"


class BadRequest(Exception):
    """A request the emulator refuses with 400 (bad JSON, bad values)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def arm_headers(request: Request | None = None) -> dict[str, str]:
    """The tracing headers every ARM answer carries (clients quote them in bug reports)."""
    request_id = str(uuid.uuid4())
    correlation = request.headers.get("x-ms-correlation-request-id") if request else None
    headers = {
        "x-ms-request-id": request_id,
        "x-ms-correlation-request-id": correlation or request_id,
        "x-ms-routing-request-id": f"LOCAL:{request_id}",
        "Cache-Control": "no-cache",
    }
    client_id = request.headers.get("x-ms-client-request-id") if request else None
    if client_id:
        headers["x-ms-client-request-id"] = client_id
    return headers


def arm_json(request: Request, body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=arm_headers(request))


def arm_error(request: Request | None, status: int, code: str, message: str,
              headers: Mapping[str, str] | None = None) -> JSONResponse:
    all_headers = {**arm_headers(request), **(headers or {})}
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=all_headers)


def rp_error(request: Request | None, status: int, code: str, message: str,
             headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error the Microsoft.Web resource provider answers itself: unwrapped and capitalised,
    as recorded, which azure-core does not parse (the ARM front end's own are ``arm_error``)."""
    all_headers = {**arm_headers(request), **(headers or {})}
    body = {"Code": code, "Message": message, "Target": None,
            "Details": [{"Message": message}, {"Code": code},
                        {"ErrorEntity": {"Code": code, "Message": message}}],
            "Innererror": None}
    return JSONResponse(body, status_code=status, headers=all_headers)


def text(body: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="text/plain; charset=utf-8",
                    headers=dict(headers or {}))


def lower_query(request: Request) -> dict[str, str]:
    """Query parameters with lower-cased keys: Kudu and ARM read them case-insensitively."""
    return {key.lower(): value for key, value in request.query_params.items()}


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


async def read_json_object(request: Request, *, limit: int = 4 * 1024 * 1024) -> dict[str, Any]:
    """The body as a JSON object; ``BadRequest`` says what is wrong with it."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest("RequestEntityTooLarge",
                             f"The request body is larger than {limit} bytes.")
    try:
        value = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: {exc}.",
        ) from exc
    if not isinstance(value, dict):
        raise BadRequest("InvalidRequestContent",
                         "The request content must be a JSON object.")
    return value
