"""Kudu's log stream: welcome, the recent lines of the site's logs, live lines and heartbeats."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import RunningEmulator, start_emulator

pytestmark = pytest.mark.integration
WELCOME = "Welcome, you are now connected to log-streaming service."
# An anonymous function that logs what it is asked to, for lines to look for.
LOGGING_APP = '''
import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="say")
def say(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("the function says %s", req.params.get("word"))
    return func.HttpResponse("said")
'''


def _open(emulator: RunningEmulator, app: str, path: str = "/api/logstream",
          **kwargs: Any) -> requests.Response:
    response = emulator.kudu("GET", app, path, stream=True, timeout=15, **kwargs)
    assert response.status_code == 200, response.text
    return response


def _read_until(lines: Iterator[str], wanted: Callable[[str], bool],
                seconds: float = 20.0) -> list[str]:
    """Lines up to and including the first ``wanted`` one (heartbeats keep reads short)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    for line in lines:
        seen.append(line)
        if wanted(line):
            return seen
        assert time.monotonic() < deadline, f"not seen in time; got {seen}"
    raise AssertionError(f"the stream ended first; got {seen}")


def _text_lines(response: requests.Response) -> Iterator[str]:
    return (line.decode("utf-8") for line in response.iter_lines())


def test_recent_lines_then_live_lines_then_heartbeats(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    assert emulator.deploy(app, emulator.v2_app(LOGGING_APP), query="").status_code == 200
    say = f"{emulator.site_url(app)}/api/say"
    assert requests.get(say, params={"word": "earlier"}, verify=emulator.ca_bundle,
                        timeout=60).text == "said"
    with emulator.configured(logstream_heartbeat_seconds=0.3, logstream_timeout_seconds=30):
        response = _open(emulator, app)
        try:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            lines = _text_lines(response)
            first = next(lines)
            assert first.endswith(f"  {WELCOME}") and first[:4].isdigit()
            recent = _read_until(lines, lambda line: line.startswith("/home/LogFiles/Application"))
            recent += _read_until(lines, lambda line: "Following /home/LogFiles" in line)
            text = "\n".join(recent)
            assert "/home/LogFiles/kudu/deployment/deployment.log" in text
            assert "Deployment successful." in text
            assert "the function says earlier" in text and "Executed 'Functions.say'" in text
            requests.get(say, params={"word": "live"}, verify=emulator.ca_bundle, timeout=60)
            live = _read_until(lines, lambda line: "the function says live" in line)
            assert any("Executing 'Functions.say'" in line for line in live)
            beat = _read_until(lines, lambda line: "No new trace in the past" in line)
            assert beat[-1].endswith("No new trace in the past 0 min(s).")
        finally:
            response.close()


def test_application_follows_only_the_host_log_and_filter_keeps_a_word(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.deploy_and_wait(app, emulator.v2_app(LOGGING_APP))
    say = f"{emulator.site_url(app)}/api/say"
    with emulator.configured(logstream_heartbeat_seconds=0.3, logstream_timeout_seconds=30):
        response = _open(emulator, app, "/api/logstream/application?filter=PICK")
        try:
            lines = _text_lines(response)
            recent = _read_until(lines, lambda line: "Following /home/LogFiles/Application" in line)
            assert any("Host started" in line for line in recent)
            assert not any("Deployment successful." in line for line in recent)
            for word in ("skipped", "pick-me"):
                requests.get(say, params={"word": word}, verify=emulator.ca_bundle, timeout=60)
            live = _read_until(lines, lambda line: "pick-me" in line)
            assert not any("skipped" in line or "Executing" in line for line in live)
        finally:
            response.close()


def test_the_stream_ends_after_scm_logstream_timeout_without_new_lines(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.kudu("POST", app, "/api/settings", json={"SCM_LOGSTREAM_TIMEOUT": "1"})
    with emulator.configured(logstream_heartbeat_seconds=0.3, logstream_timeout_seconds=30):
        began = time.monotonic()
        response = _open(emulator, app)
        everything = list(_text_lines(response))  # the server ends it
    assert time.monotonic() - began < 10
    assert everything[0].endswith(WELCOME)
    assert everything[-1].endswith("Stream terminated due to timeout 0 min(s).")


def test_the_emulator_bounds_every_stream(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    with emulator.configured(logstream_heartbeat_seconds=0.3, logstream_timeout_seconds=1.0):
        began = time.monotonic()
        everything = list(_text_lines(_open(emulator, app)))
    assert time.monotonic() - began < 10
    assert any("No new trace" in line for line in everything)
    assert "Stream terminated due to timeout" in everything[-1]


def test_other_methods_and_paths_out_of_logfiles_are_refused(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    assert emulator.kudu("POST", app, "/api/logstream").status_code == 400
    assert emulator.kudu("GET", app, "/api/logstream/%2e%2e/wwwroot").status_code == 400


def test_a_stopping_emulator_ends_open_streams(tmp_path: Path) -> None:
    """The stream says so and ends, so that stopping does not wait out the grace period."""
    running = start_emulator(tmp_path)
    try:
        app = running.create_app()
        response = _open(running, app)
        lines = _text_lines(response)
        _read_until(lines, lambda line: "Following /home/LogFiles" in line)
        stopped = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        rest = list(lines)
        assert rest[-1].endswith("The emulator is stopping; the log stream ends.")
    finally:
        assert running.stop() == 0
    assert time.monotonic() - stopped < 4  # uvicorn's grace period is 5 s
