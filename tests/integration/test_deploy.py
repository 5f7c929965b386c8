"""`azpublish` publishing to the emulator over HTTPS: every plan, failures, reports.

The CLI runs in-process with the environment `azpublish emulator env` prints, so the real
DefaultAzureCredential, azure-mgmt-web and requests do the work; nothing is mocked.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import EmulatorFactory, Run, RunningEmulator
from tests.integration.pypi_index import PrivateIndex

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module", params=["hostnames", "path"])
def emulator(request: pytest.FixtureRequest, emulators: EmulatorFactory) -> RunningEmulator:
    """Every publish here runs over App Service host names and over the path-prefix fallback."""
    return emulators(request.param)



def write_v1_app(root: Path, body: str = "v1 says hi") -> Path:
    (root / "Greet").mkdir(parents=True)
    (root / "host.json").write_text('{"version": "2.0"}')
    (root / "requirements.txt").write_text("azure-functions\nsix\n")
    (root / "Greet" / "function.json").write_text(json.dumps({"bindings": [
        {"authLevel": "anonymous", "type": "httpTrigger", "direction": "in", "name": "req",
         "methods": ["get"]},
        {"type": "http", "direction": "out", "name": "$return"}]}))
    (root / "Greet" / "__init__.py").write_text(
        "import azure.functions as func\nimport six\n\n\n"
        f"def main(req: func.HttpRequest) -> func.HttpResponse:\n"
        f"    return func.HttpResponse({body!r} + six.text_type('!'))\n")
    return root


def invoke(emulator: RunningEmulator, url: str) -> requests.Response:
    return requests.get(url, verify=emulator.ca_bundle, timeout=60)


@pytest.mark.parametrize("plan", ["dedicated", "premium", "flex", "consumption"])
def test_remote_build_on_every_plan(run: Run, emulator: RunningEmulator, hello: Path,
                                    plan: str, caplog: pytest.LogCaptureFixture) -> None:
    app = emulator.create_app(plan=plan)
    code, out, err = run("--project-dir", hello, "--app", app, "--build", "remote", "--json",
                         "--verbose")
    assert code == 0, err
    # The SDK's own complaints about answers azpublish handles (sync's 200) stay out of it.
    assert "Traceback" not in err
    assert not [r for r in caplog.records if r.name.startswith("azure")
                and r.levelno >= logging.WARNING], caplog.text
    report = json.loads(out)
    deployment = report["deployment"]
    assert deployment["status"] == "success" and deployment["deployment_id"]
    [function] = report["functions"]
    assert function["name"] == "hello" and function["trigger"] == "httpTrigger"
    assert f"Functions in {app}:" in err and "hello - [httpTrigger]" in err
    assert f"Invoke url: {function['invoke_url']}" in err
    answer = invoke(emulator, function["invoke_url"] + "?name=azure")
    assert answer.status_code == 200
    assert answer.json() == {"message": "Hello, azure!", "packaging": "24.0"}
    [record] = emulator.kudu("GET", app, "/api/deployments").json()
    if plan == "flex":  # Flex keeps no message, as recorded: the sha256 cannot ride in it
        assert (record["deployer"], record["message"]) == ("LegionOneDeploy", "")
    else:
        assert report["package"]["sha256"] in record["message"]


def test_remote_build_v1_project(run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    root = write_v1_app(tmp_path / "v1")
    app = emulator.create_app()
    code, out, err = run("--project-dir", root, "--app", app, "--json")
    assert code == 0, err
    [function] = json.loads(out)["functions"]
    assert invoke(emulator, function["invoke_url"]).text == "v1 says hi!"


def test_custom_build_runs_from_package(run: Run, emulator: RunningEmulator,
                                        tmp_path: Path) -> None:
    root = write_v1_app(tmp_path / "v1", body="custom")
    site = root / ".python_packages/lib/site-packages"
    site.mkdir(parents=True)
    (site / "six.py").write_text("text_type = str\n")
    app = emulator.create_app(plan="premium")
    code, out, err = run("--project-dir", root, "--app", app, "--no-build", "--json")
    assert code == 0, err
    settings = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list").json()
    assert settings["properties"]["WEBSITE_RUN_FROM_PACKAGE"] == "1"
    [function] = json.loads(out)["functions"]
    assert invoke(emulator, function["invoke_url"]).text == "custom!"


def test_build_failure_exits_4_with_pips_error(run: Run, emulator: RunningEmulator,
                                              hello: Path) -> None:
    (hello / "requirements.txt").write_text("azpublish-no-such-package-anywhere==1.0\n")
    app = emulator.create_app()
    code, out, err = run("--project-dir", hello, "--app", app, "--json")
    assert code == 4
    assert "azpublish-no-such-package-anywhere" in err
    assert "No matching distribution" in err or "Could not find a version" in err
    report = json.loads(out)
    assert report["deployment"]["status"] == "failed" and report["failed_stage"] == "deploy"


def test_zero_functions_exits_5(run: Run, emulator: RunningEmulator, hello: Path) -> None:
    (hello / "function_app.py").write_text(
        "import azure.functions as func\nimport not_installed_anywhere\n\n"
        "app = func.FunctionApp()\n\n\n@app.route(route='x')\ndef x(req):\n    return 'x'\n")
    app = emulator.create_app()
    code, _, err = run("--project-dir", hello, "--app", app, "--index-timeout", "7")
    assert code == 5
    assert "no function was indexed" in err and "after waiting 7 s" in err
    assert "import error" in err
    assert "waiting for the host to index the functions (0 s of at most 7 s" in err


def test_timeout_exits_4(run: Run, emulator: RunningEmulator, hello: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["building"], count=1)
    try:
        code, _, err = run("--project-dir", hello, "--app", app, "--timeout", "3")
        assert code == 4
        assert "after 3 s" in err
    finally:
        emulator.release(app)


def test_wrong_python_version_is_refused(run: Run, emulator: RunningEmulator,
                                         hello: Path) -> None:
    app = emulator.create_app(python="3.11")
    code, _, err = run("--project-dir", hello, "--app", app, "--python-version", "3.12")
    assert code == 2
    assert "the app runs Python 3.11" in err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []


def test_unchanged_package_is_skipped_unless_forced(run: Run, emulator: RunningEmulator,
                                                    hello: Path) -> None:
    app = emulator.create_app()
    assert run("--project-dir", hello, "--app", app)[0] == 0
    code, out, err = run("--project-dir", hello, "--app", app, "--json")
    assert code == 0, err
    assert "unchanged" in err
    assert json.loads(out)["deployment"]["skipped"] is True
    assert len(emulator.kudu("GET", app, "/api/deployments").json()) == 1
    assert run("--project-dir", hello, "--app", app, "--force")[0] == 0
    assert len(emulator.kudu("GET", app, "/api/deployments").json()) == 2


def test_the_same_package_built_another_way_is_not_taken_for_unchanged(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    """A custom build and a remote build of one tree can be the same bytes; they are not the
    same deployment (the remote one installs requirements on the server)."""
    root = write_v1_app(tmp_path / "v1")
    # Nothing to install: the same tree is complete for a custom build and a remote one.
    (root / "requirements.txt").write_text("azure-functions\n")
    (root / "Greet" / "__init__.py").write_text(
        "import azure.functions as func\n\n\n"
        "def main(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('same bytes')\n")
    app = emulator.create_app()
    code, out, err = run("--project-dir", root, "--app", app, "--no-build", "--json")
    assert code == 0, err
    first = json.loads(out)
    code, out, err = run("--project-dir", root, "--app", app, "--build", "remote", "--json")
    assert code == 0, err
    second = json.loads(out)
    assert second["package"]["sha256"] == first["package"]["sha256"]
    assert second["deployment"]["skipped"] is False
    assert len(emulator.kudu("GET", app, "/api/deployments").json()) == 2
    messages = [d["message"] for d in emulator.kudu("GET", app, "/api/deployments").json()]
    assert any("build=remote python=3.11" in m for m in messages)
    assert any("build=custom python=3.11" in m for m in messages)


def test_a_skipped_upload_still_verifies_the_url(run: Run, emulator: RunningEmulator,
                                                 hello: Path) -> None:
    app = emulator.create_app()
    assert run("--project-dir", hello, "--app", app)[0] == 0
    code, out, err = run("--project-dir", hello, "--app", app, "--verify-url", "/api/hello",
                         "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["deployment"]["skipped"] is True
    assert report["verify"]["status"] == 200
    assert "pass --force to deploy anyway" in err


def test_dry_run_changes_nothing(run: Run, emulator: RunningEmulator, hello: Path) -> None:
    app = emulator.create_app()
    before = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list").json()
    code, out, err = run("--project-dir", hello, "--app", app, "--dry-run", "--json",
                         "--pip-extra-index-url", "https://u:dryrunsecret@127.0.0.1:9/simple")
    assert code == 0, err
    plan = json.loads(out)["plan"]
    assert any("zipdeploy" in step for step in plan)
    assert any("PIP_EXTRA_INDEX_URL" in step for step in plan)
    assert "dryrunsecret" not in out + err
    after = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list").json()
    assert after == before
    assert emulator.kudu("GET", app, "/api/deployments").json() == []


def test_transient_failures_are_retried(run: Run, emulator: RunningEmulator,
                                        hello: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, path="*/api/zipdeploy", status=503, count=2,
                       retry_after=0)
    emulator.add_fault(kind="drop_upload", app=app, count=1)
    code, _, err = run("--project-dir", hello, "--app", app)
    assert code == 0, err


def test_intermittent_trigger_sync_failures_are_retried(run: Run, emulator: RunningEmulator,
                                                        hello: Path) -> None:
    """The service answers 400 to syncfunctiontriggers while the host restarts: two of them
    cost two retries (2 s, then 4 s), each said on stderr, and the publish succeeds."""
    app = emulator.create_app()
    emulator.add_fault(kind="sync_error", app=app, count=2)  # the service's own 400
    code, _, err = run("--project-dir", hello, "--app", app)
    assert code == 0, err
    assert "trigger sync answered 400 (try 1 of 5); again in 2 s" in err
    assert "trigger sync answered 400 (try 2 of 5); again in 4 s" in err
    assert "try 3 of 5" not in err
    assert "triggers synced" in err
    syncs = [r for r in emulator.admin("GET", "/requests").json()
             if r["path"].endswith(f"/sites/{app}/syncfunctiontriggers")]
    assert [r["status"] for r in syncs] == [400, 400, 200]


def test_a_trigger_sync_refused_for_good_is_not_retried(run: Run, emulator: RunningEmulator,
                                                       hello: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, path="*/syncfunctiontriggers", status=403, count=1)
    code, _, err = run("--project-dir", hello, "--app", app)
    assert code == 4
    assert "syncing triggers" in err and "403" in err
    assert "again in" not in err


def test_conflict_waits_for_the_running_deployment(run: Run, emulator: RunningEmulator,
                                                   hello: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["building"], count=1)
    other = emulator.deploy(app, emulator.v2_app("x = 1\n"))
    assert other.status_code == 202
    releaser = threading.Timer(3.0, emulator.release, args=(app,))
    releaser.start()
    try:
        code, _, err = run("--project-dir", hello, "--app", app)
    finally:
        releaser.cancel()
    assert code == 0, err


def test_publish_profile_falls_back_to_bearer_when_basic_is_off(
        run: Run, emulator: RunningEmulator, hello: Path, tmp_path: Path) -> None:
    app = emulator.create_app()
    profile, password = publish_profile_for(emulator, app, tmp_path)
    response = emulator.arm("PUT", f"{emulator.site_path(app)}/basicPublishingCredentialsPolicies"
                            "/scm", json={"properties": {"allow": False}})
    assert response.status_code == 200
    code, out, err = run("--project-dir", hello, "--app", app, "--publish-profile", profile,
                         "--json")
    assert code == 0, err
    assert "basic" in err.lower()
    assert password not in out + err


def test_private_index_through_azpublish_keeps_the_password_secret(
        run: Run, emulator: RunningEmulator, hello: Path, tmp_path: Path,
        private_index: PrivateIndex) -> None:
    index = private_index
    (hello / "requirements.txt").write_text(f"azure-functions\n{index.package_name}\n")
    (hello / "function_app.py").write_text(
        "import azure.functions as func\n"
        f"import {index.module_name} as probe\n\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n\n\n"
        "@app.route(route='probe')\n"
        "def probe_value(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse(probe.VALUE)\n")
    app = emulator.create_app()
    emulator.set_settings(app, {"PIP_CERT": str(index.ca_bundle)})  # the index's own CA
    zip_path = tmp_path / "package.zip"
    code, out, err = run("--project-dir", hello, "--app", app, "--json", "--output-zip", zip_path,
                         "--pip-extra-index-url", index.url_with_credentials)
    assert code == 0, err
    [function] = json.loads(out)["functions"]
    assert invoke(emulator, function["invoke_url"]).text == index.expected_value
    # The password is nowhere azpublish writes or prints, nor in the emulator's logs and state.
    assert index.password not in out + err
    assert index.password.encode() not in zip_path.read_bytes()
    records = emulator.kudu("GET", app, "/api/deployments").json()
    logs = [emulator.deployment_log(app, r["id"]) for r in records]
    assert index.password not in json.dumps(records) + json.dumps(logs)
    for path in emulator.state_dir.rglob("*"):
        if path.is_file():
            assert index.password.encode() not in path.read_bytes(), path



def test_resource_group_is_found_and_slots_are_published(
        run: Run, emulator: RunningEmulator, hello: Path) -> None:
    app = emulator.create_app(resource_group="rg-found-by-name")
    emulator.create_slot(app, "staging")
    code, out, err = run("--project-dir", hello, "--app", app, "--slot", "staging", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["deployment"]["app"] == f"{app}/slots/staging"
    [function] = report["functions"]
    assert function["invoke_url"].startswith(emulator.site_url(app, "staging") + "/")
    assert invoke(emulator, function["invoke_url"]).status_code == 200
    assert emulator.kudu("GET", app, "/api/deployments").json() == []  # production untouched
    assert len(emulator.kudu("GET", app, "/api/deployments", slot="staging").json()) == 1


def test_restore_settings_and_verify_url(run: Run, emulator: RunningEmulator,
                                         hello: Path) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {"MY_SETTING": "kept"})
    before = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list").json()
    code, out, err = run("--project-dir", hello, "--app", app, "--restore-settings",
                         "--verify-url", "/api/hello?name=check", "--json")
    assert code == 0, err
    assert json.loads(out)["verify"]["status"] == 200
    after = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list").json()
    assert after["properties"] == before["properties"]


def test_verify_url_failure_exits_5(run: Run, emulator: RunningEmulator, hello: Path) -> None:
    app = emulator.create_app()
    code, _, err = run("--project-dir", hello, "--app", app, "--verify-url", "/api/nothing-here")
    assert code == 5
    assert "404" in err


def test_non_python_app_is_refused(run: Run, emulator: RunningEmulator, hello: Path) -> None:
    app = emulator.create_app()
    response = emulator.arm("PATCH", f"{emulator.site_path(app)}/config/web",
                            json={"properties": {"linuxFxVersion": "NODE|20"}})
    assert response.status_code == 200, response.text
    code, _, err = run("--project-dir", hello, "--app", app)
    assert code == 2
    assert "runs 'node', not Python" in err


def test_unknown_app_is_a_clear_error(run: Run, hello: Path) -> None:
    code, _, err = run("--project-dir", hello, "--app", "no-such-app-anywhere")
    assert code == 2
    assert "no app named 'no-such-app-anywhere'" in err


def test_unknown_slot_is_a_usage_error(run: Run, emulator: RunningEmulator,
                                       hello: Path) -> None:
    app = emulator.create_app()
    code, _, err = run("--project-dir", hello, "--app", app, "--slot", "no-such-slot")
    assert code == 2, err
    assert f"no slot 'no-such-slot' on the app '{app}'" in err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []


def publish_profile_for(emulator: RunningEmulator, app: str, folder: Path) -> tuple[Path, str]:
    """The app's publish profile as the portal downloads it (ARM's publishxml), and its
    password. Kudu is then found from the ZipDeploy profile's publishUrl, on either scheme."""
    answer = emulator.arm("POST", f"{emulator.site_path(app)}/publishxml",
                          json={"format": "WebDeploy"})
    assert answer.status_code == 200, answer.text
    profile = folder / f"{app}.PublishSettings"
    profile.write_bytes(answer.content)
    creds = emulator.arm("POST", f"{emulator.site_path(app)}/config/publishingcredentials/list")
    password = str(creds.json()["properties"]["publishingPassword"])
    assert f'userPWD="{password}"' in answer.text
    return profile, password


