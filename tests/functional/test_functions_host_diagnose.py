"""``diagnose`` against a small host on loopback: what it asks, how few times, and that a host
that misbehaves is a reason in ``problem``, never an exception."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from azpublish.azure import functions_host
from azpublish.azure.functions_host import MAX_FUNCTIONS_ASKED, diagnose

KEY = "master-key-for-the-test"


class FakeHost(ThreadingHTTPServer):
    """Answers GETs from ``answers`` (path -> (status, body)); 404 for other paths."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: dict[str, tuple[int, Any]] = {}
        self.seen: list[tuple[str, str | None]] = []
        self.stall = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeHost

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("x-functions-key")))
        time.sleep(self.server.stall)
        status, body = self.server.answers.get(self.path, (404, None))
        data = b"" if body is None else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the stalled host's test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def host() -> Iterator[FakeHost]:
    server = FakeHost()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_asks_the_host_then_each_missing_function_with_the_master_key(host: FakeHost) -> None:
    host.answers = {
        "/admin/host/status": (200, {"state": "Running", "id": "shop"}),
        "/admin/functions/Orders/status": (200, {"errors": ["The binding name 1st is invalid."]}),
        "/admin/functions/Ping/status": (200, {}),
    }
    found = diagnose(host.url, KEY, ["Orders", "Ping", "Gone"])
    assert [path for path, _ in host.seen] == [
        "/admin/host/status", "/admin/functions/Orders/status", "/admin/functions/Ping/status",
        "/admin/functions/Gone/status"]
    assert {key for _, key in host.seen} == {KEY}  # in the header: no ?code= in any URL
    assert [(e.function, e.summary) for e in found.errors] == [
        ("Orders", "The binding name 1st is invalid.")]
    assert (found.state, found.problem, found.not_asked) == ("Running", None, ())


def test_the_hosts_own_error_comes_first(host: FakeHost) -> None:
    host.answers = {"/admin/host/status": (200, {
        "state": "Error", "errors": ["Microsoft.Azure.WebJobs.Script: host.json: invalid."]})}
    found = diagnose(host.url, KEY, [])
    assert [(e.function, e.summary) for e in found.errors] == [
        (None, "Microsoft.Azure.WebJobs.Script: host.json: invalid.")]
    assert found.state == "Error" and len(host.seen) == 1


def test_at_most_a_few_functions_are_asked_about(host: FakeHost) -> None:
    host.answers = {"/admin/host/status": (200, {"state": "Running"})}
    names = [f"F{n:02}" for n in range(MAX_FUNCTIONS_ASKED + 4)]
    found = diagnose(host.url, KEY, names)
    assert len(host.seen) == 1 + MAX_FUNCTIONS_ASKED
    assert found.not_asked == tuple(names[MAX_FUNCTIONS_ASKED:])


def test_a_refusal_stops_the_questions_and_says_why(host: FakeHost) -> None:
    host.answers = {"/admin/host/status": (401, None)}
    found = diagnose(host.url, KEY, ["Orders"])
    assert found.problem == "the host's admin API: GET /admin/host/status answered 401"
    assert len(host.seen) == 1 and found.errors == ()
    host.seen.clear()
    host.answers = {"/admin/host/status": (200, {"state": "Running"}),
                    "/admin/functions/A/status": (200, {"errors": ["A is broken."]}),
                    "/admin/functions/B/status": (500, "oops")}
    found = diagnose(host.url, KEY, ["A", "B", "C"])
    assert [e.function for e in found.errors] == ["A"]  # what was learnt before is kept
    assert found.problem == "the host's admin API: GET /admin/functions/B/status answered 500"
    assert len(host.seen) == 3


def test_a_body_that_is_not_json_is_no_error(host: FakeHost) -> None:
    host.answers = {"/admin/host/status": (200, "plain text")}
    found = diagnose(host.url, KEY, [])
    assert found.errors == () and found.problem is None and found.state is None


def test_an_unreachable_or_silent_host_is_a_problem_not_an_exception(
        host: FakeHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(functions_host, "REQUEST_TIMEOUT", 0.3)
    host.stall = 2.0
    began = time.monotonic()
    found = diagnose(host.url, KEY, ["Orders"])
    assert time.monotonic() - began < 2.0
    assert found.problem == "the host's admin API: GET /admin/host/status failed: ReadTimeout"
    host.stall = 0.0
    closed = FakeHost()
    closed.server_close()  # the port is free again: nothing listens there
    found = diagnose(closed.url, KEY, ["Orders"])
    assert found.problem is not None and "ConnectionError" in found.problem
