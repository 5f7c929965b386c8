"""Functions the host could not load, and why: after a deployment azpublish asks the host's
admin API (``/admin/host/status``, ``/admin/functions/{name}/status``, with the master key ARM
lists) and shows its error for each missing function, in the failure, the --allow-partial
warning and the JSON report. The emulator's host answers those routes as the host does.
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

V1_APP = PROJECTS / "index-errors-v1"  # Hello, Ping, and Orders, which imports pandas
V2_APP = PROJECTS / "index-errors-v2"  # function_app.py imports a module never deployed
ORDERS_ERROR = "Orders: ModuleNotFoundError: No module named 'pandas' (Orders/__init__.py, line 6)"
V2_ERROR = ("host: ModuleNotFoundError: No module named 'app_settings' "
            "(function_app.py, line 5)")
PUBLISH = ("--build", "remote", "--index-timeout", "5", "--json")


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


def _orders_entry(report: dict[str, Any]) -> dict[str, Any]:
    [entry] = report["deployment"]["load_errors"]
    assert entry["name"] == "Orders"
    assert entry["error"] == ORDERS_ERROR.removeprefix("Orders: ")
    assert "Traceback (most recent call last)" in entry["detail"]
    assert "import pandas as pd" in entry["detail"]
    return dict(entry)


def test_a_function_that_fails_to_import_is_exit_5_with_its_error(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    code, out, err = run("--project-dir", _copy(V1_APP, tmp_path), "--app", app, *PUBLISH)
    assert code == 5, err
    assert "1 of the package's 3 functions were not indexed after 5 s: Orders (listed: Hello, " \
           "Ping)" in err
    assert f"\n  {ORDERS_ERROR}\n" in err
    assert "fix what the host reports above" in err
    report = json.loads(out)
    assert report["exit_code"] == 5 and report["deployment"]["missing"] == ["Orders"]
    assert ORDERS_ERROR in report["error"]["message"]
    _orders_entry(report)
    assert _master_key(emulator, app) not in out + err


def test_allow_partial_warns_with_the_hosts_error(run: Run, emulator: RunningEmulator,
                                                  tmp_path: Path) -> None:
    app = emulator.create_app()
    code, out, err = run("--project-dir", _copy(V1_APP, tmp_path), "--app", app, *PUBLISH,
                         "--allow-partial")
    assert code == 0, err
    assert "(accepted: --allow-partial)" in err and f"\n  {ORDERS_ERROR}" in err
    report = json.loads(out)
    assert [f["name"] for f in report["functions"]] == ["Hello", "Ping"]
    assert report["deployment"]["missing"] == ["Orders"]
    _orders_entry(report)
    assert any(ORDERS_ERROR in warning for warning in report["warnings"])
    assert _master_key(emulator, app) not in out + err
    hello = requests.get(f"{emulator.site_url(app)}/api/Hello?name=ada",
                         verify=emulator.ca_bundle, timeout=60)
    assert (hello.status_code, hello.text) == (200, "hello ada")


def test_a_v2_app_that_fails_to_import_shows_the_hosts_error(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    code, out, err = run("--project-dir", _copy(V2_APP, tmp_path), "--app", app, *PUBLISH,
                         "--verbose")
    assert code == 5, err
    assert f"no function was indexed in {app} after waiting 5 s\n  {V2_ERROR}\n" in err
    assert "    from app_settings import load_settings" in err  # --verbose: the traceback's end
    report = json.loads(out)
    [entry] = report["deployment"]["load_errors"]
    assert entry["name"] is None and entry["error"] == V2_ERROR.removeprefix("host: ")
    assert report["deployment"]["missing"] == []  # a v2 app names no function before the host
    assert _master_key(emulator, app) not in out + err


def test_when_the_host_cannot_be_asked_the_failure_stays_the_same(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="fail", app=app, path="*/admin/host/status", status=503, count=1)
    code, out, err = run("--project-dir", _copy(V1_APP, tmp_path), "--app", app, *PUBLISH)
    assert code == 5, err
    assert "1 of the package's 3 functions were not indexed" in err
    assert "(the host's errors could not be read: the host's admin API: GET " \
           "/admin/host/status answered 503)" in err
    assert "Log stream or Application Insights" in err  # the generic causes, not "above"
    report = json.loads(out)
    assert report["deployment"]["missing"] == ["Orders"]
    assert report["deployment"]["load_errors"] == []


def test_the_emulators_host_answers_the_admin_status_routes(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    code, _, err = run("--project-dir", _copy(V1_APP, tmp_path), "--app", app, *PUBLISH,
                       "--allow-partial")
    assert code == 0, err
    key = _master_key(emulator, app)
    orders = _admin(emulator, app, "functions/Orders/status", key)
    assert orders.status_code == 200
    [error] = orders.json()["errors"]
    assert error.startswith("Traceback") and "ModuleNotFoundError" in error
    assert _admin(emulator, app, "functions/orders/status", key).json() == orders.json()
    loaded = _admin(emulator, app, "functions/Hello/status", key)
    assert (loaded.status_code, loaded.json()) == (200, {})  # no "errors" key at all
    assert _admin(emulator, app, "functions/Nothing/status", key).status_code == 404
    refused = _admin(emulator, app, "functions/Orders/status", None)
    assert (refused.status_code, refused.content) == (401, b"")
    host = _admin(emulator, app, "host/status", key).json()
    assert host["state"] == "Running" and "errors" not in host  # Hello and Ping run
    posted = requests.post(f"{emulator.site_url(app)}/admin/functions/Orders/status",
                           headers={"x-functions-key": key}, verify=emulator.ca_bundle,
                           timeout=30)
    assert posted.status_code == 405


def test_the_emulators_host_status_carries_a_v2_import_error(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    app = emulator.create_app()
    code, _, err = run("--project-dir", _copy(V2_APP, tmp_path), "--app", app, *PUBLISH)
    assert code == 5, err
    host = _admin(emulator, app, "host/status", _master_key(emulator, app)).json()
    assert host["state"] == "Error"
    [error] = host["errors"]
    assert "No module named 'app_settings'" in error
    # The host never saw a function of the app: nothing to say per name.
    assert _admin(emulator, app, "functions/status/status",
                  _master_key(emulator, app)).status_code == 404
