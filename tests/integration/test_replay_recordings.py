"""The unmodified CLI against App Service's recorded answers, served on a local TLS server.

``real_interactions.json`` holds what the real service answered other clients. Here those
answers are served again, on loopback, to ``azpublish`` as it is: only host names are rewritten
(``*.azurewebsites.net`` and ``management.azure.com`` become this server). Calls the
recordings do not cover are answered with the reference's shapes and listed, so the test says
exactly what was recorded and what was not.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Run
from tests.integration.conftest import hello_project
from tests.integration.pypi_index import make_certificates

pytestmark = pytest.mark.integration

RECORDINGS = (Path(__file__).resolve().parents[3] / "shared" / "reference" / "recordings"
              / "real_interactions.json")


@dataclass
class Replay:
    """Recorded answers by (method, path); what else was asked is answered and remembered."""

    port: int = 0
    answers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    unrecorded: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    asked: list[tuple[str, str, bool]] = field(default_factory=list)  # method, path, recorded

    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rewrite(self, text: str) -> str:
        text = re.sub(r"https://[a-z0-9-]+(\.scm)?\.azurewebsites\.net(:443)?",
                      f"https://{self.host()}", text)
        text = re.sub(r"\b[a-z0-9-]+(\.scm)?\.azurewebsites\.net\b", self.host(), text)
        return re.sub(r"https://management\.azure\.com(:443)?", f"https://{self.host()}", text)

    def record(self, key: str, *, path: str | None = None, method: str | None = None) -> None:
        """Serve the recorded answer ``key``; at its own request line unless told otherwise
        (the write-up's function list has none; a PATCH of config/web answers the same
        resource a GET does)."""
        interaction = json.loads(RECORDINGS.read_text())[key]
        route = path or urlsplit(interaction["url"]).path
        verb = method or interaction["method"]
        self.answers[(verb, route.lower())] = interaction


def _handler(replay: Replay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = urlsplit(self.path).path.lower()
            recorded = replay.answers.get((self.command, path))
            replay.asked.append((self.command, path, recorded is not None))
            if recorded is not None:
                status, body = recorded["status"], replay.rewrite(recorded["body"])
                headers = {k: replay.rewrite(v if isinstance(v, str) else v[0])
                           for k, v in recorded["headers"].items()
                           if k.lower() in ("location", "scm-deployment-id", "x-ms-request-id",
                                            "content-type")}
            else:
                status, value = replay.unrecorded.get(
                    (self.command, path),
                    (404, {"error": {"code": "NotRecorded", "message": "not in the recordings"}}))
                body, headers = json.dumps(value), {"Content-Type": "application/json"}
            data = body.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = _answer

    return Handler


class _Identity(BaseHTTPRequestHandler):
    """App Service's managed-identity endpoint, enough for ManagedIdentityCredential."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"access_token": "replayed-token", "expires_on": "4102444800",
                           "resource": "https://management.azure.com", "token_type": "Bearer"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())


@pytest.fixture
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Replay, Path]]:
    ca, cert, key = make_certificates(tmp_path)
    state = Replay()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    identity = ThreadingHTTPServer(("127.0.0.1", 0), _Identity)
    for running in (server, identity):
        threading.Thread(target=running.serve_forever, daemon=True).start()
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{identity.server_address[1]}/msi")
    monkeypatch.setenv("IDENTITY_HEADER", "replay")
    try:
        yield state, ca
    finally:
        for running in (server, identity):
            running.shutdown()
            running.server_close()


def _app(tmp_path: Path) -> Path:
    return hello_project(tmp_path / "app")


def _site(subscription: str, group: str, app: str) -> str:
    return (f"/subscriptions/{subscription}/resourcegroups/{group}/providers/microsoft.web"
            f"/sites/{app}")


def _site_path(key: str) -> tuple[str, str, str]:
    """(subscription, resource group, app) of a recorded site URL."""
    parts = urlsplit(json.loads(RECORDINGS.read_text())[key]["url"]).path.split("/")
    return parts[2], parts[4], parts[8]


