"""--build remote succeeds only when the server really built: a deployment whose log shows no
build step (Kudu read stale settings) is a failure, not a published app without its
dependencies."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from azpublish.deploy.executor import Executor
from azpublish.deploy.plan import CheckDependencies, DeployPlan, TrackDeployment, Upload
from azpublish.deploy.target import resolve_target
from azpublish.errors import DeployError
from azpublish.report import Reporter
from azpublish.settings import resolve
from tests.integration.conftest import HELLO, Run, RunningEmulator

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


def run_checked_remote_build(emulator: RunningEmulator, tmp_path: Path,
                             files: dict[str, str]) -> tuple[str, DeployError | None]:
    """Upload ``files`` for a remote build through the executor, with the dependency check
    after it, against an app that already has the build settings; (app, the check's error)."""
    app = emulator.create_app()
    emulator.set_settings(app, BUILD_SETTINGS)
    package = tmp_path / "app.zip"
    package.write_bytes(emulator.package({"host.json": '{"version": "2.0"}',
                                          "function_app.py": HELLO, **files}))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in emulator.env().items():
            patch.setenv(name, value)
        settings = resolve(["--app", app, "--build", "remote"])
        report = Reporter(stderr=io.StringIO())
        executor = Executor(resolve_target(settings, report), report, package, "checked")
        plan = DeployPlan((Upload("zipdeploy", True), TrackDeployment(120.0),
                           CheckDependencies()))
        try:
            executor.run(plan)
        except DeployError as error:
            assert executor.result.status == "not built"
            return app, error
    return app, None


def test_a_build_that_found_no_requirements_is_reported_in_the_servers_words(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    _, error = run_checked_remote_build(emulator, tmp_path, {})
    assert error is not None and error.exit_code == 4
    assert "installed none of the requirements" in error.what
    assert "Not installing dependencies" in error.what  # what the server's log said


def test_a_build_that_left_no_packages_is_a_failure(emulator: RunningEmulator,
                                                    tmp_path: Path) -> None:
    # The server finds the file and runs pip, which installs nothing from it.
    app, error = run_checked_remote_build(emulator, tmp_path,
                                          {"requirements.txt": "# nothing to install\n"})
    assert error is not None
    assert ".python_packages/lib/site-packages is empty on the app" in error.what
    listing = emulator.kudu("GET", app, "/api/vfs/site/wwwroot/.python_packages/lib/"
                                        "site-packages/")
    assert listing.json() == []  # the check read the app right


def test_a_build_that_installed_the_requirements_passes_the_check(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    _, error = run_checked_remote_build(emulator, tmp_path,
                                        {"requirements.txt": "azure-functions\n"})
    assert error is None


def test_requirements_left_out_by_funcignore_are_refused_before_upload(
        run: Run, emulator: RunningEmulator, hello: Path, tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    shutil.copytree(hello, app_dir)
    (app_dir / ".funcignore").write_text("*.txt\n")
    app = emulator.create_app()
    code, _, err = run("--project-dir", app_dir, "--app", app)
    assert code == 2, err
    assert "requirements.txt is left out of the package by .funcignore:1: *.txt" in err
    assert "!requirements.txt" in err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []  # nothing was uploaded
