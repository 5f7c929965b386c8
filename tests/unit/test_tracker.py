"""The tracker's verdicts on deployment records, for statuses the emulator never produces
(Flex's -1, 5 and 6, unknown ones), and the failure excerpt's bounds."""

from __future__ import annotations

from typing import Any

import pytest

from azpublish.azure.kudu import KuduError, Started
from azpublish.azure.tracker import (
    SUCCESS,
    DeploymentOutcome,
    deployment_finished,
    failure_excerpt,
    track_deployment,
)
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


# --- a named record that answers 404 for a while ------------------------------------------------


class ScriptedKudu:
    """Answers ``deployment(id)`` from a script: a dict is the record, an int an error status.

    Only the calls the tracker makes; the clock advances by each sleep, so no time passes.
    """

    def __init__(self, script: list[dict[str, Any] | int], log_status: int | None = None
                 ) -> None:
        self.script = script
        self.log_status = log_status
        self.polls = 0

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        answer = self.script[min(self.polls, len(self.script) - 1)]
        self.polls += 1
        if isinstance(answer, int):
            raise KuduError(f"answered {answer}: Deployment '{deployment_id}' not found.",
                            where=f"GET {self.describe('api/deployments/' + deployment_id)}",
                            status=answer, transient=answer >= 500 or answer == 429)
        return dict(answer)

    def log(self, deployment_id: str) -> list[dict[str, Any]]:
        if self.log_status is not None:
            raise KuduError(f"answered {self.log_status}", status=self.log_status)
        return [{"id": "e1", "message": "Deployment successful.", "type": 0}]

    def log_details(self, url: str) -> list[dict[str, Any]]:
        return []

    def describe(self, path: str) -> str:
        return f"https://app.scm.test/{path}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def follow(kudu: ScriptedKudu, *, grace: float = 300.0, timeout: float = 1800.0
           ) -> tuple[DeploymentOutcome, list[str]]:
    clock, lines = FakeClock(), []
    outcome = track_deployment(
        kudu, Started(202, "d1", None), message="m", timeout=timeout,  # type: ignore[arg-type]
        on_line=lines.append, poll_interval=2.0, not_found_grace=grace, clock=clock,
        sleep=clock.sleep)
    return outcome, lines


def test_a_record_that_appears_late_is_followed_to_success() -> None:
    kudu = ScriptedKudu([404] * 40 + [{"status": 1}, {"status": 4}])  # 80 s of 404s
    outcome, lines = follow(kudu)
    assert outcome.status == SUCCESS and outcome.deployment_id == "d1"
    waits = [line for line in lines if "not found yet" in line]
    assert len(waits) == 3  # at 0, 30 and 60 s: visible, not one line per poll
    assert "Kudu creates it once the package is unpacked" in waits[0]
    assert "waiting 60 of at most 300 s" in waits[2]
    assert "  Deployment successful." in lines


def test_a_record_that_never_appears_fails_after_the_grace() -> None:
    with pytest.raises(DeployError) as caught:
        follow(ScriptedKudu([404]), grace=60.0)
    assert "deployment d1 never appeared: Kudu answered 404 for 60 s" in caught.value.what
    assert caught.value.exit_code == ExitCode.DEPLOY
    assert "https://app.scm.test/api/deployments" in (caught.value.fix or "")


def test_a_record_lost_for_a_moment_while_running_is_followed_again() -> None:
    kudu = ScriptedKudu([{"status": 1}, 404, 404, {"status": 2}, {"status": 4}])
    outcome, lines = follow(kudu)
    assert outcome.status == SUCCESS
    assert any("Kudu lost it for a moment" in line for line in lines)


def test_a_record_that_disappears_for_good_fails_naming_that() -> None:
    with pytest.raises(DeployError, match="deployment d1 disappeared"):
        follow(ScriptedKudu([{"status": 1}, 404]), grace=30.0)


def test_a_log_that_answers_404_does_not_fail_a_successful_deployment() -> None:
    outcome, lines = follow(ScriptedKudu([{"status": 4}], log_status=404))
    assert outcome.status == SUCCESS and lines == []


@pytest.mark.parametrize("status", [400, 410])
def test_errors_of_the_request_itself_fail_at_once(status: int) -> None:
    kudu = ScriptedKudu([status, {"status": 4}])
    with pytest.raises(DeployError, match=f"lost track of deployment d1: answered {status}"):
        follow(kudu)
    assert kudu.polls == 1


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_the_service_in_trouble_for_minutes_does_not_end_the_tracking(status: int) -> None:
    kudu = ScriptedKudu([{"status": 1}, *[status] * 90, {"status": 4}])  # 3 minutes of errors
    outcome, lines = follow(kudu)
    assert outcome.status == SUCCESS
    said = [line for line in lines if "could not read the deployment's status" in line]
    assert 3 <= len(said) <= 7  # now and then, not once per poll
    assert f"answered {status}" in said[0] and "of at most 1800 s" in said[0]
    assert "  Kudu answers again; following the deployment" in lines


def test_the_service_in_trouble_until_the_timeout_fails_saying_so() -> None:
    with pytest.raises(DeployError) as caught:
        follow(ScriptedKudu([{"status": 1}, 503]), timeout=60.0)
    assert ("lost track of deployment d1 (its status could not be read until --timeout 60 s): "
            "answered 503") in caught.value.what
