"""Starting, stopping and restarting the emulator, and its CLI with and without one running."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import HELLO, RunningEmulator, emulator_command, start_emulator

pytestmark = pytest.mark.integration



def _cli(state_dir: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(emulator_command(command, "--state-dir", str(state_dir), *args),
                          capture_output=True, text=True, timeout=60, check=False)


def test_state_survives_a_restart(tmp_path: Path) -> None:
    first = start_emulator(tmp_path)
    try:
        created = _cli(tmp_path, "create-app", "kept", "--plan", "premium", "--python", "3.11")
        assert created.returncode == 0, created.stderr
        first.set_settings("kept", {"MY_SETTING": "kept-value"})
        done = first.deploy_and_wait("kept", first.v2_app(HELLO))
        credentials = first.arm("POST", f"{first.site_path('kept')}/config/publishingcredentials"
                                        "/list").json()["properties"]
        first.add_fault(kind="hold", app="kept", stages=["building"])
        held = first.deploy("kept", first.v2_app(HELLO),
                            query="isAsync=true&trackDeploymentProgress=true")
        held_id = held.headers["SCM-DEPLOYMENT-ID"]
        first.wait_for_deployment("kept", held_id, until=lambda r: not r["complete"])
        old_token, ca = first.token(), Path(first.ca_bundle).read_bytes()
    finally:
        assert first.stop() == 0
    assert not (tmp_path / "endpoint.json").exists()

    second = start_emulator(tmp_path)
    try:
        assert Path(second.ca_bundle).read_bytes() == ca
        second._token = old_token  # a token issued before the restart still verifies
        assert second.app_info("kept")["plan"] == "premium"
        settings = second.arm("POST", f"{second.site_path('kept')}/config/appsettings/list")
        assert settings.json()["properties"]["MY_SETTING"] == "kept-value"
        again = second.arm("POST", f"{second.site_path('kept')}/config/publishingcredentials"
                                   "/list").json()["properties"]
        assert again["publishingPassword"] == credentials["publishingPassword"]
        records = {d["id"]: d for d in second.kudu("GET", "kept", "/api/deployments").json()}
        assert records[done["id"]]["status"] == 4
        interrupted = records[held_id]
        assert (interrupted["status"], interrupted["complete"]) == (3, True)
        log = second.deployment_log("kept", held_id)
        assert "stopped while this deployment was in progress" in log[-1]["message"]
        assert second.kudu("GET", "kept", "/api/isdeploying").json() == {"value": "False"}
        answer = requests.get(f"{second.site_url('kept')}/api/hello", verify=second.ca_bundle,
                              timeout=60)
        assert answer.text == "hello"
    finally:
        assert second.stop() == 0


def test_cli_edits_the_state_directory_when_no_emulator_runs(tmp_path: Path) -> None:
    created = _cli(tmp_path, "create-app", "offline", "--plan", "flex")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["sku_tier"] == "FlexConsumption"
    assert _cli(tmp_path, "create-app", "gone").returncode == 0
    assert _cli(tmp_path, "delete-app", "gone").returncode == 0
    listed = json.loads(_cli(tmp_path, "list-apps", "--json").stdout)
    assert [a["name"] for a in listed] == ["offline"]
    duplicate = _cli(tmp_path, "create-app", "offline")
    assert duplicate.returncode == 2 and "exists already" in duplicate.stderr
    running = start_emulator(tmp_path)
    try:
        site = running.arm("GET", running.site_path("offline")).json()
        assert site["properties"]["functionAppConfig"]["runtime"]["name"] == "python"
        text = _cli(tmp_path, "list-apps").stdout
        assert "offline" in text and "FlexConsumption" in text
    finally:
        assert running.stop() == 0


def test_one_emulator_per_state_directory(emulator: RunningEmulator) -> None:
    second = subprocess.run(emulator_command("start", "--state-dir", str(emulator.state_dir)),
                            capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 2
    assert "another emulator" in second.stderr
    assert emulator.process.poll() is None


def test_env_prints_shell_exports(emulator: RunningEmulator, tmp_path: Path) -> None:
    printed = _cli(emulator.state_dir, "env")
    assert printed.returncode == 0, printed.stderr
    exported = {}
    for line in printed.stdout.splitlines():
        keyword, assignment = line.split(" ", 1)
        name, _, value = assignment.partition("=")
        assert keyword == "export"
        exported[name] = shlex.split(value)[0]
    assert exported == emulator.env()
    idle = _cli(tmp_path, "env")
    assert idle.returncode == 2 and "no emulator is running" in idle.stderr


@pytest.mark.parametrize("args, message", [
    (("create-app", "bad_name!"), "invalid app name"),
    (("create-app", "fine", "--plan", "huge"), "invalid choice"),
    (("create-app", "fine", "--python", "three"), "invalid Python version"),
])
def test_cli_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = _cli(tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_uploads_a_killed_emulator_left_are_cleared_at_start(tmp_path: Path) -> None:
    first = start_emulator(tmp_path)
    first.process.kill()  # as kill -9 would: no cleanup of its own
    first.process.wait(30)
    (tmp_path / "endpoint.json").unlink(missing_ok=True)
    uploads = next(path for path in tmp_path.rglob("uploads") if path.is_dir())
    (uploads / "half-received.zip").write_bytes(b"PK\x03\x04" + bytes(1000))
    (uploads / "vfs-1234.part").write_bytes(b"partial")
    second = start_emulator(tmp_path)
    try:
        assert list(uploads.iterdir()) == []
    finally:
        assert second.stop() == 0
