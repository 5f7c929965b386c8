"""Remote build (Oryx-like pip install) and the function host serving what was built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import RunningEmulator

pytestmark = pytest.mark.integration

SECRET = "s3cret-Index-Passw0rd"
SIX_APP = '''
import json

import azure.functions as func
import six

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="six/{word}", methods=["GET", "POST"])
def six_version(req: func.HttpRequest) -> func.HttpResponse:
    body = {"six": six.__version__, "word": req.route_params["word"],
            "q": req.params.get("q"), "method": req.method}
    return func.HttpResponse(json.dumps(body), mimetype="application/json", status_code=201)


# Not "admin-...": the host refuses routes starting with "admin" or "runtime" (its own).
@app.route(route="ops/master-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin")
'''
BROKEN_APP = '''
import azure.functions as func
import package_that_is_not_installed

app = func.FunctionApp()


@app.route(route="never")
def never(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never")
'''


def _every_text(emulator: RunningEmulator, app: str, deployment_id: str) -> str:
    """Every response about a deployment, including the details of every log entry."""
    texts = [emulator.kudu("GET", app, f"/api/deployments/{deployment_id}").text,
             emulator.kudu("GET", app, "/api/deployments").text]
    for entry in emulator.deployment_log(app, deployment_id):
        texts.append(json.dumps(entry))
        if entry["details_url"]:
            texts.append(emulator.request("GET", entry["details_url"]).text)
    return "\n".join(texts)


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture(scope="module")
def built(emulator: RunningEmulator) -> dict[str, Any]:
    """One remote build of an app that needs ``six``, with a private index holding a password."""
    app = emulator.create_app()
    emulator.set_settings(app, {
        "SCM_DO_BUILD_DURING_DEPLOYMENT": "true",
        "ENABLE_ORYX_BUILD": "true",
        # Unreachable on purpose: pip warns about it (with the URL) and uses the other indexes.
        "PIP_EXTRA_INDEX_URL": f"https://builder:{SECRET}@127.0.0.1:9/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "3",
    })
    package = emulator.v2_app(SIX_APP, **{"requirements.txt": "six\n"})
    record = emulator.deploy_and_wait(app, package, timeout=300)
    keys = emulator.arm("POST", f"{emulator.site_path(app)}/host/default/listkeys").json()
    function_keys = emulator.arm(
        "POST", f"{emulator.site_path(app)}/functions/six_version/listkeys").json()
    return {"app": app, "record": record, "host_keys": keys, "function_keys": function_keys}


def test_remote_build_installs_requirements(emulator: RunningEmulator,
                                           built: dict[str, Any]) -> None:
    app, record = built["app"], built["record"]
    assert record["status"] == 4, _every_text(emulator, app, record["id"])
    site_packages = emulator.state_dir / "apps" / app / "sites" / "production" / "wwwroot" / \
        ".python_packages" / "lib" / "site-packages"
    assert (site_packages / "six.py").is_file()
    log = emulator.deployment_log(app, record["id"])
    build = next(e for e in log if e["message"] == "Running oryx build...")
    lines = [d["message"] for d in emulator.request("GET", build["details_url"]).json()]
    assert any("--target=.python_packages/lib/site-packages" in line for line in lines)
    assert any("Successfully installed six" in line for line in lines)


def test_the_index_password_is_in_no_response_and_no_file(emulator: RunningEmulator,
                                                          built: dict[str, Any]) -> None:
    app, record = built["app"], built["record"]
    texts = _every_text(emulator, app, record["id"])
    assert "***@127.0.0.1:9/simple" in texts  # pip named the index; the emulator masked it
    assert SECRET not in texts
    assert SECRET not in emulator.kudu("GET", app, "/api/deployments").text
    assert _files_containing(emulator.state_dir, SECRET.encode()) == []
    # ARM legitimately returns app settings, as the real service does.
    settings = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list")
    assert SECRET in settings.json()["properties"]["PIP_EXTRA_INDEX_URL"]


def test_functions_are_listed_with_invoke_urls(emulator: RunningEmulator,
                                              built: dict[str, Any]) -> None:
    app = built["app"]
    functions = emulator.functions(app, count=2)  # the list lags the deployment (index_lag)
    by_name = {f["properties"]["name"]: f["properties"] for f in functions}
    assert set(by_name) == {"six_version", "admin_only"}
    assert by_name["six_version"]["invoke_url_template"] == \
        f"{emulator.site_url(app)}/api/six/{{word}}"
    trigger = by_name["six_version"]["config"]["bindings"][0]
    assert trigger["type"] == "httpTrigger" and trigger["authLevel"] == "function"


def test_invoking_needs_a_function_key(emulator: RunningEmulator,
                                       built: dict[str, Any]) -> None:
    app = built["app"]
    url = f"{emulator.site_url(app)}/api/six/hi"
    verify = emulator.ca_bundle
    assert requests.get(url, verify=verify, timeout=60).status_code == 401
    assert requests.get(url, params={"code": "wrong"}, verify=verify, timeout=60).status_code \
        == 401
    answer = requests.get(url, params={"code": built["function_keys"]["default"], "q": "x"},
                          verify=verify, timeout=60)
    assert answer.status_code == 201
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["word"] == "hi" and body["q"] == "x" and body["method"] == "GET"
    assert body["six"].count(".") >= 1
    by_header = requests.post(url, headers={"x-functions-key": built["host_keys"]
                                            ["functionKeys"]["default"]},
                              verify=verify, timeout=60)
    assert by_header.status_code == 201 and by_header.json()["method"] == "POST"
    assert requests.delete(url, params={"code": built["function_keys"]["default"]},
                           verify=verify, timeout=60).status_code == 405
    assert requests.get(f"{emulator.site_url(app)}/api/nothing", verify=verify,
                        timeout=60).status_code == 404


def test_admin_level_takes_only_the_master_key(emulator: RunningEmulator,
                                               built: dict[str, Any]) -> None:
    url = f"{emulator.site_url(built['app'])}/api/ops/master-only"
    verify = emulator.ca_bundle
    default = built["host_keys"]["functionKeys"]["default"]
    assert requests.get(url, params={"code": default}, verify=verify, timeout=60).status_code \
        == 401
    master = requests.get(url, params={"code": built["host_keys"]["masterKey"]}, verify=verify,
                          timeout=60)
    assert (master.status_code, master.text) == (200, "admin")


def test_import_error_deploys_with_zero_functions_and_the_host_log_says_why(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    record = emulator.deploy_and_wait(app, emulator.v2_app(BROKEN_APP))
    assert record["status"] == 4
    # Still empty once the index lag (3 s) is over: nothing was indexed.
    assert emulator.functions(app, timeout=5.0) == []
    texts = _every_text(emulator, app, record["id"])
    assert "Syncing 0 function triggers" in texts
    # As on Azure, the import error is not in Kudu's deployment log but in the host's log.
    assert "package_that_is_not_installed" not in texts
    host_log = emulator.kudu("GET", app, "/api/vfs/LogFiles/Application/Functions/Host/host.log")
    assert "Worker failed to index functions" in host_log.text
    assert "package_that_is_not_installed" in host_log.text


def test_no_requirements_means_no_install(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {"SCM_DO_BUILD_DURING_DEPLOYMENT": "1"})
    record = emulator.deploy_and_wait(app, emulator.package({
        "host.json": '{"version": "2.0"}',
        "function_app.py": "import azure.functions as func\napp = func.FunctionApp()\n"}))
    assert record["status"] == 4
    texts = _every_text(emulator, app, record["id"])
    assert "Could not find requirements.txt, pyproject.toml, or setup.py" in texts


def test_build_for_a_python_the_machine_lacks_fails_clearly(emulator: RunningEmulator) -> None:
    app = emulator.create_app(python="3.99")
    emulator.set_settings(app, {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true"})
    record = emulator.deploy_and_wait(app, emulator.v2_app(SIX_APP,
                                                           **{"requirements.txt": "six\n"}))
    assert record["status"] == 3
    last = emulator.deployment_log(app, record["id"])[-1]
    assert "no Python 3.99 interpreter" in last["message"]
    assert last["details_url"]


V1_FUNCTION = json.dumps({"scriptFile": "__init__.py", "bindings": [
    {"authLevel": "anonymous", "type": "httpTrigger", "direction": "in", "name": "req",
     "methods": ["get"], "route": "items/{id:int}"},
    {"type": "http", "direction": "out", "name": "$return"}]})
V1_CODE = '''
import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("item " + req.route_params["id"])
'''


def test_v1_app_with_a_custom_route_prefix(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    package = emulator.package({
        "host.json": json.dumps({"version": "2.0",
                                 "extensions": {"http": {"routePrefix": "v1"}}}),
        "Items/function.json": V1_FUNCTION,
        "Items/__init__.py": V1_CODE,
    })
    assert emulator.deploy_and_wait(app, package)["status"] == 4
    functions = emulator.functions(app)  # the list lags the deployment (index_lag)
    assert [f["properties"]["invoke_url_template"] for f in functions] == \
        [f"{emulator.site_url(app)}/v1/items/{{id:int}}"]
    verify = emulator.ca_bundle
    answer = requests.get(f"{emulator.site_url(app)}/v1/items/42", verify=verify, timeout=60)
    assert (answer.status_code, answer.text) == (200, "item 42")
    assert requests.get(f"{emulator.site_url(app)}/v1/items/x", verify=verify,
                        timeout=60).status_code == 404
    assert requests.get(f"{emulator.site_url(app)}/api/items/42", verify=verify,
                        timeout=60).status_code == 404
