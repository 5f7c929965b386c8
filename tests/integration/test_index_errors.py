"""Functions that cannot run, published with a remote build and seen the way Azure shows them.

The host's admin API (``/admin/host/status``, ``/admin/functions/{name}/status``, with the master
key ARM lists) reports only what the host refuses itself, and azpublish shows it for each
function missing from the list: in the failure, the --allow-partial warning and the JSON
report. What the Python worker fails to import is not there: a v1 function whose script does
not import stays listed and answers 500 when called, an import error in function_app.py lists
nothing; both are only in the host log.

The v1 project: Hello and Ping work; Orders imports pandas, which is not in requirements.txt;
Notify has an "email" output binding, a type no extension of the bundle registers; 2FA is a
folder name the host does not take as a function name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PROJECTS
from tests.integration.conftest import Run, RunningEmulator

pytestmark = pytest.mark.integration

V1_APP = PROJECTS / "index-errors-v1"
V2_APP = PROJECTS / "index-errors-v2"  # function_app.py imports a module never deployed
NAME_ERROR = "2FA: '2FA' is not a valid function name."
LISTED = ["Hello", "Notify", "Orders", "Ping"]
PUBLISH = ("--build", "remote", "--index-timeout", "5", "--json")
HOST_LOG = "/api/vfs/LogFiles/Application/Functions/Host/host.log"


def _copy(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / source.name))


def _master_key(emulator: RunningEmulator, app: str) -> str:
    listed = emulator.arm("POST", f"{emulator.site_path(app)}/host/default/listkeys")
    assert listed.status_code == 200, listed.text
    return str(listed.json()["masterKey"])


def _admin(emulator: RunningEmulator, app: str, path: str,
           key: str | None) -> requests.Response:
    headers = {"x-functions-key": key} if key else {}
    return requests.get(f"{emulator.site_url(app)}/admin/{path}", headers=headers,
                        verify=emulator.ca_bundle, timeout=30)


def _call(emulator: RunningEmulator, app: str, function: str) -> requests.Response:
    return requests.get(f"{emulator.site_url(app)}/api/{function}", verify=emulator.ca_bundle,
                        timeout=60)


def _host_log(emulator: RunningEmulator, app: str) -> str:
    answer = emulator.kudu("GET", app, HOST_LOG)
    assert answer.status_code == 200, answer.text
    return answer.text


def _publish_partial(run: Run, emulator: RunningEmulator, tmp_path: Path) -> str:
    app = emulator.create_app()
    code, _, err = run("--project-dir", _copy(V1_APP, tmp_path), "--app", app, *PUBLISH,
                       "--allow-partial")
    assert code == 0, err
    return app


def _name_entry(report: dict[str, Any]) -> None:
    [entry] = report["deployment"]["load_errors"]
    assert entry["name"] == "2FA"
    assert entry["error"] == entry["detail"] == NAME_ERROR.removeprefix("2FA: ")


def test_a_function_the_host_does_not_list_is_exit_5_with_its_error(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    code, out, err = run("--project-dir", _copy(V1_APP, tmp_path), "--app", app, *PUBLISH)
    assert code == 5, err
    assert (f"1 of the package's 5 functions were not indexed after 5 s: 2FA (listed: "
            f"{', '.join(LISTED)})") in err
    assert f"\n  {NAME_ERROR}\n" in err
    assert "fix what the host reports above" in err
    report = json.loads(out)
    assert report["exit_code"] == 5 and report["deployment"]["missing"] == ["2FA"]
    assert NAME_ERROR in report["error"]["message"]
    _name_entry(report)
    assert _master_key(emulator, app) not in out + err


def test_allow_partial_warns_with_the_hosts_error(run: Run, emulator: RunningEmulator,
                                                  tmp_path: Path) -> None:
    app = emulator.create_app()
    code, out, err = run("--project-dir", _copy(V1_APP, tmp_path), "--app", app, *PUBLISH,
                         "--allow-partial")
    assert code == 0, err
    assert "(accepted: --allow-partial)" in err and f"\n  {NAME_ERROR}" in err
    report = json.loads(out)
    assert [f["name"] for f in report["functions"]] == LISTED
    assert report["deployment"]["missing"] == ["2FA"]
    _name_entry(report)
    assert any(NAME_ERROR in warning for warning in report["warnings"])
    assert _master_key(emulator, app) not in out + err
    hello = _call(emulator, app, "Hello?name=ada")
    assert (hello.status_code, hello.text) == (200, "hello ada")


def test_a_v1_function_that_fails_to_import_is_listed_and_fails_when_called(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = _publish_partial(run, emulator, tmp_path)
    listed = {f["name"].rsplit("/", 1)[-1] for f in emulator.functions(app, count=4)}
    assert "Orders" in listed
    called = _call(emulator, app, "Orders")
    assert (called.status_code, called.content) == (500, b"")  # no traceback for the caller
    key = _master_key(emulator, app)
    status = _admin(emulator, app, "functions/Orders/status", key)
    assert (status.status_code, status.json()) == (200, {})  # the worker's error is not there
    host = _admin(emulator, app, "host/status", key).json()
    assert host["state"] == "Running" and "errors" not in host
    log = _host_log(emulator, app)
    assert "[Error] Worker failed to load function: 'Orders' with functionId:" in log
    assert "No module named 'pandas'" in log
    assert "Executed 'Functions.Orders' (Failed" in log  # the call replayed the load failure
    # Kudu's deployment log knows nothing of the host's view of the app.
    [deployment] = emulator.kudu("GET", app, "/api/deployments").json()
    entries = json.dumps(emulator.deployment_log(app, deployment["id"]))
    assert "pandas" not in entries and "2FA" not in entries


def test_a_binding_type_the_bundle_does_not_have_is_listed_but_never_runs(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = _publish_partial(run, emulator, tmp_path)
    assert _call(emulator, app, "Notify").status_code == 404  # never created: no route
    status = _admin(emulator, app, "functions/Notify/status", _master_key(emulator, app))
    [error] = status.json()["errors"]
    assert error.startswith("The binding type(s) 'email' are not in the configured extension "
                            "bundle")
    assert "[Error] The 'Notify' function is in error: The binding type(s) 'email'" \
        in _host_log(emulator, app)


def test_a_v2_app_that_fails_to_import_is_only_in_the_host_log(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    code, out, err = run("--project-dir", _copy(V2_APP, tmp_path), "--app", app, *PUBLISH,
                         "--verbose")
    assert code == 5, err
    assert f"no function was indexed in {app} after waiting 5 s\n" in err
    assert "(the host's admin API reports no error for the app)" in err
    assert "an import error in function_app.py" in err
    assert "Log stream or Application Insights" in err
    assert "'Worker failed to index functions'" in err
    assert "a local build's import check (--build local)" in err  # this was a remote build
    report = json.loads(out)
    assert report["deployment"]["load_errors"] == []
    assert report["deployment"]["missing"] == []  # a v2 app names no function before the host
    key = _master_key(emulator, app)
    host = _admin(emulator, app, "host/status", key).json()
    assert host["state"] == "Running" and "errors" not in host
    # The host never saw a function of the app: nothing to say per name.
    assert _admin(emulator, app, "functions/status/status", key).status_code == 404
    log = _host_log(emulator, app)
    assert "[Error] Worker failed to index functions" in log
    assert "No module named 'app_settings'" in log
    assert "0 functions loaded" in log


def test_when_the_host_cannot_be_asked_the_failure_stays_the_same(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, path="*/admin/host/status", status=503, count=1)
    code, out, err = run("--project-dir", _copy(V1_APP, tmp_path), "--app", app, *PUBLISH)
    assert code == 5, err
    assert "1 of the package's 5 functions were not indexed" in err
    assert "(the host's errors could not be read: the host's admin API: GET " \
           "/admin/host/status answered 503)" in err
    assert "Log stream or Application Insights" in err  # the generic causes, not "above"
    assert "stays listed and answers 500 when called" in err  # a v1 app's
    report = json.loads(out)
    assert report["deployment"]["missing"] == ["2FA"]
    assert report["deployment"]["load_errors"] == []


def test_the_emulators_host_answers_the_admin_status_routes(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = _publish_partial(run, emulator, tmp_path)
    key = _master_key(emulator, app)
    refused = _admin(emulator, app, "functions/2FA/status", key)
    assert (refused.status_code, refused.json()) == (200, {"errors": [NAME_ERROR[5:]]})
    assert _admin(emulator, app, "functions/2fa/status", key).json() == refused.json()
    assert _admin(emulator, app, "functions/notify/status", key).json()["errors"]
    loaded = _admin(emulator, app, "functions/Hello/status", key)
    assert (loaded.status_code, loaded.json()) == (200, {})  # no "errors" key at all
    assert _admin(emulator, app, "functions/Nothing/status", key).status_code == 404
    anonymous = _admin(emulator, app, "functions/2FA/status", None)
    assert (anonymous.status_code, anonymous.content) == (401, b"")
    posted = requests.post(f"{emulator.site_url(app)}/admin/functions/2FA/status",
                           headers={"x-functions-key": key}, verify=emulator.ca_bundle,
                           timeout=30)
    assert posted.status_code == 405
