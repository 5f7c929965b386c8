"""What the emulator's host makes of functions that cannot run, stage by stage as the Functions
host decides: refused while reading metadata (not listed), refused while creating the function
(listed, never routed), or failed to load in the worker (listed, every call a 500). Only the
host's own refusals reach ``function_errors`` (``/admin/functions/{name}/status``); nothing here
reaches ``host_errors`` (``/admin/host/status``) but a worker that cannot even start."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from azpublish.emulator.funchost import HttpInvocation, index_app, invoke_http, last_index
from azpublish.emulator.routes import match_route
from azpublish.runtime import find_python

HOST_JSON = '{"version": "2.0"}'
BUNDLE_HOST_JSON = json.dumps({"version": "2.0", "extensionBundle": {
    "id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}})
HTTP = {"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"},
                     {"type": "http", "direction": "out", "name": "$return"}]}
QUEUE = {"bindings": [{"type": "queueTrigger", "direction": "in", "name": "msg",
                       "queueName": "orders", "connection": "AzureWebJobsStorage"}]}
MAIN = "def main(req):\n    return 'ok'\n"


@pytest.fixture(scope="module")
def python() -> Path:
    found = find_python(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert found is not None
    return found


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def v1_app(root: Path, host_json: str = HOST_JSON) -> Path:
    return write(root, {
        "host.json": host_json,
        "Good/function.json": json.dumps(HTTP),
        "Good/__init__.py": MAIN,
        "Broken/function.json": json.dumps(HTTP),
        "Broken/__init__.py": "import not_installed_module\n\n\ndef main(req):\n    pass\n",
        "NoTrigger/function.json": json.dumps({"bindings": [
            {"type": "http", "direction": "out", "name": "$return"}]}),
        "NoTrigger/__init__.py": MAIN,
        "Orders/function.json": json.dumps(QUEUE),
        "Orders/__init__.py": "def main(msg):\n    pass\n",
        "Bad.Name/function.json": json.dumps(HTTP),
        "Bad.Name/__init__.py": MAIN,
        "Missing/function.json": json.dumps({**HTTP, "scriptFile": "handler.py"}),
        "Missing/__init__.py": MAIN,
    })


def get(wwwroot: Path, python: Path, path: str) -> tuple[int, str]:
    index = index_app(wwwroot, python, {})
    found = match_route(index.functions, path, "GET")
    if found is None:
        return 404, ""
    function, params = found
    answer = invoke_http(wwwroot, python, {}, function,
                         HttpInvocation("GET", f"https://app.local/api/{path}", {}, {}, params,
                                        b""))
    return answer.status, answer.error


def test_each_stage_shows_its_failure_where_the_host_does(tmp_path: Path, python: Path) -> None:
    wwwroot = v1_app(tmp_path / "wwwroot")
    result = index_app(wwwroot, python, {})
    listed = {f.name: f for f in result.functions}
    # Reading function.json: an invalid name and a missing scriptFile are never listed.
    assert sorted(listed) == ["Broken", "Good", "NoTrigger", "Orders"]
    assert result.function_errors["Bad.Name"] == ("'Bad.Name' is not a valid function name.",)
    [missing] = result.function_errors["Missing"]
    assert "'scriptFile'" in missing and "does not exist" in missing
    # Creating the function: listed, but refused, with no bundle to resolve queueTrigger.
    assert listed["NoTrigger"].host_error.startswith("No trigger binding")
    assert listed["Orders"].host_error.startswith("The binding type(s) 'queueTrigger' are not "
                                                  "registered")
    assert "extensionBundle" in listed["Orders"].host_error
    assert sorted(result.function_errors) == ["Bad.Name", "Missing", "NoTrigger", "Orders"]
    # Loading in the worker: listed and routed; its status has nothing, the log has it all.
    assert "No module named 'not_installed_module'" in listed["Broken"].load_error
    assert not listed["Broken"].host_error and "Broken" not in result.function_errors
    assert not listed["Good"].host_error and not listed["Good"].load_error
    assert result.host_errors == ()
    assert sum(e.startswith("Worker failed to load function: 'Broken' with functionId:")
               for e in result.errors) == 1
    for name in ("Bad.Name", "Missing", "NoTrigger", "Orders"):
        assert any(e.startswith(f"The '{name}' function is in error: ") for e in result.errors)


def test_a_function_that_failed_to_load_answers_500_and_a_refused_one_404(
        tmp_path: Path, python: Path) -> None:
    wwwroot = v1_app(tmp_path / "wwwroot")
    assert get(wwwroot, python, "Good") == (200, "")
    status, error = get(wwwroot, python, "Broken")
    assert status == 500 and "No module named 'not_installed_module'" in error
    # The load's failure is replayed: installing the module afterwards changes nothing until
    # the host starts again, as on Azure.
    result = index_app(wwwroot, python, {})
    broken = next(f for f in result.functions if f.name == "Broken")
    write(wwwroot, {"not_installed_module.py": ""})
    answer = invoke_http(wwwroot, python, {}, broken,
                         HttpInvocation("GET", "https://app.local/api/Broken", {}, {}, {}, b""))
    assert answer.status == 500 and answer.error == broken.load_error
    assert get(wwwroot, python, "Broken") == (204, "")  # the next start loads it
    assert get(wwwroot, python, "NoTrigger")[0] == 404
    # An http function with an output binding no extension provides is never routed either.
    write(wwwroot, {"Mailer/function.json": json.dumps({"bindings": [
        *HTTP["bindings"], {"type": "sendGrid", "direction": "out", "name": "mail"}]}),
        "Mailer/__init__.py": MAIN})
    assert get(wwwroot, python, "Mailer")[0] == 404


def test_the_extension_bundle_resolves_its_binding_types(tmp_path: Path, python: Path) -> None:
    wwwroot = v1_app(tmp_path / "wwwroot", BUNDLE_HOST_JSON)
    write(wwwroot, {"Typo/function.json": json.dumps({"bindings": [
        {"type": "storageQueueTrigger", "direction": "in", "name": "msg"}]}),
        "Misspelt/function.json": json.dumps({"bindings": [
            {"type": "queueTriger", "direction": "in", "name": "msg"}]}),
        "Misspelt/__init__.py": MAIN,
        "Typo/__init__.py": MAIN})
    listed = {f.name: f for f in index_app(wwwroot, python, {}).functions}
    assert not listed["Orders"].host_error and not listed["Orders"].load_error
    # A trigger by its name's ending, but no extension registers it.
    assert listed["Typo"].host_error.startswith("The binding type(s) 'storageQueueTrigger' are "
                                                "not in the configured extension bundle")
    # Not even a trigger by its name: that is found first.
    assert listed["Misspelt"].host_error.startswith("No trigger binding")


def test_a_v2_app_that_does_not_import_lists_nothing_and_logs_why(
        tmp_path: Path, python: Path) -> None:
    root = write(tmp_path / "wwwroot", {"host.json": HOST_JSON,
                                        "function_app.py": "import not_installed_module\n"})
    result = index_app(root, python, {})
    assert result.functions == () and result.function_errors == {}
    assert result.host_errors == ()  # the host runs; it has nothing to run
    [error] = result.errors
    assert error.startswith("Worker failed to index functions\n")
    assert "No module named 'not_installed_module'" in error


def test_v2_functions_the_host_refuses(tmp_path: Path, python: Path) -> None:
    root = write(tmp_path / "wwwroot", {"host.json": HOST_JSON, "function_app.py": (
        "import azure.functions as func\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n\n"
        "@app.route(route='ok')\n"
        "def ok(req):\n    return 'ok'\n\n"
        "@app.queue_trigger(arg_name='msg', queue_name='q', connection='AzureWebJobsStorage')\n"
        "def on_message(msg):\n    pass\n\n"
        "@app.route(route='doubled', trigger_arg_name='my__req')\n"
        "def doubled(my__req):\n    return 'never'\n")})
    result = index_app(root, python, {})
    listed = {f.name: f for f in result.functions}
    # A binding name the host does not accept is refused while it reads the worker's index.
    assert sorted(listed) == ["ok", "on_message"]
    assert result.function_errors["doubled"][0].startswith("The binding name my__req is invalid")
    assert listed["on_message"].host_error.startswith("The binding type(s) 'queueTrigger'")
    assert not listed["ok"].host_error


def test_only_a_worker_that_cannot_start_is_the_hosts_own_error(tmp_path: Path) -> None:
    wwwroot = v1_app(tmp_path / "wwwroot")
    result = index_app(wwwroot, tmp_path / "no-python", {})
    [error] = result.host_errors
    assert "cannot start the Python worker" in error
    assert result.functions == ()


def test_the_last_index_follows_the_folder_not_its_path(tmp_path: Path, python: Path) -> None:
    site = tmp_path / "production"
    wwwroot = v1_app(site / "wwwroot")
    result = index_app(wwwroot, python, {})
    names = [f.name for f in result.functions]
    assert last_index(wwwroot, names) is result
    # The site lists something else (it was indexed again elsewhere, or changed): not ours.
    assert last_index(wwwroot, [*names, "Other"]) is None
    # A slot swap renames the site folders: the errors go with the content.
    swapped = tmp_path / "slot-staging"
    site.rename(swapped)
    assert last_index(swapped / "wwwroot", names) is result
    assert last_index(site / "wwwroot", names) is None  # nothing there any more
    # A deployment puts a new folder in place: it has no errors until it is indexed.
    shutil.rmtree(swapped / "wwwroot")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert last_index(fresh, []) is None