def test_publish_profile_alone_deploys_through_kudu(
        run: Run, emulator: RunningEmulator, hello: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = emulator.create_app()
    profile, password = publish_profile_for(emulator, app, tmp_path)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    monkeypatch.setenv("AZPUBLISH_PUBLISH_PROFILE", profile.read_text())  # the XML itself
    code, _, err = run("--project-dir", hello, "--python-version", "3.11")
    assert code == 2
    assert "SCM_DO_BUILD_DURING_DEPLOYMENT=true" in err and "publish profile alone" in err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []

    emulator.set_settings(app, {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true",
                                "ENABLE_ORYX_BUILD": "true", "BUILD_FLAGS": "UseExpressBuild",
                                "XDG_CACHE_HOME": "/tmp/.cache"})
    time.sleep(0.2)
    code, out, err = run("--project-dir", hello, "--python-version", "3.11", "--json",
                         "--verify-url", "/api/hello")
    assert code == 0, err
    assert "through Kudu only" in err
    assert json.loads(out)["deployment"]["status"] == "success"
    assert password not in out + err


@pytest.mark.parametrize("build", ["local", "custom"])
def test_consumption_without_remote_build_is_refused_before_building(
        run: Run, emulator: RunningEmulator, hello: Path, build: str) -> None:
    app = emulator.create_app(plan="consumption")
    code, out, err = run("--project-dir", hello, "--app", app, "--build", build, "--json")
    assert code == 2
    report = json.loads(out)
    assert report["failed_stage"] == "resolve"  # nothing was built or packaged
    assert "blob-storage upload path" in err and "--build remote" in err
    assert not (hello / ".python_packages").exists()
    assert emulator.kudu("GET", app, "/api/deployments").json() == []


def test_partial_indexing_fails_naming_the_missing_function_unless_allowed(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    """A copy of a v1 function left in a folder named "Greet.bak": the host does not take that
    as a function name and lists only the others. That is exit 5 naming it, with the host's
    reason; --allow-partial makes it a warning. A function whose script fails to import is not
    missing: the host lists it from its function.json, and it fails when called."""
    root = write_v1_app(tmp_path / "v1")
    shutil.copytree(root / "Greet", root / "Greet.bak")
    (root / "Broken").mkdir()
    (root / "Broken" / "function.json").write_text((root / "Greet" / "function.json").read_text())
    (root / "Broken" / "__init__.py").write_text(
        "import not_installed_anywhere\n\n\ndef main(req):\n    return None\n")
    app = emulator.create_app()
    code, out, err = run("--project-dir", root, "--app", app, "--build", "remote",
                         "--index-timeout", "5", "--json")
    assert code == 5, err
    assert "1 of the package's 3 functions were not indexed after 5 s: Greet.bak (listed: " \
           "Broken, Greet)" in err
    assert "  Greet.bak: 'Greet.bak' is not a valid function name." in err
    code, out, err = run("--project-dir", root, "--app", app, "--build", "remote", "--force",
                         "--index-timeout", "5", "--allow-partial", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["deployment"]["missing"] == ["Greet.bak"]
    assert [f["name"] for f in report["functions"]] == ["Broken", "Greet"]
    assert "accepted: --allow-partial" in err
    assert invoke(emulator, f"{emulator.site_url(app)}/api/Greet").text == "v1 says hi!"
    broken = invoke(emulator, f"{emulator.site_url(app)}/api/Broken")
    assert (broken.status_code, broken.content) == (500, b"")


def test_a_flex_app_with_a_publish_profile_alone_deploys_with_plan_flex(
        run: Run, emulator: RunningEmulator, hello: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = emulator.create_app(plan="flex")
    profile, password = publish_profile_for(emulator, app, tmp_path)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    code, out, err = run("--project-dir", hello, "--publish-profile", profile,
                         "--python-version", "3.11", "--plan", "flexconsumption", "--json")
    assert code == 0, err
    assert password not in out + err
    [record] = emulator.kudu("GET", app, "/api/deployments").json()
    assert record["deployer"] == "LegionOneDeploy"  # OneDeploy, as Flex takes it


def test_a_plan_that_contradicts_resource_manager_is_refused(
        run: Run, emulator: RunningEmulator, hello: Path) -> None:
    app = emulator.create_app(plan="premium")
    code, _, err = run("--project-dir", hello, "--app", app, "--plan", "flex")
    assert code == 2, err
    assert "--plan flex contradicts Resource Manager" in err and "premium" in err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []
