"""Kudu's settings API: POST/DELETE change Kudu's own settings, over (not in) the app settings."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import pytest

from tests.integration.conftest import HELLO, RunningEmulator, start_emulator

pytestmark = pytest.mark.integration


def test_post_sets_kudus_settings_over_the_app_settings(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    answer = emulator.kudu("POST", app, "/api/settings", json={
        "MY_FLAG": 1, "SWITCHED_ON": True, "functions_extension_version": "~3"})
    assert (answer.status_code, answer.content) == (204, b"")
    seen = emulator.kudu("GET", app, "/api/settings").json()
    assert (seen["MY_FLAG"], seen["SWITCHED_ON"]) == ("1", "True")  # as .NET renders them
    # Kudu's own setting wins, under the name's first casing; the others are still there.
    assert seen["FUNCTIONS_EXTENSION_VERSION"] == "~3"
    assert "functions_extension_version" not in seen
    assert seen["FUNCTIONS_WORKER_RUNTIME"] == "python" and seen["WEBSITE_SITE_NAME"] == app
    one = emulator.kudu("GET", app, "/api/settings/my_flag")
    assert (one.status_code, one.text) == (200, "1")
    # ARM never sees them: they are Kudu's, not app settings.
    arm = emulator.app_settings(app)
    assert "MY_FLAG" not in arm and arm["FUNCTIONS_EXTENSION_VERSION"] == "~4"
    legacy = emulator.kudu("POST", app, "/api/settings", json={"key": "OLD_STYLE", "value": "x"})
    assert legacy.status_code == 204
    assert emulator.kudu("GET", app, "/api/settings").json()["OLD_STYLE"] == "x"


def test_delete_removes_only_kudus_own_setting(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.kudu("POST", app, "/api/settings", json={"MY_FLAG": "on",
                                                      "FUNCTIONS_WORKER_RUNTIME": "custom"})
    assert emulator.kudu("DELETE", app, "/api/settings/my_flag").status_code == 204
    assert emulator.kudu("DELETE", app, "/api/settings/MY_FLAG").status_code == 204  # again
    missing = emulator.kudu("GET", app, "/api/settings/MY_FLAG")
    assert missing.status_code == 404 and "MY_FLAG" in missing.text
    assert "MY_FLAG" not in emulator.kudu("GET", app, "/api/settings").json()
    # Deleting Kudu's override shows the app setting again; an app setting itself stays.
    assert emulator.kudu("DELETE", app, "/api/settings/FUNCTIONS_WORKER_RUNTIME").status_code \
        == 204
    assert emulator.kudu("DELETE", app, "/api/settings/FUNCTIONS_WORKER_RUNTIME").status_code \
        == 204
    assert emulator.kudu("GET", app, "/api/settings").json()["FUNCTIONS_WORKER_RUNTIME"] \
        == "python"
    assert emulator.app_settings(app)["FUNCTIONS_WORKER_RUNTIME"] == "python"


def test_bodies_kudu_cannot_store_are_400(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    for body in (b"not json", b"[1, 2]", b'{"NESTED": {"a": 1}}', b'{"": "x"}',
                 b'{"NULL": null}', b'{"key": "", "value": "x"}'):
        answer = emulator.kudu("POST", app, "/api/settings", data=body,
                               headers={"Content-Type": "application/json"})
        assert (answer.status_code, answer.content) == (400, b""), body
    assert emulator.kudu("POST", app, "/api/settings", json={}).status_code == 204


def test_kudu_settings_are_sealed_and_drive_the_build(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    marker = "kudu-only-value-4f1e2d"
    emulator.kudu("POST", app, "/api/settings", json={"SCM_DO_BUILD_DURING_DEPLOYMENT": "true",
                                                      "MARKER_SETTING": marker})
    app_json = (emulator.state_dir / "apps" / app / "app.json").read_text()
    assert marker not in app_json and "MARKER_SETTING" not in app_json
    record = emulator.deploy_and_wait(app, emulator.v2_app(HELLO))
    messages = [e["message"] for e in emulator.deployment_log(app, record["id"])]
    assert "Running oryx build..." in messages  # Kudu's own setting asked for the build
    assert not any(m.startswith("Skipping build") for m in messages)
    assert "SCM_DO_BUILD_DURING_DEPLOYMENT" not in emulator.app_settings(app)


def test_changes_wait_for_the_deployment_lock(emulator: RunningEmulator) -> None:
    """As Kudu: POST waits (up to 5 s) for a running deployment, DELETE answers 409 at once."""
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["pending"])
    started = emulator.deploy(app, emulator.v2_app(HELLO),
                              query="isAsync=true&trackDeploymentProgress=true")
    assert started.status_code == 202
    refused = emulator.kudu("DELETE", app, "/api/settings/ANY")
    assert refused.status_code == 409 and "deployment" in refused.text
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(emulator.kudu, "POST", app, "/api/settings",
                              json={"AFTER_DEPLOY": "yes"})
        time.sleep(0.5)
        assert not waiting.done()
        emulator.release(app)
        answer = waiting.result(timeout=30)
    assert answer.status_code == 204, answer.text
    assert emulator.kudu("GET", app, "/api/isdeploying").json() == {"value": "False"}
    assert emulator.kudu("GET", app, "/api/settings").json()["AFTER_DEPLOY"] == "yes"


def test_slots_have_their_own_kudu_settings(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.create_slot(app, "staging")
    emulator.kudu("POST", app, "/api/settings", json={"ONLY_STAGING": "1"}, slot="staging")
    assert "ONLY_STAGING" in emulator.kudu("GET", app, "/api/settings", slot="staging").json()
    assert "ONLY_STAGING" not in emulator.kudu("GET", app, "/api/settings").json()


def test_kudu_settings_survive_a_restart(tmp_path: Path) -> None:
    first = start_emulator(tmp_path)
    try:
        app = first.create_app()
        assert first.kudu("POST", app, "/api/settings",
                          json={"KEPT_SETTING": "still-here"}).status_code == 204
    finally:
        assert first.stop() == 0
    second = start_emulator(tmp_path)
    try:
        assert second.kudu("GET", app, "/api/settings/KEPT_SETTING").text == "still-here"
    finally:
        assert second.stop() == 0
