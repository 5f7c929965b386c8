"""Every wait of a publish is said as it happens and stays within --timeout: the server's
Retry-After, another deployment holding the app, retries after a 503."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import Run, RunningEmulator

pytestmark = pytest.mark.integration




def test_a_retry_after_longer_than_the_timeout_fails_at_once_saying_so(
        run: Run, emulator: RunningEmulator, hello: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, method="POST", path="*/api/zipdeploy", status=429,
                       retry_after=86400, count=0)
    begun = time.monotonic()
    code, _, err = run("--project-dir", hello, "--app", app, "--timeout", "60")
    assert code == 4, err
    assert time.monotonic() - begun < 60
    assert "answered 429" in err
    assert "asked to be retried after 86400 s, longer than azpublish waits (60 s)" in err


def test_retries_are_said_as_they_happen(run: Run, emulator: RunningEmulator,
                                         hello: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, method="POST", path="*/api/zipdeploy", status=503,
                       count=2)
    code, _, err = run("--project-dir", hello, "--app", app)
    assert code == 0, err
    assert "answered 503; retry 1 of 4 in" in err and "answered 503; retry 2 of 4 in" in err


def test_waiting_for_another_deployment_stays_within_the_timeout(
        run: Run, emulator: RunningEmulator, hello: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["building"], count=1)
    other = emulator.deploy(app, emulator.v2_app("x = 1\n"))
    assert other.status_code == 202
    begun = time.monotonic()
    try:
        code, _, err = run("--project-dir", hello, "--app", app, "--timeout", "6")
    finally:
        emulator.release(app)
    assert code == 4, err
    assert "still busy after waiting 6 s" in err
    assert time.monotonic() - begun < 60  # not the 300 s an upload may otherwise wait
