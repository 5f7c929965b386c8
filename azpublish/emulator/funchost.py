"""The emulator's function host: index an app and invoke its HTTP functions, like the real worker.

Each call starts ``worker.py`` in the app's own interpreter (isolated, one process per call: slow
by a fraction of a second, but a crashing or hanging app cannot harm the emulator, and a redeploy
never sees stale modules). The app imports from wwwroot, ``.python_packages/lib/site-packages``
and the standard library only; ``azure-functions`` comes last, from a private copy of the
emulator's own install, so apps that do not list it still run as they do on Azure.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from azpublish.distributions import dependency_closure
from azpublish.emulator.routes import HTTP_TRIGGER, parse_template

WORKER = Path(__file__).with_name("worker.py")
FUNCTIONS_LIBRARY = "azure-functions"
# Per user: code in here runs inside every app, so nobody else may have written it.
_CACHE_ROOT = Path(tempfile.gettempdir()) / f"azpublish-emulator-{os.getuid()}"
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


@dataclass(frozen=True)
class IndexResult:
    functions: tuple[IndexedFunction, ...]
    errors: tuple[str, ...]  # every error, as the host log shows them
    # The same errors split the way the host's admin API serves them: per function it could not
    # load (its /admin/functions/{name}/status), and the rest (its /admin/host/status), e.g. the
    # traceback of an import error in function_app.py.
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


def _import_roots(dist: metadata.Distribution) -> set[PurePosixPath]:
    """Top-level packages, modules and metadata of a distribution; namespaces one level down."""
    files = [PurePosixPath(str(f)) for f in dist.files or []]
    names = {str(f) for f in files}
    roots: set[PurePosixPath] = set()
    for file in files:
        top = file.parts[0] if file.parts else ".."
        if top in ("..", "__pycache__") or top.endswith(".egg-info"):
            continue
        if len(file.parts) == 1:
            if file.suffix in (".py", ".so"):
                roots.add(file)
        elif top.endswith(".dist-info") or f"{top}/__init__.py" in names:
            roots.add(PurePosixPath(top))
        else:  # a namespace package such as azure/: share only our part of it
            roots.add(PurePosixPath(top, file.parts[1]))
    return roots


def _sources() -> list[tuple[PurePosixPath, Path]]:
    pairs = []
    for dist in dependency_closure(FUNCTIONS_LIBRARY)[0]:
        for root in _import_roots(dist):
            pairs.append((root, Path(str(dist.locate_file(str(root))))))
    return sorted(pairs)


@lru_cache(maxsize=1)
def _library_copy() -> Path:
    """A private copy of azure-functions and its dependencies, made once per installation.

    A copy, not the venv's folder: the worker must not see the emulator's other packages, and
    compiling for another Python must not write into the venv.
    """
    sources = _sources()
    digest = hashlib.sha256()
    for root, source in sources:
        digest.update(f"{root}={source}@{source.stat().st_mtime_ns}\n".encode())
    target = _CACHE_ROOT / f"funclib-{digest.hexdigest()[:16]}"
    _CACHE_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _CACHE_ROOT.is_symlink() or _CACHE_ROOT.stat().st_uid != os.getuid():
        raise PermissionError(f"{_CACHE_ROOT} belongs to another user; remove it")
    if target.is_dir():
        return target
    staging = Path(tempfile.mkdtemp(prefix="funclib-", dir=_CACHE_ROOT))
    for root, source in sources:
        destination = staging / root
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)
    try:
        staging.rename(target)
    except OSError:  # another process finished first; its copy is identical
        shutil.rmtree(staging, ignore_errors=True)
    return target


def library_fallback(python: Path) -> Path:
    """The fallback folder for ``sys.path``, byte-compiled once for ``python``'s version."""
    library = _library_copy()
    _compile_for(library, str(python))
    return library


