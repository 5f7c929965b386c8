"""--build remote succeeds only when the server really built: a deployment whose log shows no
build step (Kudu read stale settings) is a failure, not a published app without its
dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Run, RunningEmulator

pytestmark = pytest.mark.integration

BUILD_SETTINGS = {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true", "ENABLE_ORYX_BUILD": "true",
                  "BUILD_FLAGS": "UseExpressBuild", "XDG_CACHE_HOME": "/tmp/.cache"}



def test_a_remote_build_the_server_skipped_is_exit_4(run: Run, emulator: RunningEmulator,
                                                     hello: Path) -> None:
    app = emulator.create_app()
    # The build settings are already on the app (so the publish changes nothing and waits for
    # nothing), but Kudu sees them only ten minutes late: its build reads the old settings.
    emulator.set_settings(app, BUILD_SETTINGS)
    fault = emulator.add_fault(kind="settings_delay", app=app, seconds=600, count=0)
    try:
        code, _, err = run("--project-dir", hello, "--app", app)
    finally:
        emulator.admin("DELETE", f"/faults/{fault}")
    assert code == 4, err
    assert "finished without the remote build that was asked for" in err
    assert "--force" in err
    [record] = emulator.kudu("GET", app, "/api/deployments").json()
    log = emulator.deployment_log(app, record["id"])
    assert "Skipping build" in str(log)  # what the server did: the check read it right
