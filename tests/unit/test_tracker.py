"""The tracker's verdicts on deployment records, for statuses the emulator never produces
(Flex's -1, 5 and 6, unknown ones), and the failure excerpt's bounds."""

from __future__ import annotations

from typing import Any

import pytest

from azpublish.azure.tracker import deployment_finished, failure_excerpt
from azpublish.errors import DeployError, ExitCode
from azpublish.redact import register_secret

WHERE = "https://scm.test/api/deployments/d1"
LOG_URL = "https://scm.test/api/deployments/d1/log"


def entry(message: str, kind: int = 0, entry_id: str | None = None) -> dict[str, Any]:
    return {"id": entry_id or message, "message": message, "type": kind}


def verdict(record: dict[str, Any], log: list[Any] | None = None) -> bool:
    return deployment_finished({"id": "d1", **record}, log or [], where=WHERE, log_url=LOG_URL)


@pytest.mark.parametrize("status", [0, 1, 2, "1"])
def test_in_progress_statuses_keep_polling(status: object) -> None:
    assert verdict({"status": status}) is False


@pytest.mark.parametrize("status", [4, "4"])
def test_status_4_is_success(status: object) -> None:
    assert verdict({"status": status}) is True


@pytest.mark.parametrize("record, expected", [
    ({"status": -1}, "was cancelled"),
    ({"status": 5}, "another deployment was running"),
    ({"status": 6}, "only partly succeeded"),
    ({"status": 7}, "Kudu reported status 7"),
    ({"status": "done"}, "Kudu reported status 'done'"),
    ({"status": True}, "Kudu reported status True"),
    ({"status": None}, "Kudu reported status None"),
    ({}, "Kudu reported status 'none'"),
])
def test_every_other_status_is_a_deploy_error(record: dict[str, Any], expected: str) -> None:
    with pytest.raises(DeployError) as caught:
        verdict(record)
    assert expected in str(caught.value)
    assert caught.value.exit_code == ExitCode.DEPLOY
    assert caught.value.where == WHERE


def test_failure_shows_the_error_entries_and_the_build_output() -> None:
    build = [entry(f"pip line {i}", entry_id=f"c{i}") for i in range(5)]
    log = [(entry("Updating submodules."), []),
           (entry("Running oryx build..."), build),
           (entry("Deployment Failed. Error: Oryx build failed", 2),
            [entry("pip install failed | Exit code: 1", 2)])]
    with pytest.raises(DeployError) as caught:
        verdict({"status": 3, "status_text": ""}, log)
    lines = caught.value.what.splitlines()
    assert lines[0] == "deployment d1 failed"
    assert lines[1:] == ["    Deployment Failed. Error: Oryx build failed",
                         *(f"    pip line {i}" for i in range(5)),
                         "    pip install failed | Exit code: 1"]
    assert LOG_URL in (caught.value.fix or "")


def test_failure_without_error_entries_points_at_the_log() -> None:
    with pytest.raises(DeployError) as caught:
        verdict({"status": 3, "status_text": "Something broke"}, [(entry("hello"), [])])
    assert "failed: Something broke" in str(caught.value)
    assert f"no error entry; see {LOG_URL}" in str(caught.value)


def test_excerpt_keeps_the_tail_within_the_limit() -> None:
    build = [entry(f"pip line {i}", entry_id=f"c{i}") for i in range(500)]
    log = [(entry("Running oryx build..."), build), (entry("Build failed", 2), [])]
    lines = failure_excerpt(log, limit=40)
    assert len(lines) == 40
    assert lines[0] == "Build failed"
    assert lines[1] == "… (462 earlier lines in the deployment log)"
    assert lines[2:] == [f"pip line {i}" for i in range(462, 500)]


def test_excerpt_falls_back_to_warnings_and_is_redacted() -> None:
    register_secret("hunter2-secret")
    log = [(entry("import failed", 1), [entry("token hunter2-secret in traceback", 1)])]
    assert failure_excerpt(log) == ["import failed", "token *** in traceback"]
    assert failure_excerpt([(entry("fine"), [])]) == []


def test_many_error_entries_leave_room_for_details() -> None:
    errors = [(entry(f"error {i}", 2), [entry(f"detail {i}", 2, f"d{i}")]) for i in range(30)]
    lines = failure_excerpt(errors, limit=40)
    assert len(lines) == 40
    assert lines[:10] == [f"error {i}" for i in range(10)]
    assert lines[-1] == "detail 29"
