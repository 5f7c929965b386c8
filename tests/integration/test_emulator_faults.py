"""Fault injection, set at runtime through the admin API and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import requests

from tests.integration.conftest import HELLO, RunningEmulator, emulator_command

pytestmark = pytest.mark.integration



def test_next_n_requests_fail_then_the_endpoint_recovers(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, path="*/sites/*", method="GET", status=503,
                       count=3)
    statuses = [emulator.arm("GET", emulator.site_path(app)).status_code for _ in range(4)]
    assert statuses == [503, 503, 503, 200]
    other = emulator.create_app()
    assert emulator.arm("GET", emulator.site_path(other)).status_code == 200


def test_429_carries_retry_after_and_an_arm_error(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, path="*/config/appsettings/list", status=429,
                       retry_after=7)
    answer = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()["error"]["code"] == "TooManyRequests"
    assert emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list"
                        ).status_code == 200


def test_failing_upload_endpoint_answers_after_the_body(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, path="*/api/zipdeploy", status=502, count=2)
    package = emulator.v2_app(HELLO, **{"pad.bin": os.urandom(500_000)})
    assert [emulator.deploy(app, package).status_code for _ in range(2)] == [502, 502]
    assert emulator.deploy(app, package, query="").status_code == 200


def test_dropped_upload_leaves_no_record_and_no_lock(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="drop_upload", app=app, after_bytes=200_000)
    package = emulator.v2_app(HELLO, **{"pad.bin": os.urandom(2_000_000)})
    with pytest.raises(requests.exceptions.ConnectionError):
        emulator.deploy(app, package)
    deadline = time.monotonic() + 10  # the server notices the drop a moment after the client
    while emulator.kudu("GET", app, "/api/isdeploying").json() != {"value": "False"}:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert emulator.kudu("GET", app, "/api/deployments").json() == []
    assert emulator.deploy(app, package, query="").status_code == 200
    assert emulator.kudu("GET", app, "/api/deployments").json()[0]["status"] == 4


def test_slow_build_keeps_the_deployment_building(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="slow_build", app=app, seconds=1.5)
    started = time.monotonic()
    answer = emulator.deploy(app, emulator.v2_app(HELLO),
                             query="isAsync=true&trackDeploymentProgress=true")
    deployment_id = answer.headers["SCM-DEPLOYMENT-ID"]
    # Running: past extraction (the record exists), not complete; Linux Kudu forces its
    # status to 0 while it runs (in_progress_200), so "building" is not visible as 1.
    building = emulator.wait_for_deployment(app, deployment_id,
                                            until=lambda r: not r["complete"])
    assert not building["complete"] and building["status"] == 0
    assert emulator.deploy(app, emulator.v2_app(HELLO)).status_code == 409
    assert emulator.wait_for_deployment(app, deployment_id)["status"] == 4
    assert time.monotonic() - started >= 1.5


def test_settings_delay_fault_overrides_the_configuration(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    fault = emulator.add_fault(kind="settings_delay", app=app, seconds=30)
    emulator.set_settings(app, {"NEW_SETTING": "1"})
    assert "NEW_SETTING" not in emulator.kudu("GET", app, "/api/settings").json()
    assert emulator.admin("DELETE", f"/faults/{fault}").status_code == 200
    assert emulator.kudu("GET", app, "/api/settings").json()["NEW_SETTING"] == "1"


def test_bad_fault_specs_are_refused(emulator: RunningEmulator) -> None:
    for spec in ({"kind": "explode"}, {"kind": "fail", "status": 418},
                 {"kind": "hold", "stages": ["later"]}, {"kind": "fail", "colour": "red"}):
        answer = emulator.admin("POST", "/faults", json=spec)
        assert answer.status_code == 400, spec
    assert emulator.admin("POST", "/faults", data=b"{oops").status_code == 400
    assert emulator.admin("GET", "/faults", headers={"X-Emulator-Key": "wrong"}).status_code \
        == 401


def _cli(emulator: RunningEmulator, command: str, *args: str
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(emulator_command(command, "--state-dir", str(emulator.state_dir),
                                           *args),
                          capture_output=True, text=True, timeout=60, check=False)


def test_cli_sets_lists_releases_and_clears_faults(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    added = _cli(emulator, "fault", "add", "hold", "--app", app, "--stage", "building")
    assert added.returncode == 0, added.stderr
    fault_id = json.loads(added.stdout)["id"]
    listed = json.loads(_cli(emulator, "fault", "list").stdout)
    assert any(f["id"] == fault_id and f["stages"] == ["building"] for f in listed)
    answer = emulator.deploy(app, emulator.v2_app(HELLO),
                             query="isAsync=true&trackDeploymentProgress=true")
    deployment_id = answer.headers["SCM-DEPLOYMENT-ID"]
    emulator.wait_for_deployment(app, deployment_id, until=lambda r: not r["complete"])
    time.sleep(0.3)
    still = emulator.kudu("GET", app, f"/api/deployments/{deployment_id}").json()
    assert not still["complete"] and still["status"] == 0  # held (status forced to 0)
    released = _cli(emulator, "fault", "release", app)
    assert released.returncode == 0, released.stderr
    assert emulator.wait_for_deployment(app, deployment_id)["status"] == 4
    nothing_held = _cli(emulator, "fault", "release", app)
    assert nothing_held.returncode == 2 and "no deployment" in nothing_held.stderr
    _cli(emulator, "fault", "add", "fail", "--app", app, "--count", "0")
    assert "removed" in _cli(emulator, "fault", "clear").stdout
    assert json.loads(_cli(emulator, "fault", "list").stdout) == []


def test_sync_error_answers_the_service_s_own_400(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="sync_error", app=app, count=1)
    path = f"{emulator.site_path(app)}/syncfunctiontriggers"
    refused = emulator.arm("POST", path)
    assert refused.status_code == 400
    assert refused.json()["Message"] == \
        "Encountered an error (InternalServerError) from host runtime."
    assert set(refused.json()) == {"Code", "Message", "Target", "Details", "Innererror"}
    assert emulator.arm("POST", path).status_code == 200  # one use only
