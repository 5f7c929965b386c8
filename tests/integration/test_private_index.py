"""The private index fixture is real: pip needs its password and its CA, and a remote build on
the emulator installs from it without the password surfacing anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import RunningEmulator
from tests.integration.pypi_index import PrivateIndex

pytestmark = pytest.mark.integration

PROBE_APP = '''
import azure.functions as func
import azpublish_private_probe

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="probe")
def probe(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(azpublish_private_probe.VALUE)
'''


def _pip(index: PrivateIndex, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--no-input", "--retries", "0",
         "--timeout", "10", index.package_name],
        env=index.pip_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120, check=False)


def test_pip_installs_the_package_with_the_credentials(private_index: PrivateIndex,
                                                       tmp_path: Path) -> None:
    target = tmp_path / "target"
    result = _pip(private_index, "install", "--target", str(target),
                  "--index-url", private_index.url_with_credentials)
    assert result.returncode == 0, result.stderr
    imported = subprocess.run(
        [sys.executable, "-c", f"import {private_index.module_name} as m; print(m.VALUE)"],
        env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True,
        check=True, timeout=60)
    assert imported.stdout.strip() == private_index.expected_value
    assert private_index.password not in result.stdout + result.stderr  # pip masks it itself


def test_the_package_exists_nowhere_else(private_index: PrivateIndex, tmp_path: Path) -> None:
    result = _pip(private_index, "download", "-d", str(tmp_path))
    assert result.returncode != 0
    assert "No matching distribution" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_without_credentials_the_index_answers_401(private_index: PrivateIndex,
                                                  tmp_path: Path) -> None:
    result = _pip(private_index, "download", "-vvv", "-d", str(tmp_path),
                  "--index-url", private_index.url_without_credentials)
    assert result.returncode != 0
    assert "401 Client Error: Unauthorized" in result.stdout + result.stderr  # said at -vvv only
    assert list(tmp_path.iterdir()) == []
    page = f"{private_index.url_without_credentials}{private_index.package_name}/"
    anonymous = requests.get(page, verify=private_index.ca_cert, timeout=10)
    wrong = requests.get(page, verify=private_index.ca_cert, timeout=10,
                         auth=(private_index.user, private_index.password + "x"))
    right = requests.get(page, verify=private_index.ca_cert, timeout=10,
                         auth=(private_index.user, private_index.password))
    # pypiserver answers a wrong password with 403, a missing one with 401.
    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 403, 200)
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert f"{private_index.module_name}-{private_index.version}-py3-none-any.whl" in right.text


def test_the_index_is_https_with_its_own_ca(private_index: PrivateIndex) -> None:
    url = private_index.url_without_credentials
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, verify=True, timeout=10)  # the system store does not know our CA
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url.replace("https://", "http://"), timeout=10)
    bundle = Path(private_index.ca_bundle).read_text()
    assert Path(private_index.ca_cert).read_text() in bundle
    assert bundle.count("BEGIN CERTIFICATE") > 1  # the machine's CAs are kept


@pytest.fixture(scope="module")
def built_from_the_private_index(emulator: RunningEmulator,
                                 private_index: PrivateIndex) -> dict[str, object]:
    app = emulator.create_app()
    emulator.set_settings(app, {
        "SCM_DO_BUILD_DURING_DEPLOYMENT": "true",
        "PIP_EXTRA_INDEX_URL": private_index.url_with_credentials,
        "PIP_CERT": private_index.ca_bundle,
    })
    package = emulator.v2_app(PROBE_APP, **{
        "requirements.txt": f"{private_index.package_name}=={private_index.version}\n"})
    record = emulator.deploy_and_wait(app, package, timeout=300)
    return {"app": app, "record": record}


def _everything_fetched(emulator: RunningEmulator, app: str, deployment_id: str) -> list[str]:
    texts = [emulator.kudu("GET", app, f"/api/deployments/{deployment_id}").text,
             emulator.kudu("GET", app, "/api/deployments").text,
             emulator.kudu("GET", app, "/api/deployments/latest").text,
             emulator.admin("GET", "/requests").text]
    for entry in emulator.deployment_log(app, deployment_id):
        texts.append(json.dumps(entry))
        if entry["details_url"]:
            texts.append(emulator.request("GET", entry["details_url"]).text)
    return texts


def test_a_remote_build_installs_from_the_private_index(
        emulator: RunningEmulator, private_index: PrivateIndex,
        built_from_the_private_index: dict[str, object]) -> None:
    app, record = built_from_the_private_index["app"], built_from_the_private_index["record"]
    assert isinstance(app, str) and isinstance(record, dict)
    assert record["status"] == 4, "\n".join(_everything_fetched(emulator, app, record["id"]))
    answer = emulator.request("GET", f"{emulator.site_url(app)}/api/probe", auth=False)
    assert (answer.status_code, answer.text) == (200, private_index.expected_value)
    wheel = f"GET /packages/{private_index.module_name}-{private_index.version}-py3-none-any.whl"
    assert any(wheel in line and '" 200 ' in line
               for line in private_index.log.read_text().splitlines())


def test_the_index_password_surfaces_nowhere(
        emulator: RunningEmulator, private_index: PrivateIndex,
        built_from_the_private_index: dict[str, object]) -> None:
    app, record = built_from_the_private_index["app"], built_from_the_private_index["record"]
    assert isinstance(app, str) and isinstance(record, dict)
    texts = _everything_fetched(emulator, app, record["id"])
    lines = [line for text in texts for line in text.splitlines()]
    assert any(f"127.0.0.1:{private_index.port}" in line for line in lines)  # pip named the index
    assert [line for line in lines if private_index.password in line] == []
    secret = private_index.password.encode()
    leaked = [p for p in emulator.state_dir.rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert leaked == []
