"""The emulator's function host: real apps, real interpreters, one worker process per call."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from azpublish.emulator.funchost import (
    HttpInvocation,
    HttpResult,
    IndexedFunction,
    IndexResult,
    index_app,
    invoke_http,
)
from azpublish.emulator.routes import match_route
from azpublish.runtime import find_python

RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"
HOST_JSON = '{"version": "2.0"}'

V2_APP = '''
import asyncio, json, logging, os, sys
import azure.functions as func

print("printed at import time")  # must not disturb the worker's answer
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="items/{id:int}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_item(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("getting item %s", req.route_params["id"])
    body = {"id": int(req.route_params["id"]), "q": req.params.get("q"),
            "header": req.headers.get("x-test"), "method": req.method, "url": req.url,
            "setting": os.environ.get("MY_SETTING")}
    return func.HttpResponse(json.dumps(body), status_code=203, mimetype="application/json",
                             headers={"X-Function": "get_item"})

@app.route(route="items", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def create_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.get_body()[::-1], status_code=201)

@app.route(route="hello/{name?}")
async def hello(req: func.HttpRequest) -> str:
    await asyncio.sleep(0)
    return "hello " + req.route_params.get("name", "nobody")

@app.route(route="version")
def version(req: func.HttpRequest) -> str:
    return "%d.%d" % sys.version_info[:2]

@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("exploded on purpose")

@app.route(route="sleepy")
def sleepy(req: func.HttpRequest) -> str:
    import time
    time.sleep(60)
    return "woke up"

@app.function_name("nightly")
@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer")
def nightly_job(timer: func.TimerRequest) -> None:
    pass
'''

V1_INIT = '''
import azure.functions as func
from ..shared import helper

def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    res.set(func.HttpResponse(helper.greet(req.params.get("name")), status_code=202))
'''

V1_FUNCTION_JSON = {
    "scriptFile": "__init__.py",
    "bindings": [
        {"authLevel": "function", "type": "httpTrigger", "direction": "in", "name": "req",
         "methods": ["get", "post"], "route": "greet/{*rest}"},
        {"type": "http", "direction": "out", "name": "res"},
    ],
}


def write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture(scope="module")
def python() -> Path:
    found = find_python(RUNNING)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def v2_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("v2"), {"host.json": HOST_JSON,
                                                 "function_app.py": V2_APP})


@pytest.fixture(scope="module")
def v2_index(v2_app: Path, python: Path) -> IndexResult:
    return index_app(v2_app, python, {"AzureWebJobs.nightly.Disabled": "true"})


def by_name(result: IndexResult) -> dict[str, IndexedFunction]:
    return {f.name: f for f in result.functions}


def call(wwwroot: Path, python: Path, function: IndexedFunction, path: str = "",
         method: str = "GET", *, body: bytes = b"", params: Mapping[str, str] | None = None,
         headers: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
         timeout: float = 60.0) -> HttpResult:
    matched = match_route([function], path or function.route or function.name, method)
    assert matched is not None
    request = HttpInvocation(method=method, url=f"https://app.local/api/{path}",
                             headers=headers or {}, params=params or {},
                             route_params=matched[1], body=body)
    return invoke_http(wwwroot, python, env or {}, function, request, timeout=timeout)


def test_v2_indexing(v2_index: IndexResult) -> None:
    assert v2_index.errors == ()
    functions = by_name(v2_index)
    assert sorted(functions) == ["boom", "create_item", "get_item", "hello", "nightly", "sleepy",
                                 "version"]
    get_item = functions["get_item"]
    assert (get_item.trigger, get_item.route, get_item.methods, get_item.auth_level) == (
        "httpTrigger", "items/{id:int}", ("GET",), "function")
    assert (get_item.script_file, get_item.entry_point) == ("function_app.py", "get_item")
    assert get_item.bindings[0]["direction"] == "in"
    assert functions["create_item"].auth_level == "admin"
    assert functions["hello"].auth_level == "anonymous"  # the app's default
    assert functions["hello"].methods == ()
    nightly = functions["nightly"]
    assert (nightly.trigger, nightly.route, nightly.entry_point) == (
        "timerTrigger", None, "nightly_job")
    assert nightly.bindings[0]["schedule"] == "0 0 3 * * *"
    assert nightly.is_disabled and not get_item.is_disabled


def test_v2_invoke_passes_request_and_returns_response(v2_app: Path, python: Path,
                                                       v2_index: IndexResult) -> None:
    result = call(v2_app, python, by_name(v2_index)["get_item"], "items/42",
                  params={"q": "search"}, headers={"X-Test": "yes"}, env={"MY_SETTING": "on"})
    assert result.status == 203
    assert result.headers["X-Function"] == "get_item"
    assert result.headers["Content-Type"] == "application/json"
    assert json.loads(result.body) == {"id": 42, "q": "search", "header": "yes", "method": "GET",
                                       "url": "https://app.local/api/items/42", "setting": "on"}
    assert "getting item 42" in result.logs
    assert "printed at import time" in result.logs
    assert result.error == ""


def test_v2_post_body_and_async_str_results(v2_app: Path, python: Path,
                                            v2_index: IndexResult) -> None:
    functions = by_name(v2_index)
    created = call(v2_app, python, functions["create_item"], "items", "POST", body=b"\x00abc")
    assert (created.status, created.body) == (201, b"cba\x00")
    assert created.headers["Content-Type"] == "text/plain; charset=utf-8"
    named = call(v2_app, python, functions["hello"], "hello/ada")
    assert (named.status, named.body) == (200, b"hello ada")
    anonymous = call(v2_app, python, functions["hello"], "hello")
    assert anonymous.body == b"hello nobody"


def test_an_exception_is_a_bare_500(v2_app: Path, python: Path, v2_index: IndexResult) -> None:
    result = call(v2_app, python, by_name(v2_index)["boom"])
    assert (result.status, result.body) == (500, b"")
    assert "RuntimeError: exploded on purpose" in result.error


def test_a_hanging_function_is_stopped(v2_app: Path, python: Path,
                                       v2_index: IndexResult) -> None:
    result = call(v2_app, python, by_name(v2_index)["sleepy"], timeout=2.0)
    assert (result.status, result.body) == (500, b"")
    assert "did not finish within 2 s" in result.error


def test_only_http_functions_can_be_invoked(v2_app: Path, python: Path,
                                            v2_index: IndexResult) -> None:
    request = HttpInvocation("GET", "https://app.local/api/nightly", {}, {}, {}, b"")
    with pytest.raises(ValueError, match="timerTrigger"):
        invoke_http(v2_app, python, {}, by_name(v2_index)["nightly"], request)


@pytest.mark.parametrize("version", ["3.10", "3.12", "3.13"])
def test_other_python_minors(version: str, v2_app: Path) -> None:
    other = find_python(version)
    if other is None:
        pytest.skip(f"no Python {version} on this machine")
    result = index_app(v2_app, other, {})
    assert result.errors == ()
    response = call(v2_app, other, by_name(result)["version"])
    assert (response.status, response.body) == (200, version.encode())


def test_v1_app_with_shared_code_and_an_output_binding(tmp_path: Path, python: Path) -> None:
    write(tmp_path, {
        "host.json": HOST_JSON,
        "Greet/function.json": json.dumps(V1_FUNCTION_JSON),
        "Greet/__init__.py": V1_INIT,
        "shared/__init__.py": "",
        "shared/helper.py": "def greet(name):\n    return f'hi {name}'\n",
        "Broken/function.json": json.dumps({"bindings": V1_FUNCTION_JSON["bindings"]}),
        "Broken/__init__.py": "import not_installed_module\ndef main(req):\n    pass\n",
        "NoEntry/function.json": json.dumps({"entryPoint": "run", "bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req"}]}),
        "NoEntry/__init__.py": "def main(req):\n    pass\n",
        "Timer/function.json": json.dumps({"disabled": True, "bindings": [
            {"type": "timerTrigger", "direction": "in", "name": "t", "schedule": "0 * * * * *"}]}),
        "Timer/__init__.py": "def main(t):\n    pass\n",
    })
    result = index_app(tmp_path, python, {})
    # The host lists a v1 function from its function.json; a script that does not load is the
    # worker's failure, in the log only, and the function's status says nothing of it.
    assert sorted(by_name(result)) == ["Broken", "Greet", "NoEntry", "Timer"]
    assert result.function_errors == {} and result.host_errors == ()
    assert len(result.errors) == 2
    assert any(e.startswith("Worker failed to load function: 'Broken'")
               and "ModuleNotFoundError" in e for e in result.errors)
    assert any(e.startswith("Worker failed to load function: 'NoEntry'")
               and "run() is not defined in NoEntry/__init__.py" in e for e in result.errors)
    broken = by_name(result)["Broken"]
    assert "No module named 'not_installed_module'" in broken.load_error
    assert not by_name(result)["Greet"].load_error
    failed = call(tmp_path, python, broken)
    assert (failed.status, failed.body, failed.error) == (500, b"", broken.load_error)
    greet = by_name(result)["Greet"]
    assert (greet.route, greet.methods, greet.auth_level, greet.script_file) == (
        "greet/{*rest}", ("GET", "POST"), "function", "Greet/__init__.py")
    assert by_name(result)["Timer"].is_disabled
    response = call(tmp_path, python, greet, "greet/x/y", params={"name": "bob"})
    assert (response.status, response.body) == (202, b"hi bob")


def test_v1_default_route_and_entry_point(tmp_path: Path, python: Path) -> None:
    write(tmp_path, {
        "host.json": HOST_JSON,
        "Plain/function.json": json.dumps({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "request"},
            {"type": "http", "direction": "out", "name": "$return"}]}),
        "Plain/__init__.py": "def main(request):\n    return request.method\n",
    })
    [plain] = index_app(tmp_path, python, {}).functions
    assert (plain.route, plain.entry_point, plain.auth_level) == ("Plain", "main", "function")
    assert call(tmp_path, python, plain, "plain", "PATCH").body == b"PATCH"


def test_v2_import_error_means_no_functions(tmp_path: Path, python: Path) -> None:
    write(tmp_path, {"host.json": HOST_JSON,
                     "function_app.py": "import not_installed_module\n" + V2_APP})
    result = index_app(tmp_path, python, {})
    assert result.functions == ()
    [error] = result.errors
    assert error.startswith("Worker failed to index functions\nTraceback")
    assert "ModuleNotFoundError" in error and "not_installed_module" in error


def test_v2_syntax_error_and_missing_app(tmp_path: Path, python: Path) -> None:
    write(tmp_path / "syntax", {"host.json": HOST_JSON, "function_app.py": "def broken(:\n"})
    result = index_app(tmp_path / "syntax", python, {})
    assert result.functions == () and "SyntaxError" in result.errors[0]
    write(tmp_path / "noapp", {"host.json": HOST_JSON, "function_app.py": "x = 1\n"})
    result = index_app(tmp_path / "noapp", python, {})
    assert result.functions == ()
    assert "Could not find top level function app instances" in result.errors[0]


def test_no_host_json_indexes_nothing(tmp_path: Path, python: Path) -> None:
    write(tmp_path, {"function_app.py": V2_APP})
    result = index_app(tmp_path, python, {})
    assert result.functions == () and result.errors == () and result.host_errors == ()
    [warning] = result.warnings
    assert "no host.json at its root" in warning


def test_app_packages_come_from_python_packages_only(tmp_path: Path) -> None:
    # The emulator's own interpreter: its venv holds requests, which the app must not see.
    python = Path(sys.executable)
    site = ".python_packages/lib/site-packages"
    write(tmp_path, {
        "host.json": HOST_JSON,
        f"{site}/greeting/__init__.py": "WORD = 'bonjour'\n",
        "function_app.py": '''
            import importlib.util
            import azure.functions as func
            import greeting
            app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

            @app.route(route="word")
            def word(req):
                # The emulator's own packages (requests is one) must stay invisible.
                visible = importlib.util.find_spec("requests") is not None
                return f"{greeting.WORD} {visible}"
        ''',
    })
    [word] = index_app(tmp_path, python, {}).functions
    assert call(tmp_path, python, word).body == b"bonjour False"


def test_script_file_name_setting_and_bad_routes(tmp_path: Path, python: Path) -> None:
    write(tmp_path, {"host.json": HOST_JSON, "main_app.py": '''
        import azure.functions as func
        app = func.FunctionApp()

        @app.route(route="fine")
        def fine(req):
            return "ok"

        @app.route(route="items/{id:nope}")
        def bad(req):
            return "never"
    '''})
    env = {"PYTHON_SCRIPT_FILE_NAME": "main_app.py"}
    result = index_app(tmp_path, python, env)
    fine, bad = by_name(result)["fine"], by_name(result)["bad"]
    assert fine.auth_level == "function"  # FunctionApp's default
    # Listed (the worker indexed it) but never created: no route, and the host says why.
    assert "unknown constraint" in bad.host_error
    assert result.function_errors == {"bad": (bad.host_error,)}
    assert any(e.startswith("The 'bad' function is in error:") for e in result.errors)
    assert match_route(result.functions, "items/1", "GET") is None
    assert call(tmp_path, python, fine, env=env).body == b"ok"
    assert index_app(tmp_path, python, {}).functions == ()  # function_app.py is not there


def test_missing_interpreter_is_reported(tmp_path: Path) -> None:
    write(tmp_path, {"host.json": HOST_JSON, "function_app.py": V2_APP})
    result = index_app(tmp_path, tmp_path / "no-python", {})
    assert result.functions == ()
    assert "cannot start the Python worker" in result.errors[0]
    function = IndexedFunction("f", "httpTrigger", "f", (), "anonymous", (), "function_app.py", "f")
    answer = call(tmp_path, tmp_path / "no-python", function)
    assert (answer.status, answer.body) == (500, b"")
    assert "cannot start the Python worker" in answer.error
