"""The function host's key checks: which key a request carries and what it opens.

A key comes in the ``x-functions-key`` header or the ``code`` query parameter. ``admin`` level
(and the host's own admin API) takes only the master key; ``function`` level takes the master
key, the default host key or one of the function's keys; ``anonymous`` takes anyone.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from azpublish.emulator.funchost import IndexedFunction
from azpublish.emulator.model import Site


def given_key(request: Request) -> str | None:
    return request.headers.get("x-functions-key") or request.query_params.get("code")


def _key_matches(given: str, keys: list[str]) -> bool:
    return any(hmac.compare_digest(given, key) for key in keys if key)


def is_master_key(site: Site, given: str | None) -> bool:
    return bool(given) and _key_matches(given or "", [site.host_keys.get("masterKey", "")])


def authorized(site: Site, function: IndexedFunction, given: str | None) -> bool:
    level = function.auth_level.lower()
    if level == "anonymous":
        return True
    if not given:
        return False
    if level == "admin":
        return is_master_key(site, given)
    keys = [site.host_keys.get("masterKey", ""), site.host_keys.get("default", ""),
            *site.function_keys.get(function.name, {}).values()]
    return _key_matches(given, keys)
