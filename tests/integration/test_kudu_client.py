"""KuduClient against the emulator: streamed uploads, retries, 409 waits, auth, honest errors."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest

from azpublish.azure.kudu import (
    AuthRejected,
    BasicAuth,
    BearerAuth,
    DeploymentInProgress,
    KuduAuth,
    KuduClient,
    KuduError,
)
from azpublish.azure.retry import RetryPolicy
from azpublish.errors import DeployError, ExitCode
from tests.integration.conftest import HELLO, RunningEmulator

pytestmark = pytest.mark.integration



_open_clients: list[KuduClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close each test's clients: pooled connections left idle slow the emulator's shutdown."""
    yield
    while _open_clients:
        _open_clients.pop().close()


class Sleeps:
    """An injected ``sleep``: records each wait, runs ``hook`` on it, waits at most ``cap`` s."""

    def __init__(self, cap: float = 0.0, hook: Callable[[int], None] | None = None) -> None:
        self.seconds: list[float] = []
        self._cap = cap
        self._hook = hook

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        if self._hook is not None:
            self._hook(len(self.seconds))
        if self._cap:
            time.sleep(min(seconds, self._cap))


def kudu_client(emulator: RunningEmulator, app: str, *, sleeps: Sleeps | None = None,
                attempts: int = 5, auth: KuduAuth | None = None,
                notes: list[str] | None = None, base_url: str | None = None,
                verify: str | bool | None = None) -> KuduClient:
    retry = RetryPolicy(attempts=attempts, sleep=sleeps or Sleeps(),
                        on_retry=notes.append if notes is not None else None)
    client = KuduClient(base_url or emulator.scm_url(app),
                        auth or BearerAuth(lambda: emulator.token()),
                        verify=emulator.ca_bundle if verify is None else verify, retry=retry,
                        busy_poll_interval=0.05)
    _open_clients.append(client)
    return client


def write_package(tmp_path: Path, padding: int = 0, **extra: str | bytes) -> Path:
    files: dict[str, str | bytes] = dict(extra)
    if padding:
        files["pad.bin"] = os.urandom(padding)  # incompressible: the upload really is this big
    path = tmp_path / "app.zip"
    path.write_bytes(RunningEmulator.v2_app(HELLO, **files))
    return path


def zipdeploy_requests(emulator: RunningEmulator, app: str) -> list[dict[str, Any]]:
    journal = emulator.admin("GET", "/requests").json()
    return [r for r in journal if r["method"] == "POST"
            and r["path"].lower() == f"/scm/{app}/api/zipdeploy".lower()]


def credentials(emulator: RunningEmulator, app: str) -> tuple[str, str, str]:
    body = emulator.arm("POST", f"{emulator.site_path(app)}/config/publishingcredentials/list")
    properties = body.json()["properties"]
    return (properties["publishingUserName"], properties["publishingPassword"],
            properties["scmUri"])


