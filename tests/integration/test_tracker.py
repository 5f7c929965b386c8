"""track_deployment against the emulator: the deployment we started, its log, every ending."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from azpublish.azure.kudu import BasicAuth, KuduClient, Started
from azpublish.azure.tracker import DeploymentOutcome, track_deployment
from azpublish.errors import DeployError, ExitCode
from tests.integration.conftest import RunningEmulator
from tests.integration.test_kudu_client import (  # noqa: F401 (an autouse fixture)
    HELLO,
    Sleeps,
    _close_clients,
    credentials,
    kudu_client,
)

pytestmark = pytest.mark.integration

BUILD = {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true"}
OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_RETRIES": "0", "PIP_FIND_LINKS": ""}
MISSING = "azpublish-no-such-package-anywhere"


def package_file(tmp_path: Path, **extra: str | bytes) -> Path:
    path = tmp_path / f"app-{uuid.uuid4().hex[:8]}.zip"
    path.write_bytes(RunningEmulator.v2_app(HELLO, **extra))
    return path


def unique_message() -> str:
    return f"azpublish {uuid.uuid4()}"


def track(client: KuduClient, started: Started, message: str, lines: list[str], *,
          timeout: float = 120.0, sleep: Sleeps | None = None) -> DeploymentOutcome:
    return track_deployment(client, started, message=message, timeout=timeout,
                            on_line=lines.append, poll_interval=0.1,
                            sleep=sleep or Sleeps(cap=0.1))


def journal_gets(emulator: RunningEmulator, app: str, fragment: str) -> list[dict[str, object]]:
    return [r for r in emulator.admin("GET", "/requests").json()
            if r["method"] == "GET" and f"/scm/{app}/".lower() in str(r["path"]).lower()
            and fragment in str(r["path"])]


def test_remote_build_is_followed_to_success_with_its_log_in_order(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, BUILD)
    emulator.add_fault(kind="slow_build", app=app, seconds=0.8)  # several polls while building
    client = kudu_client(emulator, app)
    message = unique_message()
    started = client.zipdeploy(package_file(tmp_path), deployer="azpublish", message=message)
    shown: list[str] = []
    outcome = track(client, started, message, shown)
    assert outcome.deployment_id == started.deployment_id
    assert outcome.status == 4
    # Before extraction the record answers 404 (late_record): the tracker may say it waits,
    # in its own line; the rest is the server's log, which is also what the outcome keeps.
    lines = [line for line in shown if " not found yet (" not in line]
    assert len(shown) - len(lines) <= 1
    assert outcome.log == tuple(lines)
    # Exactly the server's log: every entry once, in order, each followed by its children.
    expected: list[str] = []
    for entry in emulator.deployment_log(app, outcome.deployment_id):
        expected.append(f"  {entry['message']}")
        if entry["details_url"]:
            children = emulator.request("GET", entry["details_url"]).json()
            expected.extend(f"    {child['message']}" for child in children)
    assert lines == expected
    assert "  Running oryx build..." in lines
    assert "    Could not find requirements.txt, pyproject.toml, or setup.py; Not installing " \
           "dependencies." in lines
    assert lines[-1] == "  Deployment successful."
    # Reasonable traffic: the growing build entry is re-read once per poll, not more.
    polls = journal_gets(emulator, app, f"/api/deployments/{outcome.deployment_id}/log")
    details = [r for r in polls if "/log/" in str(r["path"])]
    log_polls = [r for r in polls if str(r["path"]).endswith("/log")]
    assert len(log_polls) >= 3
    assert len(details) <= len(log_polls)


def test_failed_remote_build_raises_with_pips_complaint(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {**BUILD, **OFFLINE_PIP})
    user, password, _ = credentials(emulator, app)
    auth = BasicAuth(user, password)
    client = kudu_client(emulator, app, auth=auth)
    message = unique_message()
    started = client.zipdeploy(package_file(tmp_path, **{"requirements.txt": f"{MISSING}==1.0\n"}),
                               deployer="azpublish", message=message)
    lines: list[str] = []
    with pytest.raises(DeployError) as caught:
        track(client, started, message, lines)
    error = caught.value
    text = str(error)
    assert error.exit_code == ExitCode.DEPLOY
    assert f"deployment {started.deployment_id} failed" in text
    assert f"No matching distribution found for {MISSING}" in text
    assert "Exit code: 1" in text
    assert "Oryx build failed" in text
    assert len(error.what.splitlines()) <= 42
    assert any(f"No matching distribution found for {MISSING}" in line for line in lines)
    secrets = [password, auth.headers()["Authorization"].split()[1]]
    for secret in secrets:
        assert secret not in text and secret not in repr(error)
        assert all(secret not in line for line in lines)


def test_sync_deploy_answering_200_is_still_checked(emulator: RunningEmulator,
                                                    tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {**BUILD, **OFFLINE_PIP})
    client = kudu_client(emulator, app)
    message = unique_message()
    started = client.zipdeploy(package_file(tmp_path, **{"requirements.txt": f"{MISSING}\n"}),
                               deployer="azpublish", message=message, asynchronous=False)
    assert started.status_code == 200
    with pytest.raises(DeployError, match="No matching distribution"):
        track(client, started, message, [])


def test_timeout_on_a_held_deployment(emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["pending"])
    client = kudu_client(emulator, app)
    message = unique_message()
    started = client.zipdeploy(package_file(tmp_path), deployer="azpublish", message=message)
    try:
        begun = time.monotonic()
        with pytest.raises(DeployError) as caught:
            track_deployment(client, started, message=message, timeout=1.0,
                             on_line=list[str]().append, poll_interval=0.2)
        elapsed = time.monotonic() - begun
    finally:
        emulator.release(app)
    assert 1.0 <= elapsed < 3.0
    error = caught.value
    assert error.exit_code == ExitCode.DEPLOY
    # Held before extraction, the record does not exist yet under its id (late_record).
    assert f"deployment {started.deployment_id} still not found after 1 s" in str(error)
    assert "raise --timeout" in (error.fix or "")
    assert f"{emulator.scm_url(app)}/api/deployments" in (error.fix or "")


def test_without_a_deployment_id_the_message_finds_ours_not_the_newest(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    client = kudu_client(emulator, app)
    first_message = unique_message()
    first = client.zipdeploy(package_file(tmp_path), deployer="azpublish",
                             message=first_message, track=False)
    assert first.status_code == 202
    # Kudu names it anyway (SCM-DEPLOYMENT-ID, as recorded); followed here as if it had not.
    first_outcome = track(client, Started(202, None, first.location), first_message, [])
    assert first_outcome.deployment_id == first.deployment_id
    assert first_outcome.status == 4
    # A newer deployment, still pending, must not be taken for ours...
    emulator.add_fault(kind="hold", app=app, stages=["pending"])
    second_message = unique_message()
    second = client.zipdeploy(package_file(tmp_path), deployer="azpublish",
                              message=second_message, track=False)
    assert emulator.kudu("GET", app, "/api/deployments").json()[0]["message"] == second_message
    again = track(client, Started(202, None, second.location), first_message, [])
    assert again.deployment_id == first_outcome.deployment_id
    # ... and the newer one is followed by its own message, to its end.
    releases = Sleeps(cap=0.05, hook=lambda calls: emulator.release(app) if calls == 2 else None)
    lines: list[str] = []
    outcome = track(client, Started(202, None, second.location), second_message, lines,
                    sleep=releases)
    assert outcome.status == 4
    assert outcome.deployment_id not in (None, first_outcome.deployment_id)
    assert lines[-1] == "  Deployment successful."


def test_two_deployments_with_our_message_is_an_error(emulator: RunningEmulator,
                                                      tmp_path: Path) -> None:
    app = emulator.create_app()
    client = kudu_client(emulator, app)
    message = unique_message()
    for _ in range(2):
        client.zipdeploy(package_file(tmp_path), deployer="azpublish", message=message,
                         asynchronous=False, track=False)
    with pytest.raises(DeployError, match="2 deployments carry the message"):
        track(client, Started(200, None, None), message, [])


def test_a_message_that_never_appears_times_out(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    client = kudu_client(emulator, app)
    begun = time.monotonic()
    with pytest.raises(DeployError, match="no deployment with the message .* appeared after"):
        track(client, Started(202, None, None), unique_message(), [], timeout=0.5)
    assert time.monotonic() - begun < 3


def test_a_transient_poll_failure_is_retried(emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    sleeps = Sleeps()
    client = kudu_client(emulator, app, sleeps=sleeps)
    message = unique_message()
    started = client.zipdeploy(package_file(tmp_path), deployer="azpublish", message=message,
                               asynchronous=False)
    emulator.add_fault(kind="fail", app=app, path="*/api/deployments/*", method="GET",
                       status=503, count=2)
    assert track(client, started, message, []).status == 4
    assert len(sleeps.seconds) == 2


def started_deployment(emulator: RunningEmulator, tmp_path: Path
                       ) -> tuple[str, KuduClient, str, Started]:
    """A new app, a Kudu client allowing two attempts per call, and a deployment it started."""
    app = emulator.create_app()
    client = kudu_client(emulator, app, sleeps=Sleeps(), attempts=2)
    message = unique_message()
    started = client.zipdeploy(package_file(tmp_path), deployer="azpublish", message=message)
    return app, client, message, started


def test_trouble_outlasting_the_retries_is_followed_through(emulator: RunningEmulator,
                                                            tmp_path: Path) -> None:
    app, client, message, started = started_deployment(emulator, tmp_path)
    # 12 failing polls: six times what one call's retries absorb, then 404 once (Flex does).
    emulator.add_fault(kind="fail", app=app, path="*/api/deployments/*", method="GET",
                       status=503, count=12)
    emulator.add_fault(kind="fail", app=app, path="*/api/deployments/*", method="GET",
                       status=404, count=1)
    lines: list[str] = []
    assert track(client, started, message, lines).status == 4
    assert any("could not read the deployment's status" in line and "503" in line
               for line in lines)


def test_a_poll_that_fails_until_the_timeout_is_a_deploy_error(emulator: RunningEmulator,
                                                               tmp_path: Path) -> None:
    app, client, message, started = started_deployment(emulator, tmp_path)
    fault = emulator.add_fault(kind="fail", app=app, path="*/api/deployments/*", method="GET",
                               status=503, count=0)
    try:
        with pytest.raises(DeployError) as caught:
            track(client, started, message, [], timeout=2.0)
    finally:
        emulator.admin("DELETE", f"/faults/{fault}")
    error = caught.value
    assert error.exit_code == ExitCode.DEPLOY
    assert f"lost track of deployment {started.deployment_id}" in str(error)
    assert "could not be read until --timeout 2 s" in str(error)
    assert "answered 503 (after 2 attempts)" in str(error)
    assert "may still be running" in (error.fix or "")


def test_onedeploy_with_remote_build_on_flex_is_followed(emulator: RunningEmulator,
                                                         tmp_path: Path) -> None:
    app = emulator.create_app(plan="flex")
    client = kudu_client(emulator, app)
    message = unique_message()
    started = client.onedeploy(package_file(tmp_path), remote_build=True, deployer="azpublish",
                               message=message)
    lines: list[str] = []
    outcome = track(client, started, message, lines)
    assert outcome.status == 4
    assert "  Running oryx build..." in lines
    functions = emulator.functions(app)  # the list lags the deployment (index_lag)
    assert [f["properties"]["name"] for f in functions] == ["hello"]


def test_a_long_silence_gets_a_heartbeat_with_the_time_waited(emulator: RunningEmulator,
                                                              tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["building"], count=1)
    client = kudu_client(emulator, app)
    message = unique_message()
    started = client.zipdeploy(package_file(tmp_path), deployer="azpublish", message=message)
    releaser = threading.Timer(2.5, emulator.release, args=(app,))
    releaser.start()
    lines: list[str] = []
    try:
        outcome = track_deployment(client, started, message=message, timeout=60.0,
                                   on_line=lines.append, poll_interval=0.2, heartbeat=1.0)
    finally:
        releaser.join()  # released once, by the timer
    assert outcome.status == 4
    beats = [line for line in lines if "still waiting:" in line]
    assert beats and all("of at most 60 s)" in line for line in beats)
    assert len(beats) <= 3  # one per second of silence, not one per poll
