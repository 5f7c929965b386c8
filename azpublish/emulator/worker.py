"""The emulator's Python worker: runs inside the app's own interpreter, one process per call.

Started by ``funchost`` as ``python -I -S -B worker.py COMMAND WWWROOT FALLBACK``: isolated
(no site-packages, no PYTHON* variables), so the app sees only what the real worker gives it —
``sys.path`` = wwwroot, ``wwwroot/.python_packages/lib/site-packages``, the standard library,
then FALLBACK (a copy of ``azure-functions`` and its dependencies, for apps that did not install
it). Only the standard library is imported here, for the same reason.

Protocol: ``index`` indexes a model v2 app; ``load`` reads ``{"functions": [...]}`` (the v1
functions the host accepted) and answers the load error of each that fails; ``invoke`` reads
``{"function": ..., "request": ...}`` as JSON on stdin (body base64).
The answer is one JSON document on stdout; everything the app prints or logs goes to stderr
(file descriptor 1 is redirected there, so even a stray ``print`` cannot corrupt the answer).
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import inspect
import json
import logging
import os
import sys
import traceback
import types
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

DEFAULT_SCRIPT = "function_app.py"
SITE_PACKAGES = Path(".python_packages", "lib", "site-packages")
TEXT_PLAIN = "text/plain; charset=utf-8"


def claim_stdout() -> IO[str]:
    """Keep the real stdout for the answer; send fd 1 (and sys.stdout) to stderr."""
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answer


def set_sys_path(wwwroot: Path, fallback: str) -> None:
    sys.path[:0] = [str(wwwroot), str(wwwroot / SITE_PACKAGES)]
    sys.path.append(fallback)


def script_file_name() -> str:
    return os.environ.get("PYTHON_SCRIPT_FILE_NAME") or DEFAULT_SCRIPT


def v1_module_name(script_file: str) -> str:
    """``HttpTrigger/__init__.py`` -> ``__app__.HttpTrigger``, as the real worker names it."""
    parts = list(Path(script_file).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["__app__", *parts])


def import_v1(wwwroot: Path, script_file: str) -> types.ModuleType:
    if "__app__" not in sys.modules:
        package = types.ModuleType("__app__")
        package.__path__ = [str(wwwroot)]
        sys.modules["__app__"] = package
    return importlib.import_module(v1_module_name(script_file))


def find_app(module: types.ModuleType) -> Any:
    """The one FunctionApp/FunctionRegister at the script's top level (the worker's rule)."""
    register = importlib.import_module("azure.functions").FunctionRegister
    apps = {id(v): v for v in vars(module).values() if isinstance(v, register)}
    if not apps:
        raise ValueError(
            f"Could not find top level function app instances in {script_file_name()}."
        )
    if len(apps) > 1:
        raise ValueError("More than one FunctionApp or other top level function app instances "
                         "are defined.")
    return next(iter(apps.values()))


def v2_functions() -> list[Any]:
    module = importlib.import_module(Path(script_file_name()).stem)
    return list(find_app(module).get_functions())


def index_v2() -> dict[str, Any]:
    functions = [
        {
            "name": f.get_function_name(),
            "script_file": script_file_name(),
            "entry_point": f.get_user_function().__name__,
            "bindings": [json.loads(raw) for raw in f.get_raw_bindings()],
            "disabled": False,
        }
        for f in v2_functions()
    ]
    return {"functions": functions}


def load_v1(wwwroot: Path, function: Mapping[str, Any]) -> Callable[..., Any]:
    """Import a v1 function's script and find its entry point, as the worker's FunctionLoad."""
    script_file = str(function["script_file"])
    if Path(script_file).is_absolute() or Path(script_file).parts[:1] == ("..",):
        raise RuntimeError(f"cannot load function {function['name']}: script {script_file} is "
                           "not inside the app's folder")
    if Path(script_file).suffix != ".py":
        raise RuntimeError(f"cannot load function {function['name']}: {script_file} is not a "
                           "Python file")
    target = getattr(import_v1(wwwroot, script_file), str(function["entry_point"]), None)
    if not callable(target):
        raise RuntimeError(f"cannot load function {function['name']}: "
                           f"{function['entry_point']}() is not defined in {script_file}")
    return target  # type: ignore[no-any-return]


def load(wwwroot: Path, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Load each v1 function the host accepted; the traceback of each that fails, by name.
    All in one process, as the worker loads them."""
    errors: dict[str, str] = {}
    for function in doc["functions"]:
        try:
            load_v1(wwwroot, function)
        except BaseException:
            errors[str(function["name"])] = traceback.format_exc()
    return {"load_errors": errors}


