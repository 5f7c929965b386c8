"""How ARM requests find their handler: path patterns matched segment by segment.

Literals compare case-insensitively, as ARM does; ``site_route`` registers a handler for a site
and for each of its slots (``.../sites/{name}/slots/{slot}/...``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.model import App, Site
from azpublish.emulator.responses import arm_headers


@dataclass(frozen=True)
class ArmCall:
    request: Request
    ctx: EmulatorContext
    params: dict[str, str]
    app: App | None = None
    site: Site | None = None

    @property
    def target(self) -> tuple[App, Site]:
        assert self.app is not None and self.site is not None
        return self.app, self.site


Handler = Callable[[ArmCall], Awaitable[Response]]
SITE = "subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.web/sites/{name}"
SLOT = SITE + "/slots/{slot}"
ROUTES: list[tuple[str, tuple[str, ...], Handler]] = []


def route(method: str, *patterns: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for pattern in patterns:
            ROUTES.append((method, tuple(pattern.split("/")), handler))
        return handler

    return register


def site_route(method: str, suffix: str = "") -> Callable[[Handler], Handler]:
    tail = f"/{suffix}" if suffix else ""
    return route(method, SITE + tail, SLOT + tail)


def match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    values: dict[str, str] = {}
    for expected, actual in zip(pattern, segments, strict=True):
        if expected.startswith("{"):
            values[expected.strip("{}")] = unquote(actual)
        elif expected != actual.lower():
            return None
    return values


class Refused(Exception):
    """Stop handling and answer ``response`` (a 404 for an unknown app, say)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def headers(call: ArmCall) -> dict[str, str]:
    return arm_headers(call.request)


def groups(ctx: EmulatorContext) -> set[str]:
    """Resource groups that exist: the default one and every app's."""
    return {ctx.identity.resource_group.lower()} | {
        app.resource_group.lower() for app in ctx.store.apps()}