def test_the_cli_publishes_to_the_recorded_flex_app(run: Run, replay: tuple[Replay, Path],
                                                    tmp_path: Path) -> None:
    state, ca = replay
    subscription, group, app = _site_path("flex_site_get")
    site = _site(subscription, group, app)
    for key in ("flex_site_get", "flex_plan_get", "flex_publish", "flex_deployment"):
        state.record(key)
    state.record("functions_list_python_v2", path=f"{site}/functions", method="GET")
    site_config = json.loads(json.loads(RECORDINGS.read_text())["flex_site_get"]["body"])
    # Not recorded: answered with the reference's shapes.
    state.unrecorded.update({
        ("POST", f"{site}/config/appsettings/list"): (200, {"properties": {}}),
        # The site's own recorded siteConfig, as the config/web resource.
        ("GET", f"{site}/config/web"): (200, {"id": f"{site}/config/web", "name": "web",
                                              "type": "Microsoft.Web/sites/config",
                                              "properties": site_config["properties"]
                                              ["siteConfig"]}),
        ("GET", "/api/deployments"): (200, []),
        ("GET", "/api/deployments/34bf9c6a-75c1-47d0-9f1a-b2192def1314/log"): (200, []),
        ("POST", f"{site}/syncfunctiontriggers"): (200, ""),
        # The Microsoft.Resources tags API's answer (azpublish remembers the package there).
        ("PATCH", f"{site}/providers/microsoft.resources/tags/default"): (200, {
            "id": f"{site}/providers/Microsoft.Resources/tags/default", "name": "default",
            "type": "Microsoft.Resources/tags", "properties": {"tags": {}}}),
    })
    code, out, err = run("--project-dir", _app(tmp_path), "--app", app, "--resource-group", group,
                         "--subscription", subscription, "--arm-endpoint",
                         f"https://{state.host()}", "--ca-bundle", ca, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["deployment"]["deployment_id"] == "34bf9c6a-75c1-47d0-9f1a-b2192def1314"
    assert report["deployment"]["status"] == "success"
    assert [f["name"] for f in report["functions"]] == ["create_cert"]
    recorded = {(method, path) for method, path, was in state.asked if was}
    assert {("GET", site), ("POST", "/api/publish"), ("GET", f"{site}/functions"),
            ("GET", "/api/deployments/34bf9c6a-75c1-47d0-9f1a-b2192def1314")} <= recorded
    unrecorded = {(method, path) for method, path, was in state.asked if not was}
    assert unrecorded <= set(state.unrecorded) | {("GET", "/metadata/endpoints")}


def test_the_cli_refuses_the_recorded_premium_container_app(
        run: Run, replay: tuple[Replay, Path], tmp_path: Path) -> None:
    state, ca = replay
    subscription, group, app = _site_path("premium_site_get")
    state.record("premium_site_get")
    state.record("premium_config_web_patch", method="GET")
    code, _, err = run("--project-dir", _app(tmp_path), "--app", app, "--resource-group", group,
                       "--subscription", subscription, "--arm-endpoint",
                       f"https://{state.host()}", "--ca-bundle", ca)
    assert code == 2, err
    assert f"{app} runs 'docker', not Python" in err
    assert not any(path.startswith("/api/") for _, path, _ in state.asked)  # nothing uploaded


def test_the_cli_refuses_the_recorded_dedicated_web_app(
        run: Run, replay: tuple[Replay, Path], tmp_path: Path) -> None:
    """The recorded Linux App Service site (Standard, PYTHON|3.11) is a web app, kind
    ``app,linux``: azpublish says so and uploads nothing. (Its recorded zipdeploy answer is
    compared with the emulator's in test_emulator_vs_recordings.)"""
    state, ca = replay
    subscription, group, app = _site_path("linux_site_get")
    state.record("linux_site_get")
    site_body = json.loads(json.loads(RECORDINGS.read_text())["linux_site_get"]["body"])
    site = _site(subscription, group, app)
    state.unrecorded[("GET", f"{site}/config/web")] = (
        200, {"id": f"{site}/config/web", "properties": site_body["properties"]["siteConfig"]})
    code, _, err = run("--project-dir", _app(tmp_path), "--app", app, "--resource-group", group,
                       "--subscription", subscription, "--arm-endpoint",
                       f"https://{state.host()}", "--ca-bundle", ca)
    assert code == 2, err
    assert f"{app} is not a function app (kind 'app,linux')" in err
    assert not any(path.startswith("/api/") for _, path, _ in state.asked)
