"""The preflight import check: import the packaged app as the Azure Python worker will, before
the upload, so a ``ModuleNotFoundError`` stops the publish here instead of breaking the site.

The probe (``preflight_probe.py``) runs in the target's interpreter: in a container of the build
image (app root read-only at ``/home/site/wwwroot``, no network), or else in a host interpreter
of the same version. Either way it sees only wwwroot, the app's ``.python_packages``, the
standard library and, last, ``azure-functions`` as the platform provides it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from azpublish.builders import module_hints
from azpublish.errors import BuildError
from azpublish.local_settings import masked
from azpublish.redact import redact
from azpublish.runtime import Target, find_python, functions_library
from azpublish.toolchain.containers import ContainerRun, ContainerRunner, Mount, short_id

PROBE = Path(__file__).with_name("preflight_probe.py")
WWWROOT = PurePosixPath("/home/site/wwwroot")
PROBE_MOUNT = PurePosixPath("/opt/azpublish/preflight_probe.py")
PLATFORM_MOUNT = PurePosixPath("/opt/azpublish/platform")  # azure-functions and its deps
V2_SCRIPT = "function_app.py"
STDERR_TAIL_LINES = 20
# What the platform sets for every Python function app; the probe gets nothing else.
PLATFORM_ENV = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsScriptRoot": str(WWWROOT),
                "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}

NATIVE_FIX = "build with --build local (container) so native libraries match the runtime"
NO_FUNCTIONS_FIX = "no function registered: check the decorators / that app is a FunctionApp"
SKIP_HINT = "skip this check with --no-preflight"
NETWORK_FIX = ("open connections inside the function (or lazily, on first use), not at module "
               "level: on Azure that code runs at every cold start, and fails the whole app "
               f"when the service is slow or away; or {SKIP_HINT}")

# Namespace packages: the distribution is named after the full module path.
_NAMESPACES = ("azure", "google")
# Standard library modules removed in a given Python version (PEP 594, PEP 632).
_REMOVED_STDLIB = {
    **dict.fromkeys(("distutils", "imp", "asynchat", "asyncore", "smtpd"), (3, 12)),
    **dict.fromkeys(("cgi", "cgitb", "crypt", "pipes", "telnetlib", "nntplib", "imghdr",
                     "sndhdr", "uu", "xdrlib", "mailcap", "msilib", "nis", "ossaudiodev", "spwd",
                     "sunau", "aifc", "audioop", "chunk", "lib2to3"), (3, 13)),
}


@dataclass(frozen=True)
class PreflightResult:
    ok: bool
    runner: str  # "container <image>" | "host python3.11 (/path)" | "skipped: ..."
    functions: tuple[str, ...]  # indexed function names
    problems: tuple[str, ...]  # one per failing script: traceback's essential lines, then fix
    triggers: Mapping[str, str] = field(default_factory=dict)  # function -> trigger type
    network: tuple[str, ...] = ()  # what app code tried to reach while being imported


@dataclass(frozen=True)
class _Run:
    """What the probe left behind: its report (None when it gave none) and its stderr."""

    report: dict[str, Any] | None
    stderr: str
    status: int
    timed_out: bool


def run_preflight(root: Path, model: Literal["v1", "v2"], scripts: Sequence[str],
                  target: Target, *, image: str | None = None,
                  docker_client_factory: Callable[[], Any] | None = None,
                  runner: ContainerRunner | None = None, timeout: float = 120.0,
                  app_settings: Mapping[str, str] | None = None,
                  left_out: Collection[str] = ()) -> PreflightResult:
    """Import every function script of the app at ``root`` (whose ``.python_packages`` is in
    place) in a container of ``image`` (run by ``runner``, default a new one connecting with
    ``docker_client_factory``), or without one in a host Python of the target version.

    ``app_settings`` (local.settings.json's Values) are the app's environment, as app settings
    are on Azure; they are masked in the problems reported. ``left_out`` names top-level
    modules the project has but the package does not (left out by .funcignore).
    """
    root = root.resolve()
    wanted = _scripts(model, scripts)
    settings = dict(app_settings or {})
    environment = {**settings, **PLATFORM_ENV}  # what the platform sets wins, as on Azure
    if image is not None:
        runner_name = f"container {short_id(image)}"
        config = _config(WWWROOT, PLATFORM_MOUNT, model, wanted)
        run = _run_in_container(root, image, config, environment,
                                runner or ContainerRunner(docker_client_factory), timeout)
    else:
        python = find_python(target.python_version)
        if python is None:
            return PreflightResult(
                ok=True, functions=(), problems=(),
                runner=f"skipped: no Python {target.python_version} on this machine and no "
                       "container engine")
        runner_name = f"host python{target.python_version} ({python})"
        config = _config(root, _platform_library(python), model, wanted)
        run = _run_on_host(root, python, config, environment, timeout)
    result = _result(runner_name, run, target, timeout, frozenset(left_out))
    return replace(result, problems=tuple(masked(p, settings) for p in result.problems))


def raise_for_preflight(result: PreflightResult) -> None:
    """``BuildError`` (exit 3) with each problem's traceback and the likely fixes."""
    if result.ok:
        return
    details, fixes = [], []
    for problem in result.problems:
        lines = problem.splitlines()
        fixes += [line.strip().removeprefix("fix: ") for line in lines
                  if line.strip().startswith("fix: ")]
        details.append("\n".join(line for line in lines if not line.strip().startswith("fix: ")))
    count = len(result.problems)
    raise BuildError(
        f"the app would fail to load on Azure: {count} problem{'s' * (count != 1)} importing it "
        f"({result.runner}):\n" + "\n".join(details),
        where="preflight import check",
        fix="; ".join(dict.fromkeys(fixes)) or SKIP_HINT)


# -- what to run -------------------------------------------------------------------------------


def _scripts(model: str, scripts: Sequence[str]) -> list[str]:
    """Distinct scripts in order; a v2 app is its function_app.py even when discovery (which
    cannot see blueprints) found no decorated function."""
    wanted = list(dict.fromkeys(PurePosixPath(s).as_posix() for s in scripts))
    if model == "v2" and not wanted:
        wanted = [V2_SCRIPT]
    return wanted


def _config(wwwroot: PurePosixPath | Path, fallback: PurePosixPath | Path, model: str,
            scripts: list[str]) -> str:
    return json.dumps({"wwwroot": str(wwwroot), "fallback": str(fallback), "model": model,
                       "scripts": scripts})


def _platform_library(python: Path) -> Path:
    """azure-functions and its dependencies, as the platform provides them to apps that do not
    install it (the emulator's private copy; never the host's whole site-packages)."""
    return functions_library(python)


def _probe_command(python: str, probe: str, config: str) -> list[str]:
    # -I: no PYTHON* variables, no script folder; -S: no site-packages; -B: no __pycache__
    # written into the app.
    return [python, "-I", "-S", "-B", probe, config]


def _run_on_host(root: Path, python: Path, config: str, environment: Mapping[str, str],
                 timeout: float) -> _Run:
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/"),
           **environment}
    if os.environ.get("TMPDIR"):
        env["TMPDIR"] = os.environ["TMPDIR"]
    # A session of its own, so a timeout kills whatever the app started too.
    with subprocess.Popen(_probe_command(str(python), str(PROBE), config), cwd=root, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            timed_out = True
    return _Run(_parse(out), err.decode("utf-8", "replace"), process.returncode, timed_out)


def _run_in_container(root: Path, image: str, config: str, environment: Mapping[str, str],
                      runner: ContainerRunner, timeout: float) -> _Run:
    library = _platform_library(Path(sys.executable))
    mounts = [Mount(str(WWWROOT), str(root)), Mount(str(PROBE_MOUNT), str(PROBE)),
              Mount(str(PLATFORM_MOUNT), str(library))]
    try:
        outcome = runner.run(ContainerRun(
            image, _probe_command("python", str(PROBE_MOUNT), config), role="preflight",
            doing="running the preflight container", mounts=mounts, environment=environment,
            working_dir=str(WWWROOT), network="none", timeout=timeout))
    except BuildError as error:
        raise BuildError(error.what, where=f"image {short_id(image)}",
                         fix=f"check that the Docker engine works (docker info), or {SKIP_HINT}"
                         ) from None
    return _Run(_parse(outcome.stdout), outcome.stderr.decode("utf-8", "replace"),
                outcome.status, outcome.timed_out)


def _parse(stdout: bytes) -> dict[str, Any] | None:
    try:
        report = json.loads(stdout.decode("utf-8", "replace"))
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


# -- reading the report ------------------------------------------------------------------------


def _result(runner: str, run: _Run, target: Target, timeout: float,
            left_out: frozenset[str] = frozenset()) -> PreflightResult:
    report = run.report
    if report is None:
        return PreflightResult(ok=False, runner=runner, functions=(),
                               problems=(_no_report(run, timeout),))
    version = str(report.get("python", ""))
    if not version.startswith(f"{target.python_version}."):
        problem = (f"{report.get('executable', 'python')}: Python {version}, but the app "
                   f"targets Python {target.python_version}\n  fix: use a build image of "
                   f"Python {target.python_version} (--python-version / --build-image)")
        return PreflightResult(ok=False, runner=runner, functions=(), problems=(problem,))
    network = tuple(str(n) for n in report.get("network", []))
    problems = tuple(_problem(f, target, network, left_out)
                     for f in report.get("failures", []))
    triggers = report.get("triggers", {})
    return PreflightResult(ok=not problems, runner=runner, problems=problems,
                           functions=tuple(str(f) for f in report.get("functions", [])),
                           triggers={str(k): str(v) for k, v in triggers.items()}
                           if isinstance(triggers, dict) else {},
                           network=network)


def _no_report(run: _Run, timeout: float) -> str:
    # importlib's frames only say "an import happened".
    lines = [line for line in run.stderr.splitlines()
             if line.strip() and "<frozen importlib" not in line]
    tail = [redact(line) for line in lines[-STDERR_TAIL_LINES:]]
    if run.timed_out:
        head = f"importing the app did not finish within {timeout:g} s"
        fix = ("move network calls and long work out of module level into the functions, or "
               f"{SKIP_HINT}")
    else:
        head = f"the interpreter ended without a report (exit status {run.status})"
        fix = f"a crash while importing usually means a native extension; {NATIVE_FIX}"
    return "\n".join([head, *(f"    {line}" for line in tail), f"  fix: {fix}"])


def _problem(failure: Mapping[str, Any], target: Target, network: Sequence[str] = (),
             left_out: frozenset[str] = frozenset()) -> str:
    kind = str(failure.get("kind", "other"))
    script = str(failure.get("script", "?"))
    message = str(failure.get("message", ""))
    where = script
    if kind == "syntax":
        where = f"{failure.get('file') or script}:{failure.get('line') or '?'}"
        head = f"SyntaxError: {message}"
    elif kind in ("no_functions", "entry_point"):
        head = message
    else:
        head = f"{failure.get('type', 'Error')}: {message}"
    lines = [f"{where}: {head}"]
    lines += [f"    {line}" for line in failure.get("traceback", []) if line.strip() != head]
    if network:
        lines.append(f"    app code tried the network while being imported: {', '.join(network)}"
                     " (the import check allows none)")
        lines.append(f"  fix: {NETWORK_FIX}")
    elif kind == "missing_module" and str(failure.get("module", "")).split(".")[0] in left_out:
        top = str(failure.get("module", "")).split(".")[0]
        lines.append(f"  fix: {top} is in the project but left out of the package (by "
                     ".funcignore): the app cannot import it on Azure either; stop excluding it")
    else:
        lines.append(f"  fix: {_fix(kind, failure, target)}")
    return redact("\n".join(lines))


def _fix(kind: str, failure: Mapping[str, Any], target: Target) -> str:
    if kind == "missing_module":
        return missing_module_fix(str(failure.get("module", "")), failure.get("located"),
                                   target)
    if kind == "native":
        return NATIVE_FIX
    if kind == "syntax":
        return (f"fix the syntax for Python {target.python_version}, the app's runtime; the "
                "worker cannot import this file")
    if kind == "no_functions":
        return NO_FUNCTIONS_FIX
    if kind == "entry_point":
        return ('set "entryPoint" in function.json to the function to call, or define that '
                "function in the script")
    if kind == "import":
        return ("a dependency differs from the one you develop with: pin the versions you use "
                "in requirements.txt (pip freeze shows them)")
    return (f"the script raised {failure.get('type', 'an exception')} while being imported, and "
            "the worker would fail the same way; if it needs an app setting or service that "
            f"exists only on Azure, read it inside the function, or {SKIP_HINT}")


def missing_module_fix(module: str, located: object, target: Target) -> str:
    """The fix for a module the import check could not find (public: its tests call it)."""
    top = module.split(".")[0]
    if top == "__app__" or located == "app":
        inside = module.removeprefix("__app__.")
        return (f"the app has no module {inside}: check the import, and that the file is not "
                "left out by .funcignore")
    if top in _NAMESPACES and "." in module:
        return (f"add the package that provides {module} (e.g. {module.replace('.', '-')}) to "
                "requirements.txt")
    if located == "packages":
        return (f"{top} is installed but has no module {module}: pin the version you develop "
                "with in requirements.txt")
    removed = _REMOVED_STDLIB.get(top)
    if removed is not None and target.python >= removed:
        return (f"{top} is not in the standard library since Python {removed[0]}.{removed[1]}: "
                "use its replacement, or add a backport that provides it to requirements.txt")
    return _distribution_fix(top)


def _distribution_fix(top: str) -> str:
    """Name the distribution to add, or say why none can be added on Linux."""
    if top in module_hints.WINDOWS_STDLIB:
        return (f"{top} is in the standard library only on Windows, and the app runs on Linux: "
                'import it only on Windows (if sys.platform == "win32")')
    distribution = module_hints.distribution_for(top)
    if distribution and module_hints.is_windows_only(distribution):
        marked = module_hints.with_windows_marker(distribution)
        return (f"{top} comes from {distribution}, which exists only for Windows, and the app "
                'runs on Linux: import it only on Windows (if sys.platform == "win32"), and '
                f"list it as '{marked}' in requirements.txt")
    if distribution:
        return f"add {distribution} to requirements.txt (it provides the module {top})"
    return f"add {top} to requirements.txt"
