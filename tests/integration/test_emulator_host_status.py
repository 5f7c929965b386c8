"""The Functions host's /admin/host/status on the app's own host name, behind the master key."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from tests.integration.conftest import HELLO, RunningEmulator

pytestmark = pytest.mark.integration


def _keys(emulator: RunningEmulator, app: str, slot: str | None = None) -> dict[str, str]:
    listed = emulator.arm("POST", f"{emulator.site_path(app, slot)}/host/default/listkeys")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    return {"master": body["masterKey"], "default": body["functionKeys"]["default"]}


def _status(emulator: RunningEmulator, app: str, slot: str | None = None,
            **kwargs: Any) -> requests.Response:
    return requests.get(f"{emulator.site_url(app, slot)}/admin/host/status",
                        verify=emulator.ca_bundle, timeout=30, **kwargs)


def test_host_status_takes_only_the_master_key(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.deploy_and_wait(app, emulator.v2_app(HELLO))
    keys = _keys(emulator, app)
    anonymous = _status(emulator, app)
    assert (anonymous.status_code, anonymous.content) == (401, b"")
    assert _status(emulator, app, headers={"x-functions-key": keys["default"]}).status_code \
        == 401
    assert _status(emulator, app, params={"code": "not-a-key"}).status_code == 401
    answer = _status(emulator, app, headers={"x-functions-key": keys["master"]})
    assert answer.status_code == 200
    status = answer.json()
    assert status["id"] == app.lower() and status["state"] == "Running"
    assert re.fullmatch(r"4\.\d+\.\d+\.\d+", status["version"])
    assert status["versionDetails"].startswith(status["version"].rsplit(".", 1)[0])
    assert isinstance(status["processUptime"], int) and status["processUptime"] >= 0
    assert status["functionAppContentEditingState"] == "Unknown"  # not Linux Consumption
    assert {"platformVersion", "instanceId", "computerName"} <= set(status)
    by_query = _status(emulator, app, params={"code": keys["master"]})
    assert by_query.status_code == 200 and by_query.json()["id"] == status["id"]


def test_host_ids_follow_the_hosts_rules(emulator: RunningEmulator) -> None:
    app = emulator.create_app(f"Host-Id-{emulator.unique_name('x')}-with-a-long-name")
    emulator.create_slot(app, "staging")
    production = _status(emulator, app, params={"code": _keys(emulator, app)["master"]}).json()
    assert production["id"] == app.lower()[:32].rstrip("-")
    staged = _status(emulator, app, "staging",
                     params={"code": _keys(emulator, app, "staging")["master"]}).json()
    assert staged["id"] == f"{app}-staging".lower()[:32].rstrip("-")
    flex = emulator.create_app(plan="flex")
    flex_status = _status(emulator, flex, params={"code": _keys(emulator, flex)["master"]})
    assert re.fullmatch(r"[0-9a-f]{32}", flex_status.json()["id"])
    assert flex_status.json()["functionAppContentEditingState"] == "NotAllowed"


def test_admin_routes_come_before_the_apps_and_unknown_ones_are_404(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    master = _keys(emulator, app)["master"]
    unknown = requests.get(f"{emulator.site_url(app)}/admin/host/nothing",
                           params={"code": master}, verify=emulator.ca_bundle, timeout=30)
    assert unknown.status_code == 404
    posted = requests.post(f"{emulator.site_url(app)}/admin/host/status",
                           params={"code": master}, verify=emulator.ca_bundle, timeout=30)
    assert posted.status_code == 405
