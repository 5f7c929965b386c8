"""`--package FILE` and `azpublish deploy FILE`: a zip built before is deployed as it is,
through the same plan, tracking and checks, after being checked as the host will read it."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from tests.integration.conftest import HELLO, Run, RunningEmulator

pytestmark = pytest.mark.integration

HOST_JSON = '{"version": "2.0"}'


def write_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_a_zip_without_its_packages_is_built_by_the_server_and_answers(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    package = write_zip(tmp_path / "app.zip", {"host.json": HOST_JSON, "function_app.py": HELLO,
                                               "requirements.txt": "azure-functions\n"})
    app = emulator.create_app()
    code, out, err = run("deploy", package, "--app", app, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["package"]["sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    assert f"sha256 {report['package']['sha256']}" in err
    assert "the server installs its requirements.txt" in err
    assert report["build"]["mode"] == "remote"
    [record] = emulator.kudu("GET", app, "/api/deployments").json()
    assert "Running oryx build..." in str(emulator.deployment_log(app, record["id"]))
    answer = emulator.request("GET", f"{emulator.site_url(app)}/api/hello", auth=False)
    assert answer.status_code == 200 and answer.text == "hello"


def test_a_zip_with_its_packages_is_deployed_as_it_is(run: Run, emulator: RunningEmulator,
                                                      tmp_path: Path) -> None:
    package = write_zip(tmp_path / "app.zip", {
        "host.json": HOST_JSON, "function_app.py": HELLO, "requirements.txt": "six\n",
        ".python_packages/lib/site-packages/six.py": "__version__ = '0'\n"})
    app = emulator.create_app()
    code, out, err = run("--package", package, "--app", app, "--json")
    assert code == 0, err
    assert json.loads(out)["build"]["mode"] == "custom"
    assert emulator.app_settings(app)["WEBSITE_RUN_FROM_PACKAGE"] == "1"
    [record] = emulator.kudu("GET", app, "/api/deployments").json()
    assert "Running oryx build..." not in str(emulator.deployment_log(app, record["id"]))


@pytest.mark.parametrize(("files", "said"), [
    ({"app/host.json": HOST_JSON, "app/function_app.py": HELLO},
     "host.json is not at the root of the zip; it has app/host.json"),
    ({"function_app.py": HELLO}, "host.json is not at the root of the zip"),
    ({"host.json": HOST_JSON, "../evil.py": ""}, "refusing to package it"),
])
def test_a_zip_the_host_cannot_run_is_refused_before_anything_is_sent(
        run: Run, emulator: RunningEmulator, tmp_path: Path, files: dict[str, str],
        said: str) -> None:
    package = write_zip(tmp_path / "app.zip", files)
    app = emulator.create_app()
    before = emulator.app_settings(app)
    code, _, err = run("deploy", package, "--app", app)
    assert code == 2, err
    assert said in err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []
    assert emulator.app_settings(app) == before


def test_a_file_that_is_not_a_zip_is_refused(run: Run, tmp_path: Path) -> None:
    package = tmp_path / "app.zip"
    package.write_text("not a zip")
    code, _, err = run("deploy", package, "--app", "any")
    assert code == 2 and "not a readable zip" in err


def test_a_dry_run_plans_without_uploading(run: Run, emulator: RunningEmulator,
                                           tmp_path: Path) -> None:
    package = write_zip(tmp_path / "app.zip", {"host.json": HOST_JSON, "function_app.py": HELLO,
                                               "requirements.txt": "azure-functions\n"})
    app = emulator.create_app()
    code, _, err = run("deploy", package, "--app", app, "--dry-run")
    assert code == 0, err
    assert "check that the remote build installed the dependencies" in err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []


@pytest.mark.parametrize("args", [("deploy",), ("deploy", "--app", "x"),
                                  ("--package", "p.zip", "--output-zip", "o.zip"),
                                  ("--package", "p.zip", "--no-deploy")])
def test_package_usage_errors(run: Run, args: tuple[str, ...]) -> None:
    code, _, err = run(*args)
    assert code == 2, err
