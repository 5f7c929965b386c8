"""The Microsoft.Resources tags API on a site or slot (``{scope}/providers/Microsoft.Resources/
tags/default``): what clients use to tag a resource without writing the resource itself.

azpublish keeps what it deployed in a tag there, because real Flex drops deployment messages.
The limits are ARM's: names up to 512 characters without ``<>%&\\?/``, values up to 256, and at
most 50 tags on a resource.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from starlette.responses import Response

from azpublish.emulator.arm_routing import ArmCall, site_route
from azpublish.emulator.arm_shapes import site_id
from azpublish.emulator.model import Site
from azpublish.emulator.responses import BadRequest, arm_json, read_json_object

TAGS = "providers/microsoft.resources/tags/default"
MAX_TAGS = 50
MAX_NAME = 512
MAX_VALUE = 256
FORBIDDEN_IN_NAME = set("<>%&\\?/")


def _body(call: ArmCall) -> dict[str, Any]:
    app, site = call.target
    return {"id": f"{site_id(call.ctx, app, site)}/providers/Microsoft.Resources/tags/default",
            "name": "default", "type": "Microsoft.Resources/tags",
            "properties": {"tags": dict(site.tags)}}


def _tags_of(body: dict[str, Any]) -> dict[str, str]:
    properties = body.get("properties")
    tags = properties.get("tags") if isinstance(properties, dict) else None
    if not isinstance(tags, dict):
        raise BadRequest("InvalidRequestContent", "The request content must have "
                         "'properties.tags' as a JSON object.")
    checked: dict[str, str] = {}
    for name, value in tags.items():
        if not isinstance(value, str):
            raise BadRequest("InvalidRequestContent", f"The value of tag '{name}' must be a "
                             "string.")
        if not name or len(name) > MAX_NAME or FORBIDDEN_IN_NAME & set(name):
            raise BadRequest("InvalidTagNameCharacters", f"The tag name '{name}' has invalid "
                             "characters or length.")
        if len(value) > MAX_VALUE:
            raise BadRequest("InvalidTagValueLength", f"The tag value of '{name}' has length "
                             f"'{len(value)}' which exceeds the maximum length of {MAX_VALUE}.")
        checked[name] = value
    return checked


async def _change(call: ArmCall, operation: str, tags: dict[str, str]) -> Response:
    app, site = call.target
    wanted = {"replace": dict(tags), "merge": {**site.tags, **tags},
              "delete": {k: v for k, v in site.tags.items() if k not in tags}}[operation]
    if len(wanted) > MAX_TAGS:
        raise BadRequest("InvalidTagsCount", f"The resource would have {len(wanted)} tags; "
                         f"at most {MAX_TAGS} are allowed.")

    def change(target: Site) -> None:
        target.tags = wanted

    await to_thread.run_sync(call.ctx.store.update, app, change, site)
    return arm_json(call.request, _body(call))


@site_route("GET", TAGS)
async def _get_tags(call: ArmCall) -> Response:
    return arm_json(call.request, _body(call))


@site_route("PUT", TAGS)
async def _put_tags(call: ArmCall) -> Response:
    return await _change(call, "replace", _tags_of(await read_json_object(call.request)))


@site_route("PATCH", TAGS)
async def _patch_tags(call: ArmCall) -> Response:
    body = await read_json_object(call.request)
    operation = str(body.get("operation", "")).lower()
    if operation not in {"replace", "merge", "delete"}:
        raise BadRequest("InvalidRequestContent", "The 'operation' must be 'Replace', 'Merge' "
                         "or 'Delete'.")
    return await _change(call, operation, _tags_of(body))


@site_route("DELETE", TAGS)
async def _delete_tags(call: ArmCall) -> Response:
    return await _change(call, "replace", {})
