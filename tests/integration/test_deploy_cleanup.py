"""--restore-settings undoes what the publish changed however it ends: after a failed check, a
deployment that timed out and a Ctrl-C, with the index credential it set gone from the app."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import HELLO, Run, RunningEmulator
from tests.integration.pypi_index import PrivateIndex
from tests.signalled import exit_status, signal_when

pytestmark = pytest.mark.integration


def test_failed_verification_still_puts_every_setting_back(
        run: Run, emulator: RunningEmulator, hello: Path, private_index: PrivateIndex) -> None:
    app = emulator.create_app()
    # A setting of the user's that the plan changes (a remote build removes it) and one it keeps.
    emulator.set_settings(app, {"PIP_CERT": private_index.ca_bundle, "MY_SETTING": "kept",
                                "WEBSITE_RUN_FROM_PACKAGE": "0"})
    before = emulator.app_settings(app)
    code, out, err = run("--project-dir", hello, "--app", app, "--restore-settings",
                         "--pip-extra-index-url", private_index.url_with_credentials,
                         "--verify-url", "/api/nothing-here", "--json")
    assert code == 5, err
    assert "404" in err
    after = emulator.app_settings(app)
    assert after == before
    assert private_index.password not in json.dumps(after)
    deployment = json.loads(out)["deployment"]
    assert deployment["status"] == "success" and deployment["settings_restored"] is True
    assert "app settings put back" in err and private_index.password not in out + err


def test_a_timed_out_deployment_still_puts_the_settings_back(
        run: Run, emulator: RunningEmulator, hello: Path) -> None:
    app = emulator.create_app()
    before = emulator.app_settings(app)
    emulator.add_fault(kind="hold", app=app, stages=["building"], count=1)
    try:
        code, _, err = run("--project-dir", hello, "--app", app, "--restore-settings",
                           "--timeout", "3")
    finally:
        emulator.release(app)
    assert code == 4, err
    assert emulator.app_settings(app) == before
    assert "app settings put back" in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_the_deployment_puts_the_settings_back(
        emulator: RunningEmulator, hello: Path, signum: int) -> None:
    app = emulator.create_app()
    before = emulator.app_settings(app)
    emulator.add_fault(kind="hold", app=app, stages=["building"], count=1)
    secret = "ctrlc-secret-77"
    seen: dict[str, str] = {}

    def deploying(_pid: int) -> bool:
        if not emulator.kudu("GET", app, "/api/deployments").json():
            return False
        seen.update(emulator.app_settings(app))
        return True

    try:
        status, err = signal_when(
            ["--project-dir", str(hello), "--app", app, "--restore-settings",
             "--pip-extra-index-url", f"https://u:{secret}@127.0.0.1:9/simple"],
            {**os.environ, **emulator.env()}, deploying, signum, stage="the deployment",
            poll=0.2)
    finally:
        emulator.release(app)
    assert secret in seen["PIP_EXTRA_INDEX_URL"]  # set by the publish, while it ran
    assert status == exit_status(signum), err
    assert emulator.app_settings(app) == before
    assert "app settings put back" in err and secret not in err


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # a deployment finished with it in between
        return 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_the_upload_leaves_nothing_behind(
        emulator: RunningEmulator, hello: Path, tmp_path: Path, signum: int) -> None:
    """Cut mid-upload: no deployment, the settings back, the app free for the next deploy, and
    nothing of the run in TMPDIR or in the emulator's upload folder."""
    app_dir = tmp_path / "app"
    shutil.copytree(hello, app_dir)
    (app_dir / "data.bin").write_bytes(os.urandom(4 << 20))  # dozens of chunks to read slowly
    temp = tmp_path / "tmp"
    temp.mkdir()
    app = emulator.create_app()
    before = emulator.app_settings(app)
    emulator.add_fault(kind="slow_upload", app=app, seconds=0.25, count=1)
    uploads = emulator.state_dir / "uploads"
    earlier = set(uploads.glob("*.zip"))  # other tests' deployments may still hold theirs
    secret = "upload-signal-secret-52"
    status, err = signal_when(
        ["--project-dir", str(app_dir), "--app", app, "--restore-settings",
         "--pip-extra-index-url", f"https://u:{secret}@127.0.0.1:9/simple"],
        {**os.environ, **emulator.env(), "TMPDIR": str(temp)},
        lambda _pid: any(size_of(f) for f in set(uploads.glob("*.zip")) - earlier),
        signum, stage="the upload")
    assert status == exit_status(signum), err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []
    assert emulator.app_settings(app) == before
    assert list(temp.iterdir()) == []
    assert secret not in err
    deadline = time.monotonic() + 30  # the server notices the closed connection by itself
    while set(uploads.glob("*.zip")) - earlier:
        assert time.monotonic() < deadline, "the abandoned upload stayed on the server"
        time.sleep(0.1)
    record = emulator.deploy_and_wait(app, emulator.v2_app(HELLO))  # not locked out
    assert record["status"] == 4


@pytest.mark.parametrize("deployment", ["fails", "succeeds"])
def test_a_cleanup_that_fails_says_what_is_left_on_the_app(
        run: Run, emulator: RunningEmulator, hello: Path, deployment: str) -> None:
    app = emulator.create_app()
    if deployment == "fails":
        emulator.add_fault(kind="hold", app=app, stages=["building"], count=1)
    secret = "left-behind-secret-31"

    def refuse_the_restore() -> None:
        # Once the publish has changed the settings and uploaded, ARM refuses the next change.
        deadline = time.monotonic() + 60
        while not emulator.kudu("GET", app, "/api/deployments").json():
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
        emulator.add_fault(kind="fail", app=app, method="PUT", path="*/config/appsettings",
                           status=400, count=1)

    refuser = threading.Thread(target=refuse_the_restore)
    refuser.start()
    try:
        code, _, err = run("--project-dir", hello, "--app", app, "--restore-settings",
                           "--pip-extra-index-url", f"https://u:{secret}@127.0.0.1:9/simple",
                           "--timeout", "3" if deployment == "fails" else "120")
    finally:
        refuser.join()
        if deployment == "fails":
            emulator.release(app)
    assert code == 4, err  # the deployment's failure, or else the cleanup's, is the error
    if deployment == "fails":
        assert "could not be put back after the failure" in err
    else:
        assert "the deployment succeeded, but app settings" in err
    assert "PIP_EXTRA_INDEX_URL" in err and "by hand" in err and secret not in err
    assert secret in emulator.app_settings(app).get("PIP_EXTRA_INDEX_URL", "")  # really left