@lru_cache(maxsize=32)
def _compile_for(library: Path, python: str) -> None:
    # Workers run with -B (app code must never meet stale bytecode), so the library's own
    # bytecode is written here once: without it every call would recompile ~1 MB of source.
    marker = library / f".compiled-{hashlib.sha256(python.encode()).hexdigest()[:16]}"
    if marker.exists():
        return
    try:
        done = subprocess.run([python, "-I", "-S", "-m", "compileall", "-q", str(library)],
                              capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError):
        return  # no bytecode only costs time; a missing interpreter is reported by the caller
    if done.returncode == 0:
        marker.touch()


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
            str(library_fallback(python))]
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


def _indexed(raw: Mapping[str, Any], env: Mapping[str, str]) -> IndexedFunction:
    name = str(raw["name"])
    bindings = tuple(_normalised(b) for b in raw["bindings"])
    trigger = next((b for b in bindings if str(b.get("type", "")).lower().endswith("trigger")
                    and b.get("direction", "in") == "in"), None)
    if trigger is None:
        raise ValueError("no trigger binding; a function needs exactly one")
    route: str | None = None
    methods: tuple[str, ...] = ()
    if str(trigger["type"]).lower() == HTTP_TRIGGER:
        route = str(trigger.get("route") or name).strip("/")
        parse_template(route)  # a ValueError saying what is wrong with the route
        methods = tuple(str(m).upper() for m in trigger.get("methods") or ())
    return IndexedFunction(
        name=name, trigger=str(trigger["type"]), route=route, methods=methods,
        auth_level=str(trigger.get("authLevel") or "function").lower(), bindings=bindings,
        script_file=str(raw["script_file"]), entry_point=str(raw["entry_point"]),
        is_disabled=bool(raw.get("disabled")) or _disabled_by_setting(name, env),
    )


def index_app(wwwroot: Path, python: Path, env: Mapping[str, str], *,
              timeout: float = 60.0) -> IndexResult:
    """The functions the host would load from ``wwwroot``, and why others did not load.

    ``env`` holds the app settings; the worker sees them as environment variables (over a
    minimal PATH/HOME/LANG base), as on Azure. The result is also kept as the host's last index
    of ``wwwroot`` (``last_index``), for its admin API.
    """
    result = _index(wwwroot, python, env, timeout)
    _remember(wwwroot, result)
    return result


def _index(wwwroot: Path, python: Path, env: Mapping[str, str], timeout: float) -> IndexResult:
    if not (wwwroot / "host.json").is_file():
        error = f"host.json not found in {wwwroot}: no functions are loaded"
        return IndexResult((), (error,), host_errors=(error,))
    run = _run_worker(python, "index", wwwroot, env, b"", timeout)
    if run.answer is None:
        return IndexResult((), (run.problem,), host_errors=(run.problem,))
    errors = [str(e) for e in run.answer.get("errors", [])]
    per_function: dict[str, list[str]] = {}
    host: list[str] = []
    for error in errors:
        load = _LOAD_ERROR.match(error)
        if load:
            per_function.setdefault(load["name"], []).append(load["error"].strip())
        else:
            host.append(error)
    functions = []
    for raw in run.answer.get("functions", []):
        try:
            functions.append(_indexed(raw, env))
        except (ValueError, KeyError, TypeError) as error:
            name = raw.get("name") if isinstance(raw, Mapping) else None
            if isinstance(name, str) and isinstance(error, ValueError):
                errors.append(f"Function '{name}': {error}")
                per_function.setdefault(name, []).append(str(error))
            else:
                errors.append(str(error))
                host.append(str(error))
    return IndexResult(tuple(functions), tuple(errors),
                       {name: tuple(texts) for name, texts in per_function.items()}, tuple(host))


# -- the host's memory of its last index ----------------------------------------------------------

# How the worker reports a v1 function it could not import: the function's name, then the
# traceback. The host keeps such a function out of its list and says why in its admin API.
_LOAD_ERROR = re.compile(r"Function '(?P<name>[^'\n]+)' failed to load:(?P<error>.*)", re.DOTALL)
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