def index() -> dict[str, Any]:
    """Model v2: the functions ``function_app.py`` registers, or why it could not be indexed."""
    try:
        return index_v2()
    except BaseException:
        return {"functions": [], "error": traceback.format_exc()}


class Out:
    """What the worker passes for a named (not ``$return``) output binding."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


def load_target(wwwroot: Path, function: Mapping[str, Any]) -> Callable[..., Any]:
    if function["script_file"] == script_file_name():
        for candidate in v2_functions():
            if candidate.get_function_name() == function["name"]:
                return candidate.get_user_function()  # type: ignore[no-any-return]
        raise LookupError(f"function {function['name']!r} is no longer in {script_file_name()}")
    return load_v1(wwwroot, function)


def http_request(doc: Mapping[str, Any]) -> Any:
    return importlib.import_module("azure.functions").HttpRequest(
        method=doc["method"], url=doc["url"], headers=doc["headers"], params=doc["params"],
        route_params=doc["route_params"], body=base64.b64decode(doc["body"]),
    )


def call(target: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    result = target(**kwargs)
    if inspect.isawaitable(result):
        async def wait() -> Any:
            return await result

        result = asyncio.run(wait())
    return result


def arguments(target: Callable[..., Any], function: Mapping[str, Any],
              request: Any) -> tuple[dict[str, Any], Out | None]:
    """Keyword arguments by binding name, and the named http output (None: ``$return``)."""
    accepted = inspect.signature(target).parameters
    kwargs: dict[str, Any] = {}
    out: Out | None = None
    for binding in function["bindings"]:
        kind, name = str(binding.get("type", "")).lower(), binding.get("name")
        inbound = str(binding.get("direction", "in")).lower() == "in"
        if kind == "httptrigger":
            kwargs[name] = request
        elif kind == "http" and not inbound and name != "$return":
            out = Out()
            kwargs[name] = out
        elif inbound:
            kwargs[name] = None  # other input bindings have no data source in the emulator
    if "context" in accepted:
        kwargs["context"] = types.SimpleNamespace(
            invocation_id=str(uuid.uuid4()), function_name=function["name"],
            function_directory=str(Path.cwd() / Path(function["script_file"]).parent),
            trace_context=None, retry_context=None,
        )
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    return {k: v for k, v in kwargs.items() if takes_any or k in accepted}, out


def response_doc(value: Any) -> dict[str, Any]:
    library = importlib.import_module("azure.functions")
    if isinstance(value, library.HttpResponse):
        headers = dict(value.headers.items())
        if value.mimetype and not any(k.lower() == "content-type" for k in headers):
            text = value.mimetype.startswith("text/") and value.charset
            headers["Content-Type"] = (f"{value.mimetype}; charset={value.charset}" if text
                                       else value.mimetype)
        return {"status": int(value.status_code), "headers": headers,
                "body": base64.b64encode(value.get_body() or b"").decode()}
    if value is None:
        return {"status": 204, "headers": {}, "body": ""}
    if isinstance(value, str):
        value = value.encode("utf-8")
        return {"status": 200, "headers": {"Content-Type": TEXT_PLAIN},
                "body": base64.b64encode(value).decode()}
    if isinstance(value, (bytes, bytearray)):
        return {"status": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"an http function must return azure.functions.HttpResponse, str or bytes; "
                    f"got {type(value).__name__}")


def invoke(wwwroot: Path, doc: Mapping[str, Any]) -> dict[str, Any]:
    function = doc["function"]
    try:
        target = load_target(wwwroot, function)
        kwargs, out = arguments(target, function, http_request(doc["request"]))
        returned = call(target, kwargs)
        return response_doc(out.get() if out is not None else returned)
    except BaseException:
        # The real host answers a bare 500; the traceback is for the emulator's log only.
        return {"status": 500, "headers": {}, "body": "",
                "error": f"Executed 'Functions.{function['name']}' (Failed)\n"
                         f"{traceback.format_exc()}"}


def main(argv: list[str]) -> int:
    command, wwwroot, fallback = argv[1], Path(argv[2]), argv[3]
    answer = claim_stdout()
    set_sys_path(wwwroot, fallback)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if command == "index":
        result = index()
    elif command == "load":
        result = load(wwwroot, json.load(sys.stdin))
    elif command == "invoke":
        result = invoke(wwwroot, json.load(sys.stdin))
    else:
        raise SystemExit(f"unknown command {command!r}")
    json.dump(result, answer)
    answer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
