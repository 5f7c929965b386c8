"""OneDeploy (/api/publish) without async=true on Linux Kudu: answered once the deployment ended."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.integration.conftest import HELLO, RunningEmulator

pytestmark = pytest.mark.integration


def test_sync_onedeploy_answers_200_once_the_deployment_has_ended(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["building"])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(emulator.deploy, app, emulator.v2_app(HELLO), endpoint="publish",
                             query="type=zip")
        deadline = time.monotonic() + 30
        while emulator.kudu("GET", app, "/api/isdeploying").json() != {"value": "True"}:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        assert not answer.done()  # held in the build: no answer yet
        emulator.release(app)
        done = answer.result(timeout=60)
    assert (done.status_code, done.content) == (200, b"")
    assert "Location" not in done.headers
    record = emulator.kudu("GET", app, "/api/deployments").json()[0]
    assert (record["status"], record["complete"], record["deployer"]) == (4, True, "OneDeploy")
    assert requests.get(f"{emulator.site_url(app)}/api/hello", verify=emulator.ca_bundle,
                        timeout=60).text == "hello"


def test_sync_onedeploy_of_a_failing_build_is_200_with_a_failed_record(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {"PIP_RETRIES": "0", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""})
    package = emulator.v2_app(HELLO, **{"requirements.txt": "no-such-package-anywhere==1.0\n"})
    answer = emulator.deploy(app, package, endpoint="publish", query="type=zip&RemoteBuild=true")
    assert answer.status_code == 200  # Kudu records the failure; the answer stays 200
    record = emulator.kudu("GET", app, "/api/deployments").json()[0]
    assert (record["status"], record["complete"]) == (3, True)


def test_onedeploy_on_linux_kudu_needs_the_zip_type(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    package = emulator.v2_app(HELLO)
    untyped = emulator.deploy(app, package, endpoint="publish", query="")
    assert untyped.status_code == 400 and "type" in untyped.text
    war = emulator.deploy(app, package, endpoint="publish", query="type=war")
    assert war.status_code == 400
    assert emulator.kudu("GET", app, "/api/deployments").json() == []
    put = emulator.kudu("PUT", app, "/api/publish?type=ZIP", data=package)  # Kudu takes PUT too
    assert put.status_code == 200


def test_a_stalled_upload_is_cut_and_lets_the_next_deployment_in(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    release = threading.Event()

    def stalling_body() -> Iterator[bytes]:
        yield b"PK\x03\x04" + bytes(64 * 1024)  # a start, then nothing more
        release.wait(60)

    stalled: list[BaseException | requests.Response] = []

    def stall() -> None:
        try:
            stalled.append(emulator.deploy(app, stalling_body(), timeout=60))  # type: ignore[arg-type]
        except requests.RequestException as exc:
            stalled.append(exc)

    with emulator.configured(upload_idle_timeout_seconds=2):
        thread = threading.Thread(target=stall)
        thread.start()
        try:
            time.sleep(4)  # past the idle timeout
            answer = emulator.deploy(app, emulator.v2_app(HELLO))
        finally:
            release.set()
            thread.join(60)
    assert answer.status_code == 202, answer.text  # not 409: the stalled upload holds nothing
    assert stalled and not (isinstance(stalled[0], requests.Response)
                            and stalled[0].status_code in (200, 202))