def assert_no_secret(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text


def test_zipdeploy_streams_the_package_and_reports_progress(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    package = write_package(tmp_path, padding=600_000)
    size = package.stat().st_size
    progress: list[int] = []
    started = kudu_client(emulator, app).zipdeploy(package, deployer="azpublish",
                                                   message="first", progress=progress.append)
    assert started.status_code == 202
    assert started.deployment_id
    assert started.location and "/api/deployments/latest" in started.location
    assert progress[-1] == size
    # Counted on what the server acknowledged: rising to the whole, with a step before it
    # (how many depends on the socket buffers).
    assert progress == sorted(progress) and progress[0] < size
    steps = [b - a for a, b in zip([0, *progress], progress, strict=False)]
    assert max(steps) <= 1024 * 1024 < size * 2  # read in chunks, never the whole file at once
    record = emulator.wait_for_deployment(app, started.deployment_id)
    assert (record["status"], record["message"], record["deployer"]) == (4, "first", "azpublish")


def test_503s_on_zipdeploy_are_retried_with_backoff_then_succeed(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, path="*/api/zipdeploy", status=503, count=3)
    package = write_package(tmp_path, padding=100_000)
    sleeps, notes, progress = Sleeps(), list[str](), list[int]()
    client = kudu_client(emulator, app, sleeps=sleeps, notes=notes)
    started = client.zipdeploy(package, deployer="azpublish", message="m",
                               progress=progress.append)
    assert started.status_code == 202 and started.deployment_id
    assert [r["status"] for r in zipdeploy_requests(emulator, app)] == [503, 503, 503, 202]
    assert len(sleeps.seconds) == 3
    for attempt, waited in enumerate(sleeps.seconds, start=1):
        ceiling = 2.0 ** (attempt - 1)
        assert ceiling / 2 <= waited <= ceiling
    # Each attempt re-opens the file and counts from its start (a 503 may come before the
    # server acknowledged much); the last one reaches the whole package.
    assert progress[-1] == package.stat().st_size
    assert progress[0] < package.stat().st_size
    assert len(notes) == 3 and all("answered 503" in n for n in notes)
    assert_no_secret([emulator.token()], *notes)
    assert emulator.wait_for_deployment(app, started.deployment_id)["status"] == 4


def test_429_retry_after_is_honoured(emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, path="*/api/zipdeploy", status=429, retry_after=7)
    sleeps = Sleeps()
    started = kudu_client(emulator, app, sleeps=sleeps).zipdeploy(
        write_package(tmp_path), deployer="azpublish", message="m")
    assert started.status_code == 202
    assert sleeps.seconds == [7.0]


def test_retries_are_bounded_and_the_error_says_where_what_and_why(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    fault = emulator.add_fault(kind="fail", app=app, path="*/api/zipdeploy", status=503,
                               count=0)
    sleeps = Sleeps()
    client = kudu_client(emulator, app, sleeps=sleeps, attempts=3)
    try:
        with pytest.raises(KuduError) as caught:
            client.zipdeploy(write_package(tmp_path), deployer="azpublish",
                             message="secret-free message")
    finally:
        emulator.admin("DELETE", f"/faults/{fault}")
    error = caught.value
    assert error.status == 503 and error.exit_code == ExitCode.DEPLOY
    assert len(sleeps.seconds) == 2 and len(zipdeploy_requests(emulator, app)) == 3
    text = str(error)
    assert f"POST {emulator.scm_url(app)}/api/zipdeploy:" in text
    assert "?" not in (error.where or "")
    assert "answered 503 (after 3 attempts)" in text
    assert "Injected fault" in text  # the server's body
    assert "request id" in text
    assert "hint:" in text
    assert_no_secret([emulator.token(), "Bearer"], text, repr(error))


def test_dropped_upload_connection_is_recovered(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="drop_upload", app=app, after_bytes=300_000)
    package = write_package(tmp_path, padding=2_000_000)
    progress: list[int] = []
    sleeps = Sleeps(cap=0.2)
    started = kudu_client(emulator, app, sleeps=sleeps).zipdeploy(
        package, deployer="azpublish", message="m", progress=progress.append)
    assert started.status_code == 202 and started.deployment_id
    # Sent again after the drop (progress counts acknowledged bytes, so the first attempt's
    # share may be too small to show a restart there): the server saw two uploads.
    assert len(zipdeploy_requests(emulator, app)) == 2, zipdeploy_requests(emulator, app)
    assert progress[-1] == package.stat().st_size
    assert emulator.wait_for_deployment(app, started.deployment_id)["status"] == 4
    assert [d["id"] for d in emulator.kudu("GET", app, "/api/deployments").json()] \
        == [started.deployment_id]


def test_409_waits_for_the_running_deployment_then_uploads(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["pending"])
    first = emulator.deploy(app, emulator.v2_app(HELLO),
                            query="isAsync=true&trackDeploymentProgress=true")
    assert first.status_code == 202

    def release_when_waiting(calls: int) -> None:
        if calls == 1:  # the client has seen the 409 and is waiting: let the first one finish
            emulator.release(app)

    sleeps = Sleeps(cap=0.05, hook=release_when_waiting)
    started = kudu_client(emulator, app, sleeps=sleeps).zipdeploy(
        write_package(tmp_path), deployer="azpublish", message="second", wait_if_busy=60)
    assert started.status_code == 202
    assert started.deployment_id and started.deployment_id != first.headers["SCM-DEPLOYMENT-ID"]
    assert [r["status"] for r in zipdeploy_requests(emulator, app)] == [202, 409, 202]
    assert emulator.wait_for_deployment(app, first.headers["SCM-DEPLOYMENT-ID"])["status"] == 4
    assert emulator.wait_for_deployment(app, started.deployment_id)["status"] == 4


def test_409_gives_up_after_the_wait_allowed(emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["pending"])
    assert emulator.deploy(app, emulator.v2_app(HELLO)).status_code == 202
    client = kudu_client(emulator, app, sleeps=Sleeps(cap=0.05))
    package = write_package(tmp_path)
    try:
        begun = time.monotonic()
        with pytest.raises(DeploymentInProgress) as caught:
            client.zipdeploy(package, deployer="azpublish", message="m", wait_if_busy=0.5)
        assert 0.5 <= time.monotonic() - begun < 5
        assert "still busy after waiting 0.5 s" in str(caught.value)
        assert "deployment currently in progress" in str(caught.value)
        with pytest.raises(DeploymentInProgress):
            client.zipdeploy(package, deployer="azpublish", message="m", wait_if_busy=0)
    finally:
        emulator.release(app)
    assert [r["status"] for r in zipdeploy_requests(emulator, app)] == [202, 409, 409]


def test_409_that_waiting_cannot_fix_fails_fast(emulator: RunningEmulator,
                                                tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {"WEBSITE_RUN_FROM_PACKAGE": "https://packages.invalid/app.zip"})
    client = kudu_client(emulator, app, sleeps=Sleeps(cap=0.05))
    begun = time.monotonic()
    with pytest.raises(KuduError) as caught:
        client.zipdeploy(write_package(tmp_path), deployer="azpublish", message="m",
                         wait_if_busy=60)
    assert time.monotonic() - begun < 10
    assert not isinstance(caught.value, DeploymentInProgress)
    assert caught.value.status == 409
    assert "Run-From-Zip is set to a remote URL" in str(caught.value)
    assert len(zipdeploy_requests(emulator, app)) == 2


def test_an_upload_whose_answer_times_out_is_not_sent_twice(emulator: RunningEmulator,
                                                             tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true"})
    emulator.add_fault(kind="slow_build", app=app, seconds=1.5)
    sleeps = Sleeps()
    with KuduClient(emulator.scm_url(app), BearerAuth(lambda: emulator.token()),
                    verify=emulator.ca_bundle, retry=RetryPolicy(sleep=sleeps),
                    upload_timeout=(10.0, 0.5)) as client, \
            pytest.raises(KuduError) as caught:  # a sync deploy answers only after the build
        client.zipdeploy(write_package(tmp_path), deployer="azpublish", message="m",
                         asynchronous=False)
    assert "did not answer in time; a deployment may be running" in str(caught.value)
    assert sleeps.seconds == []
    assert len(zipdeploy_requests(emulator, app)) <= 1  # journaled when the server answers
    deployments = emulator.kudu("GET", app, "/api/deployments").json()
    assert len(deployments) == 1
    assert emulator.wait_for_deployment(app, deployments[0]["id"])["status"] == 4


def test_basic_auth_refused_by_policy_is_auth_rejected(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    user, password, scm_uri = credentials(emulator, app)
    assert password in scm_uri
    # The publishing credentials' scmUri embeds the password: the client must not keep it.
    client = kudu_client(emulator, app, auth=BasicAuth(user, password), base_url=scm_uri)
    assert password not in client.base_url and password not in repr(client)
    assert password not in repr(client.auth)
    assert client.deployments() == []
    assert emulator.arm("PUT", f"{emulator.site_path(app)}/basicPublishingCredentialsPolicies/scm",
                        json={"properties": {"allow": False}}).status_code == 200
    with pytest.raises(AuthRejected) as caught:
        client.deployments()
    error = caught.value
    assert error.status == 401 and error.exit_code == ExitCode.DEPLOY
    assert "basic authentication is disabled" in str(error)
    assert "basicPublishingCredentialsPolicies" in (error.fix or "")
    assert_no_secret([password, client.auth.headers()["Authorization"].split()[1]],
                     str(error), repr(error))
    # What the caller falls back to: Bearer still works on the same app.
    assert kudu_client(emulator, app).deployments() == []


def test_wrong_basic_password_is_auth_rejected_without_retries(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    user, _, _ = credentials(emulator, app)
    sleeps = Sleeps()
    client = kudu_client(emulator, app, auth=BasicAuth(user, "not-the-password"), sleeps=sleeps)
    with pytest.raises(AuthRejected):
        client.is_deploying()
    assert sleeps.seconds == []


def test_certificate_failure_is_reported_without_retrying(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    sleeps = Sleeps()
    client = kudu_client(emulator, app, sleeps=sleeps, verify=certifi.where())
    with pytest.raises(KuduError) as caught:
        client.settings()
    assert sleeps.seconds == []
    assert "could not reach Kudu" in str(caught.value)
    assert "certificate" in str(caught.value).lower()


def test_unreachable_kudu_is_retried_then_reported(tmp_path: Path, unused_tcp_port: int) -> None:
    port = unused_tcp_port
    sleeps = Sleeps()
    client = KuduClient(f"https://$app:pw-in-url-123@127.0.0.1:{port}/scm/app",
                        BearerAuth(lambda: "token-value-abc"),
                        retry=RetryPolicy(attempts=3, sleep=sleeps))
    with pytest.raises(KuduError) as caught:
        client.zipdeploy(write_package(tmp_path), deployer="azpublish", message="m")
    assert len(sleeps.seconds) == 2
    text = str(caught.value)
    assert "could not reach Kudu (after 3 attempts)" in text
    assert f"POST https://127.0.0.1:{port}/scm/app/api/zipdeploy" in text
    assert "isAsync" not in text  # no query string from requests' own message
    assert_no_secret(["pw-in-url-123", "token-value-abc"], text, repr(caught.value))


def test_flex_takes_onedeploy_and_zipdeploy_says_so(emulator: RunningEmulator,
                                                    tmp_path: Path) -> None:
    app = emulator.create_app(plan="flex")
    client = kudu_client(emulator, app)
    package = write_package(tmp_path)
    with pytest.raises(KuduError) as caught:
        client.zipdeploy(package, deployer="azpublish", message="m")
    assert caught.value.status == 404
    assert "OneDeploy" in (caught.value.fix or "")
    started = client.onedeploy(package, remote_build=False, deployer="azpublish", message="flex")
    # No SCM-DEPLOYMENT-ID on Flex: the client takes the id from the 202's body / Location.
    assert started.status_code == 202 and started.deployment_id
    assert started.location == \
        f"{emulator.scm_url(app)}/api/deployments/{started.deployment_id}"
    record = emulator.wait_for_deployment(app, started.deployment_id)
    assert (record["status"], record["message"]) == (4, "")  # Flex drops the message


def test_settings_is_deploying_deployments_and_logs(emulator: RunningEmulator,
                                                   tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {"AZPUBLISH_TEST_SETTING": "on"})
    client = kudu_client(emulator, app)
    assert client.settings()["AZPUBLISH_TEST_SETTING"] == "on"
    assert client.is_deploying() is False
    started = client.zipdeploy(write_package(tmp_path), deployer="azpublish", message="m",
                               asynchronous=False)
    assert started.status_code == 200 and started.deployment_id
    assert [d["id"] for d in client.deployments()] == [started.deployment_id]
    assert client.deployment(started.deployment_id)["status"] == 4
    log = client.log(started.deployment_id)
    assert log[-1]["message"] == "Deployment successful."
    with pytest.raises(KuduError) as caught:
        client.deployment("no-such-deployment")
    assert caught.value.status == 404


def test_urls_stay_on_the_scm_site() -> None:
    client = KuduClient("https://scm.example.test/scm/app/", BearerAuth(lambda: "t"))
    assert client.url("api/deployments") == "https://scm.example.test/scm/app/api/deployments"
    assert client.url("https://SCM.example.test:443/scm/app/api/x") \
        == "https://SCM.example.test:443/scm/app/api/x"
    # A details_url on another host is re-based: credentials never leave the SCM site.
    assert client.url("https://elsewhere.test/api/deployments/1/log/2?x=1") \
        == "https://scm.example.test/scm/app/api/deployments/1/log/2?x=1"
    assert client.url("HTTPS://elsewhere.test/api/x") == "https://scm.example.test/scm/app/api/x"
    assert client.url("//elsewhere.test/api/x") \
        == "https://scm.example.test/scm/app/elsewhere.test/api/x"
    for foreign in ("https://elsewhere.test/collect", "ftp://scm.example.test/api/x"):
        with pytest.raises(DeployError):
            client.url(foreign)
    assert client.describe("api/zipdeploy?message=x") \
        == "https://scm.example.test/scm/app/api/zipdeploy"
