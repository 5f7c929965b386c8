"""A real emulator for integration tests: ``python -m azpublish.emulator start`` on loopback.

The session-scoped ``emulator`` fixture is shared by every integration module (deploy tests of
the whole project included); each test makes its own apps with ``emulator.create_app()``.
Requests pass ``verify=`` explicitly: a session's ``verify`` loses to ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from azpublish.emulator.urls import EmulatorUrls
from tests.integration.pypi_index import private_index  # noqa: F401

HOST_JSON = json.dumps({"version": "2.0"})
# A minimal model-v2 app with one anonymous HTTP function answering "hello".
EXAMPLE_HELLO = Path(__file__).parents[2] / "examples" / "hello"
HELLO = '''
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")
'''
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
_names = itertools.count(1)


@dataclass
class RunningEmulator:
    state_dir: Path
    process: subprocess.Popen[bytes]
    info: dict[str, Any]
    admin_key: str
    _token: str | None = field(default=None, repr=False)

    # -- where it is ---------------------------------------------------------------------------

    @property
    def arm_endpoint(self) -> str:
        return str(self.info["arm_endpoint"])

    @property
    def ca_bundle(self) -> str:
        return str(self.info["ca_bundle"])

    @property
    def subscription_id(self) -> str:
        return str(self.info["subscription_id"])

    @property
    def resource_group(self) -> str:
        return str(self.info["resource_group"])

    @property
    def identity_endpoint(self) -> str:
        return str(self.info["identity_endpoint"])

    @property
    def identity_header(self) -> str:
        return str(self.info["identity_header"])

    def env(self) -> dict[str, str]:
        """The variables ``azpublish emulator env`` exports (from the product's own code)."""
        from azpublish.emulator.endpoint import EndpointInfo

        return EndpointInfo(**self.info).env()

    def site_path(self, app: str, slot: str | None = None) -> str:
        base = (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.Web/sites/{app}")
        return f"{base}/slots/{slot}" if slot else base

    @property
    def urls(self) -> EmulatorUrls:
        """The product's own URL scheme, for the port and scheme this emulator chose."""
        port = int(self.arm_endpoint.rsplit(":", 1)[1])
        return EmulatorUrls("127.0.0.1", port, self.info["url_scheme"])

    def scm_url(self, app: str, slot: str | None = None) -> str:
        return self.urls.scm_url(app, slot)

    def site_url(self, app: str, slot: str | None = None) -> str:
        return self.urls.site_url(app, slot)

    # -- calling it ----------------------------------------------------------------------------

    def token(self, resource: str = "https://management.azure.com") -> str:
        if resource != "https://management.azure.com" or self._token is None:
            response = requests.get(
                self.identity_endpoint, params={"api-version": "2019-08-01", "resource": resource},
                headers={"X-IDENTITY-HEADER": self.identity_header}, timeout=10)
            response.raise_for_status()
            token = str(response.json()["access_token"])
            if resource != "https://management.azure.com":
                return token
            self._token = token
        return self._token

    def request(self, method: str, url: str, *, auth: bool = True, **kwargs: Any
                ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if auth:
            headers.setdefault("Authorization", f"Bearer {self.token()}")
        timeout = kwargs.pop("timeout", 60)
        return requests.request(method, url, headers=headers, verify=self.ca_bundle,
                                timeout=timeout, **kwargs)

    def arm(self, method: str, path: str, *, api_version: str = "2024-04-01",
            **kwargs: Any) -> requests.Response:
        params = dict(kwargs.pop("params", {}) or {})
        params.setdefault("api-version", api_version)
        return self.request(method, f"{self.arm_endpoint}{path}", params=params, **kwargs)

    def kudu(self, method: str, app: str, path: str, *, slot: str | None = None,
             **kwargs: Any) -> requests.Response:
        return self.request(method, f"{self.scm_url(app, slot)}{path}", **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-Emulator-Key": self.admin_key, **(kwargs.pop("headers", {}) or {})}
        return requests.request(method, f"{self.info['admin_url']}{path}", headers=headers,
                                verify=self.ca_bundle, timeout=30, **kwargs)

    # -- packages ------------------------------------------------------------------------------

    @staticmethod
    def package(files: Mapping[str, str | bytes]) -> bytes:
        """A zip of ``files`` (archive path -> content), in memory: test packages are tiny."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                archive.writestr(name, content)
        return buffer.getvalue()

    @classmethod
    def v2_app(cls, body: str, **extra: str | bytes) -> bytes:
        """A model-v2 app: host.json, ``function_app.py`` = ``body``, plus ``extra`` files."""
        return cls.package({"host.json": HOST_JSON, "function_app.py": body, **extra})

    # -- arranging things ------------------------------------------------------------------------

    @staticmethod
    def unique_name(prefix: str = "app") -> str:
        return f"{prefix}-{next(_names)}-{uuid.uuid4().hex[:6]}"


    def create_app(self, name: str | None = None, *, plan: str = "dedicated",
                   python: str = "3.11", resource_group: str | None = None) -> str:
        name = name or self.unique_name(plan)
        response = self.admin("POST", "/apps", json={
            "name": name, "plan": plan, "python": python, "resource_group": resource_group})
        assert response.status_code == 201, response.text
        return name

    def create_slot(self, app: str, slot: str) -> None:
        response = self.admin("POST", f"/apps/{app}/slots", json={"slot": slot})
        assert response.status_code == 201, response.text

    def app_info(self, app: str) -> dict[str, Any]:
        response = self.admin("GET", f"/apps/{app}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def app_settings(self, app: str, slot: str | None = None) -> dict[str, str]:
        """The app settings, as ARM lists them."""
        listed = self.arm("POST", f"{self.site_path(app, slot)}/config/appsettings/list")
        assert listed.status_code == 200, listed.text
        settings: dict[str, str] = listed.json()["properties"]
        return settings

    def set_settings(self, app: str, settings: Mapping[str, str],
                     slot: str | None = None) -> None:
        """Merge ``settings`` into the app's (ARM's PUT replaces them all)."""
        merged = {**self.app_settings(app, slot), **settings}
        response = self.arm("PUT", f"{self.site_path(app, slot)}/config/appsettings",
                            json={"properties": merged})
        assert response.status_code == 200, response.text

    def add_fault(self, **spec: Any) -> str:
        response = self.admin("POST", "/faults", json=spec)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def release(self, app: str) -> None:
        response = self.admin("POST", f"/apps/{app}/release")
        assert response.status_code == 200, response.text

    @contextlib.contextmanager
    def configured(self, **changes: Any) -> Iterator[None]:
        """Change the emulator's configuration for the duration of a block."""
        before = self.admin("GET", "/config").json()
        response = self.admin("PATCH", "/config", json=changes)
        assert response.status_code == 200, response.text
        try:
            yield
        finally:
            self.admin("PATCH", "/config", json={k: before[k] for k in changes})

    def deploy(self, app: str, package: bytes, *, query: str = "isAsync=true",
               endpoint: str = "zipdeploy", slot: str | None = None,
               **kwargs: Any) -> requests.Response:
        return self.kudu("POST", app, f"/api/{endpoint}?{query}", slot=slot, data=package,
                         **kwargs)

    def wait_for_deployment(self, app: str, deployment_id: str, *, slot: str | None = None,
                            timeout: float = 120.0,
                            until: Callable[[dict[str, Any]], bool] | None = None
                            ) -> dict[str, Any]:
        """Poll the record until ``until`` holds (default: complete); bounded.

        A 404 is waited out, as real clients must: Linux Kudu creates the record only once the
        package is extracted, and Flex loses it for a while (the emulator's quirks).
        """
        deadline = time.monotonic() + timeout
        while True:
            response = self.kudu("GET", app, f"/api/deployments/{deployment_id}", slot=slot)
            if response.status_code == 404:
                assert time.monotonic() < deadline, f"deployment never found: {response.text}"
                time.sleep(0.05)
                continue
            assert response.status_code in (200, 202), response.text
            record: dict[str, Any] = response.json()
            if (until or (lambda r: bool(r["complete"])))(record):
                return record
            assert time.monotonic() < deadline, f"deployment stuck: {record}"
            time.sleep(0.05)

    def deploy_and_wait(self, app: str, package: bytes, *, slot: str | None = None,
                        query: str = "isAsync=true&trackDeploymentProgress=true",
                        endpoint: str = "zipdeploy", timeout: float = 120.0
                        ) -> dict[str, Any]:
        response = self.deploy(app, package, query=query, endpoint=endpoint, slot=slot)
        assert response.status_code == 202, response.text
        return self.wait_for_deployment(app, self.started_id(response), slot=slot,
                                        timeout=timeout)

    @staticmethod
    def started_id(response: requests.Response) -> str:
        """The deployment a 202 names: SCM-DEPLOYMENT-ID, or Flex's body and Location."""
        from azpublish.azure.kudu import started_deployment_id

        found = started_deployment_id(response.headers.get("SCM-DEPLOYMENT-ID"), response.text,
                                      response.headers.get("Location"))
        assert found, f"the 202 names no deployment: {response.headers} {response.text!r}"
        return found

    def functions(self, app: str, *, count: int = 1, slot: str | None = None,
                  timeout: float = 30.0) -> list[dict[str, Any]]:
        """ARM's function list once it holds ``count`` functions (the index lags a deploy)."""
        deadline = time.monotonic() + timeout
        while True:
            listed: list[dict[str, Any]] = self.arm(
                "GET", f"{self.site_path(app, slot)}/functions").json()["value"]
            if len(listed) >= count or time.monotonic() >= deadline:
                return listed
            time.sleep(0.2)

    def deployment_log(self, app: str, deployment_id: str,
                       slot: str | None = None) -> list[dict[str, Any]]:
        response = self.kudu("GET", app, f"/api/deployments/{deployment_id}/log", slot=slot)
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result

    # -- its life --------------------------------------------------------------------------------

    def stop(self) -> int:
        """SIGTERM, then the exit code (0 after a clean shutdown)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            raise


def emulator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "azpublish.emulator", *args]


def start_emulator(state_dir: Path, *extra: str) -> RunningEmulator:
    """Start ``python -m azpublish.emulator start`` and wait (bounded) for endpoint.json."""
    endpoint = state_dir / "endpoint.json"
    endpoint.unlink(missing_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    # Output goes to files, not pipes: nobody drains pipes while the tests run.
    with (state_dir / "stdout.txt").open("ab") as out, (state_dir / "stderr.txt").open("ab") as err:
        process = subprocess.Popen(
            emulator_command("start", "--state-dir", str(state_dir), "--port", "0", *extra),
            stdout=out, stderr=err, env=os.environ.copy())
    deadline = time.monotonic() + START_TIMEOUT
    while not endpoint.exists():
        if process.poll() is not None:
            raise AssertionError(f"emulator exited with {process.returncode}: "
                                 f"{(state_dir / 'stderr.txt').read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError("emulator did not write endpoint.json in time")
        time.sleep(0.05)
    info = json.loads(endpoint.read_text())
    admin_key = (state_dir / "secrets" / "admin.key").read_text().strip()
    return RunningEmulator(state_dir, process, info, admin_key)


def hello_project(root: Path) -> Path:
    """A model-v2 project folder with the ``HELLO`` app and no dependency but azure-functions."""
    root.mkdir(parents=True)
    (root / "host.json").write_text(HOST_JSON)
    (root / "function_app.py").write_text(HELLO)
    (root / "requirements.txt").write_text("azure-functions\n")
    return root


EmulatorFactory = Callable[[str], RunningEmulator]


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorFactory]:
    """One emulator per URL scheme, started on first use and shared by the whole session."""
    running: dict[str, RunningEmulator] = {}

    def get(scheme: str) -> RunningEmulator:
        if scheme not in running:
            if scheme == "hostnames":
                require_loopback_names()
            running[scheme] = start_emulator(tmp_path_factory.mktemp(f"emulator-{scheme}"),
                                             "--url-scheme", scheme)
        return running[scheme]

    try:
        yield get
    finally:
        for each in running.values():
            code = each.stop()
            assert code == 0, (each.state_dir / "stderr.txt").read_text()


def require_loopback_names() -> None:
    from azpublish.emulator.hostnames import NAME_RESOLUTION_FIX, PROBED, resolves_to_loopback

    if not all(resolves_to_loopback(name) for name in PROBED):
        pytest.skip(f"*.azurewebsites.localhost does not resolve to loopback here: "
                    f"{NAME_RESOLUTION_FIX}")


@pytest.fixture(scope="session")
def emulator(emulators: EmulatorFactory) -> RunningEmulator:
    """The emulator as a client meets App Service: host names (``<app>.scm...``), or the
    scheme ``AZPUBLISH_TEST_URL_SCHEME`` names (``path``: the whole suite over the fallback)."""
    return emulators(os.environ.get("AZPUBLISH_TEST_URL_SCHEME", "hostnames"))


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """A copy of the repository's examples/hello, the app the README publishes."""
    root = tmp_path / "hello"
    shutil.copytree(EXAMPLE_HELLO, root)
    return root


Run = Callable[..., tuple[int, str, str]]  # azpublish's CLI in-process: (exit code, out, err)


@pytest.fixture
def run(emulator_env: RunningEmulator, capsys: pytest.CaptureFixture[str]) -> Run:
    """azpublish's ``main`` with the emulator's environment, output captured."""
    from azpublish.__main__ import main

    def invoke(*args: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture
def emulator_env(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    """The environment ``azpublish emulator env`` exports, for code under test that reads it.

    (The top-level conftest has already removed any credential the shell exported.)
    """
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    return emulator
