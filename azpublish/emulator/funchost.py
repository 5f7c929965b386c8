"""The emulator's function host: index an app and invoke its HTTP functions, like the real worker.

Each call starts ``worker.py`` in the app's own interpreter (isolated, one process per call: slow
by a fraction of a second, but a crashing or hanging app cannot harm the emulator, and a redeploy
never sees stale modules). The app imports from wwwroot, ``.python_packages/lib/site-packages``
and the standard library only; ``azure-functions`` comes last, from a private copy of the
emulator's own install, so apps that do not list it still run as they do on Azure.

Indexing follows the host: it reads a v1 app's function.json itself and refuses what it cannot
create (``hostmeta``) before the worker loads the rest; a v2 app is indexed by the worker. A
function the worker fails to load stays listed, and every call replays that failure.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from azpublish.emulator import hostmeta
from azpublish.emulator.routes import HTTP_TRIGGER, parse_template
from azpublish.runtime import functions_library

WORKER = Path(__file__).with_name("worker.py")
_ERROR_TAIL = 4000  # characters of worker stderr kept when the worker itself fails


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    trigger: str  # binding type, e.g. "httpTrigger", "timerTrigger"
    route: str | None  # http only: the route template (default: the function name)
    methods: tuple[str, ...]  # http only, upper-case; empty = all
    auth_level: str  # "anonymous" | "function" | "admin"
    bindings: tuple[Mapping[str, Any], ...]  # as function.json would list them
    script_file: str  # relative to wwwroot
    entry_point: str
    is_disabled: bool = False
    # Listed, but the host refused to create it (a binding type it does not have, no trigger):
    # it never runs, and its /admin/functions/{name}/status says why.
    host_error: str = ""
    # Listed and routed, but the worker failed to load it (a v1 script that does not import):
    # every invocation fails with this error, as the host replays the failed load.
    load_error: str = ""


@dataclass(frozen=True)
class IndexResult:
    functions: tuple[IndexedFunction, ...]  # what the host lists (ARM, the admin list)
    errors: tuple[str, ...] = ()  # the host log's errors of this start, in the host's words
    warnings: tuple[str, ...] = ()  # and its warnings
    # What the admin API serves: the errors of each function the host refused, listed or not
    # (/admin/functions/{name}/status), and the host's own failure to start (/admin/host/status).
    # A worker's load or index failure is neither: it is only in the log.
    function_errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    host_errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpInvocation:
    method: str
    url: str  # full URL as the client called it
    headers: Mapping[str, str]
    params: Mapping[str, str]  # query string
    route_params: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: Mapping[str, str]
    body: bytes
    error: str = ""  # why it failed (traceback): for the emulator's log, never the client
    logs: str = ""  # what the function printed or logged


# -- the azure-functions fallback ---------------------------------------------------------------


# -- running the worker -------------------------------------------------------------------------


@dataclass(frozen=True)
class _WorkerRun:
    answer: dict[str, Any] | None
    stderr: str
    problem: str  # why there is no answer


def _worker_env(env: Mapping[str, str]) -> dict[str, str]:
    base = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/"),
            "LANG": os.environ.get("LANG", "C.UTF-8")}
    return {**base, **{k: str(v) for k, v in env.items() if k and "=" not in k}}


def _run_worker(python: Path, command: str, wwwroot: Path, env: Mapping[str, str],
                stdin: bytes, timeout: float) -> _WorkerRun:
    args = [str(python), "-I", "-S", "-B", str(WORKER), command, str(wwwroot.resolve()),
            str(functions_library(python))]
    try:
        process = subprocess.Popen(args, cwd=wwwroot, env=_worker_env(env), stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
    except OSError as error:
        return _WorkerRun(None, "", f"cannot start the Python worker {python}: {error}")
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: the app may have children
        out, err = process.communicate()
        return _WorkerRun(None, err.decode(errors="replace"),
                          f"the Python worker did not finish within {timeout:g} s")
    stderr = err.decode(errors="replace")
    try:
        answer = json.loads(out)
    except ValueError:
        return _WorkerRun(None, stderr, f"the Python worker exited with code "
                                        f"{process.returncode} without an answer:\n"
                                        f"{stderr[-_ERROR_TAIL:]}")
    return _WorkerRun(answer, stderr, "")


# -- indexing -----------------------------------------------------------------------------------


def _normalised(binding: Mapping[str, Any]) -> dict[str, Any]:
    """v2 bindings say ``"direction": "IN"``; function.json says ``"in"``. Keep the latter."""
    result = dict(binding)
    for key in ("direction", "authLevel"):
        if isinstance(result.get(key), str):
            result[key] = result[key].lower()
    return result


def _disabled_by_setting(name: str, env: Mapping[str, str]) -> bool:
    wanted = f"azurewebjobs.{name}.disabled".lower()
    return any(k.lower() == wanted and v.strip().lower() in ("true", "1") for k, v in env.items())


def _indexed(raw: Mapping[str, Any], env: Mapping[str, str],
             types: hostmeta.BindingTypes) -> IndexedFunction:
    """The function as the host creates it from its metadata; ``host_error`` if it cannot."""
    name = str(raw["name"])
    bindings = tuple(_normalised(b) for b in raw["bindings"])
    error = hostmeta.creation_error(name, bindings, types)
    trigger = next((b for b in bindings if hostmeta.is_trigger(b)), {})
    route: str | None = None
    methods: tuple[str, ...] = ()
    if str(trigger.get("type", "")).lower() == HTTP_TRIGGER:
        route = str(trigger.get("route") or name).strip("/")
        methods = tuple(str(m).upper() for m in trigger.get("methods") or ())
        if error is None:
            try:
                parse_template(route)
            except ValueError as bad:  # the emulator's router cannot serve it either
                error = f"The route template {route!r} is invalid: {bad}"
    return IndexedFunction(
        name=name, trigger=str(trigger.get("type", "")), route=route, methods=methods,
        auth_level=str(trigger.get("authLevel") or "function").lower(), bindings=bindings,
        script_file=str(raw["script_file"]), entry_point=str(raw["entry_point"]),
        is_disabled=bool(raw.get("disabled")) or _disabled_by_setting(name, env),
        host_error=error or "",
    )


def index_app(wwwroot: Path, python: Path, env: Mapping[str, str], *,
              timeout: float = 60.0) -> IndexResult:
    """The functions the host would list for ``wwwroot``, and what its log and admin API say.

    ``env`` holds the app settings; the worker sees them as environment variables (over a
    minimal PATH/HOME/LANG base), as on Azure. The result is also kept as the host's last index
    of ``wwwroot`` (``last_index``), for its admin API.
    """
    result = _index(wwwroot, python, env, timeout)
    _remember(wwwroot, result)
    return result


def _script_file_name(env: Mapping[str, str]) -> str:
    return env.get("PYTHON_SCRIPT_FILE_NAME") or "function_app.py"  # as the worker reads it


class _Index:
    """One start of the host, collecting what it lists, logs and serves."""

    def __init__(self, env: Mapping[str, str], types: hostmeta.BindingTypes) -> None:
        self.env, self.types = env, types
        self.functions: list[IndexedFunction] = []
        self.errors: list[str] = []
        self.refused: dict[str, tuple[str, ...]] = {}

    def refuse(self, name: str, error: str) -> None:
        self.errors.append(hostmeta.in_error(name, error))
        self.refused[name] = (error,)

    def create(self, raw: Mapping[str, Any]) -> IndexedFunction:
        function = _indexed(raw, self.env, self.types)
        if function.host_error:
            self.refuse(function.name, function.host_error)
        return function

    def result(self) -> IndexResult:
        return IndexResult(tuple(self.functions), tuple(self.errors),
                           function_errors=dict(self.refused))


def _index(wwwroot: Path, python: Path, env: Mapping[str, str], timeout: float) -> IndexResult:
    if not (wwwroot / "host.json").is_file():
        # The host itself runs (with a default configuration) and finds nothing to load.
        return IndexResult((), warnings=("No functions were found: the deployed package has no "
                                         "host.json at its root.",))
    state = _Index(env, hostmeta.binding_types(wwwroot))
    if (wwwroot / _script_file_name(env)).is_file():
        return _index_v2(wwwroot, python, env, timeout, state)
    return _index_v1(wwwroot, python, env, timeout, state)


def _index_v2(wwwroot: Path, python: Path, env: Mapping[str, str], timeout: float,
              state: _Index) -> IndexResult:
    """The worker indexes the app; the host validates what it is given, then creates it."""
    run = _run_worker(python, "index", wwwroot, env, b"", timeout)
    if run.answer is None:
        return IndexResult((), (run.problem,), host_errors=(run.problem,))
    if run.answer.get("error"):
        # The host goes on with no function: only its log says why, not its status.
        state.errors.append(f"Worker failed to index functions\n{run.answer['error']}")
        return state.result()
    for raw in run.answer.get("functions", []):
        try:
            hostmeta.check_worker_metadata(raw)
        except hostmeta.Refused as refused:
            state.refuse(str(raw.get("name")), str(refused))
            continue
        state.functions.append(state.create(raw))
    return state.result()


def _index_v1(wwwroot: Path, python: Path, env: Mapping[str, str], timeout: float,
              state: _Index) -> IndexResult:
    """The host reads function.json itself and hands the worker what it could create."""
    raws, refused = hostmeta.read_v1(wwwroot)
    for name, error in refused.items():
        state.refuse(name, error)
    created = [state.create(raw) for raw in raws]
    loadable = [{"name": f.name, "script_file": f.script_file, "entry_point": f.entry_point}
                for f in created if not f.host_error]
    load_errors: dict[str, str] = {}
    if loadable:
        run = _run_worker(python, "load", wwwroot, env,
                          json.dumps({"functions": loadable}).encode(), timeout)
        if run.answer is None:
            return IndexResult((), (run.problem,), host_errors=(run.problem,))
        load_errors = {str(k): str(v) for k, v in run.answer.get("load_errors", {}).items()}
    for function in created:
        error = load_errors.get(function.name, "")
        if error:
            state.errors.append(f"Worker failed to load function: '{function.name}' with "
                                f"functionId: '{uuid.uuid4()}'.\n{error}")
            function = replace(function, load_error=error)
        state.functions.append(function)
    return state.result()


# -- the host's memory of its last index ----------------------------------------------------------

_MEMORY_SIZE = 256  # wwwroots remembered; more only when many sites are deployed at once
_memory: OrderedDict[tuple[int, int], IndexResult] = OrderedDict()
_memory_lock = threading.Lock()


def _identity(wwwroot: Path) -> tuple[int, int] | None:
    """The folder itself, not its path: a slot swap renames site folders, a deployment puts a
    new folder in place, and the errors must follow the content."""
    try:
        info = wwwroot.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _remember(wwwroot: Path, result: IndexResult) -> None:
    identity = _identity(wwwroot)
    if identity is None:
        return
    with _memory_lock:
        _memory[identity] = result
        _memory.move_to_end(identity)
        while len(_memory) > _MEMORY_SIZE:
            _memory.popitem(last=False)


def last_index(wwwroot: Path, listed: Sequence[str]) -> IndexResult | None:
    """The last index of ``wwwroot`` in this process, if the site still lists what it found.

    In memory only, as in a host process: after the emulator restarts, nothing is known until
    the next deployment indexes the app again. ``listed`` (the site's function names) guards
    against a folder that was replaced or re-created since.
    """
    identity = _identity(wwwroot)
    with _memory_lock:
        result = _memory.get(identity) if identity is not None else None
    if result is None or sorted(f.name for f in result.functions) != sorted(listed):
        return None
    return result


# -- invoking -----------------------------------------------------------------------------------


def invoke_http(wwwroot: Path, python: Path, env: Mapping[str, str], function: IndexedFunction,
                request: HttpInvocation, *, timeout: float = 60.0) -> HttpResult:
    """Call an http-triggered function once, in a fresh worker; failures answer a bare 500."""
    if function.trigger.lower() != HTTP_TRIGGER:
        raise ValueError(f"function {function.name!r} is a {function.trigger}, not an http "
                         "function")
    if function.load_error:
        # The host never sends an invocation to a function that failed to load: it fails the
        # call with the load's error, whatever the script would do now.
        return HttpResult(500, {}, b"", error=function.load_error)
    document = {
        "function": {"name": function.name, "script_file": function.script_file,
                     "entry_point": function.entry_point, "bindings": list(function.bindings)},
        "request": {"method": request.method.upper(), "url": request.url,
                    "headers": dict(request.headers), "params": dict(request.params),
                    "route_params": dict(request.route_params),
                    "body": base64.b64encode(request.body).decode()},
    }
    run = _run_worker(python, "invoke", wwwroot, env, json.dumps(document).encode(), timeout)
    if run.answer is None:
        return HttpResult(500, {}, b"", error=run.problem, logs=run.stderr)
    answer = run.answer
    return HttpResult(
        status=int(answer["status"]),
        headers={str(k): str(v) for k, v in answer.get("headers", {}).items()},
        body=base64.b64decode(answer.get("body", "")),
        error=str(answer.get("error", "")),
        logs=run.stderr,
    )
