"""Which URL scheme the emulator hands out, and how App Service host names find their routes."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from azpublish.emulator.hostnames import (
    HostRouting,
    choose_scheme,
    route_of_host,
    split_label,
)
from azpublish.errors import UsageError

SLOTS = {"shop": frozenset({"staging"}), "shop-eu": frozenset({"blue"}), "a-b": frozenset()}


def split(label: str) -> tuple[str, str | None]:
    return split_label(label, SLOTS.get)


def test_auto_takes_host_names_only_where_they_reach_this_listener() -> None:
    assert choose_scheme("auto", "127.0.0.1", lambda name: True) == "hostnames"
    assert choose_scheme("auto", "::1", lambda name: True) == "hostnames"
    assert choose_scheme("auto", "127.0.0.1", lambda name: "scm" not in name) == "path"
    assert choose_scheme("auto", "0.0.0.0", lambda name: True) == "path"  # noqa: S104
    assert choose_scheme("path", "127.0.0.1", lambda name: True) == "path"


def test_host_names_asked_for_but_not_resolving_is_a_clear_error() -> None:
    with pytest.raises(UsageError) as raised:
        choose_scheme("hostnames", "127.0.0.1", lambda name: False)
    assert "management.azurewebsites.localhost" in raised.value.what
    assert raised.value.fix and "libnss-myhostname" in raised.value.fix
    with pytest.raises(UsageError, match="not on loopback"):
        choose_scheme("hostnames", "192.0.2.1", lambda name: True)


def test_slot_labels_split_where_an_app_and_its_slot_exist() -> None:
    assert split("shop") == ("shop", None)
    assert split("shop-staging") == ("shop", "staging")
    assert split("shop-eu") == ("shop-eu", None)  # an app of the whole label comes first
    assert split("shop-eu-blue") == ("shop-eu", "blue")
    assert split("shop-nope") == ("shop-nope", None)  # unknown: the handlers answer 404
    assert split("a-b") == ("a-b", None)


def test_hosts_map_onto_the_path_routes() -> None:
    assert route_of_host("management.azurewebsites.localhost:443", split) == ""
    assert route_of_host("shop.scm.azurewebsites.localhost:8443", split) == "/scm/shop"
    assert route_of_host("SHOP-STAGING.scm.azurewebsites.localhost", split) == \
        "/scm/shop/slots/staging"
    assert route_of_host("shop-eu-blue.azurewebsites.localhost:1", split) == \
        "/sites/shop-eu/slots/blue"
    assert route_of_host("127.0.0.1:8443", split) is None
    assert route_of_host("[::1]:8443", split) is None
    assert route_of_host("a.b.c.azurewebsites.localhost", split) is None


async def _seen(host: str, path: str, raw: bytes | None = None) -> tuple[str, bytes]:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope)

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        return None

    scope = {"type": "http", "path": path, "raw_path": raw or path.encode(),
             "headers": [(b"host", host.encode())]}
    await HostRouting(app, split)(scope, receive, send)
    return seen["path"], seen["raw_path"]


@pytest.mark.anyio
async def test_routing_prefixes_the_path_and_collapses_double_slashes() -> None:
    assert await _seen("shop.scm.azurewebsites.localhost:1", "/api/zipdeploy") == \
        ("/scm/shop/api/zipdeploy", b"/scm/shop/api/zipdeploy")
    assert await _seen("shop.scm.azurewebsites.localhost:1", "/") == ("/scm/shop", b"/scm/shop")
    assert await _seen("management.azurewebsites.localhost:1", "//metadata/endpoints") == \
        ("/metadata/endpoints", b"/metadata/endpoints")
    assert await _seen("127.0.0.1:1", "/scm/shop//api/vfs/a b", b"/scm/shop//api/vfs/a%20b") \
        == ("/scm/shop/api/vfs/a b", b"/scm/shop/api/vfs/a%20b")
