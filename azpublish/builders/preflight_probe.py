"""The preflight probe: imports a function app the way the Azure Python worker does, and reports.

Run by ``azpublish.builders.preflight`` in the target's interpreter (in a container, or a host
interpreter of the same version) as ``python -I -S -B preflight_probe.py CONFIG_JSON``: isolated
and without ``site``, so the app sees only what the worker gives it. ``sys.path`` becomes
wwwroot, ``wwwroot/.python_packages/lib/site-packages``, the standard library, then the
platform's ``azure-functions`` (for apps that did not install it).

Only the standard library is imported here, and the code runs on every Python the Functions
runtime supports. The report is one JSON document on stdout; whatever the app prints goes to
stderr (file descriptor 1 is redirected there before any app code runs).
"""

from __future__ import annotations

import errno
import faulthandler
import importlib
import importlib.util
import json
import os
import re
import sys
import traceback
import types
from pathlib import Path
from typing import IO, Any

SITE_PACKAGES = Path(".python_packages", "lib", "site-packages")
MAX_FRAMES = 8  # the innermost app and library frames; the rest is noise
# Messages of an ImportError raised by the dynamic loader (or by a package that wraps one).
_NATIVE_SIGNS = re.compile(
    r"\.so\b|shared object|undefined symbol|ELF|GLIBC_|dynamic module does not define|"
    r"incompatible architecture|mach-o|DLL load failed", re.IGNORECASE)
# Frames that only say "an import happened": importlib's machinery (and this probe's own).
_NOISE_FILES = re.compile(r"^<frozen importlib|[/\\]importlib[/\\]__init__\.py$")


def claim_stdout() -> IO[str]:
    """Keep the real stdout for the report; send fd 1 (and sys.stdout) to stderr."""
    report = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return report


def set_sys_path(wwwroot: Path, fallback: str | None) -> None:
    stdlib = [p for p in sys.path if "site-packages" not in p and "dist-packages" not in p]
    sys.path[:] = [str(wwwroot), str(wwwroot / SITE_PACKAGES), *stdlib]
    if fallback:
        sys.path.append(fallback)


def install_app_package(wwwroot: Path) -> None:
    """``__app__``: the package the worker imports v1 scripts from, so relative imports work."""
    if "__app__" not in sys.modules:
        package = types.ModuleType("__app__")
        package.__path__ = [str(wwwroot)]
        sys.modules["__app__"] = package


def v1_module_name(script: str) -> str:
    """``HttpTrigger/__init__.py`` -> ``__app__.HttpTrigger``, as the worker names it."""
    parts = list(Path(script).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["__app__", *parts])


def v1_entry_points(wwwroot: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Script -> [(function name, entry point, trigger type)] from every ``*/function.json``."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for config_path in sorted(wwwroot.glob("*/function.json")):
        try:
            config = json.loads(config_path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            continue  # discovery already rejected broken configs; never the probe's concern
        if not isinstance(config, dict):
            continue
        folder = config_path.parent.name
        script = os.path.normpath(Path(folder, config.get("scriptFile") or "__init__.py"))
        entry = config.get("entryPoint") or "main"
        found.setdefault(Path(script).as_posix(), []).append(
            (folder, str(entry), v1_trigger(config)))
    return found


def v1_trigger(config: dict[str, Any]) -> str:
    bindings = config.get("bindings")
    for binding in bindings if isinstance(bindings, list) else []:
        kind = binding.get("type") if isinstance(binding, dict) else None
        if isinstance(kind, str) and kind.lower().endswith("trigger"):
            return kind
    return ""


def forbid_network(report: dict[str, Any]) -> None:
    """Refuse every connection and name lookup from here on, and note what was tried: the
    container runner has no network at all, and the host runner must behave the same."""
    tried: list[str] = report["network"]

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect":
            address = args[1]
            where = (f"{address[0]}:{address[1]}" if isinstance(address, tuple)
                     and len(address) >= 2 else str(address))
        elif event == "socket.getaddrinfo":
            where = f"{args[0]}:{args[1]}" if args[1] else str(args[0])
        elif event in ("socket.gethostbyname", "socket.gethostbyaddr"):
            where = str(args[0])
        else:
            return
        if where not in tried and len(tried) < 5:
            tried.append(where)
        raise OSError(errno.ENETUNREACH, f"no network during the import check ({where})")

    sys.addaudithook(hook)


def top_level_location(name: str, wwwroot: Path, fallback: str | None) -> str | None:
    """Where the top-level package of ``name`` is: "app", "packages", "platform" (the fallback
    azure-functions), "stdlib", or None when nothing provides it."""
    top = name.split(".")[0]
    if top == "__app__":
        return "app"
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    places = [spec.origin or "", *(spec.submodule_search_locations or [])]
    packages = str(wwwroot / SITE_PACKAGES)
    if any(p.startswith(packages) for p in places):
        return "packages"
    if any(p.startswith(str(wwwroot)) for p in places):
        return "app"
    if fallback and any(p.startswith(fallback) for p in places):
        return "platform"
    return "stdlib"


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _native_message(error: BaseException) -> str | None:
    for link in _chain(error):
        if isinstance(link, ImportError) and not isinstance(link, ModuleNotFoundError):
            path = getattr(link, "path", None) or ""
            if _NATIVE_SIGNS.search(str(link)) or path.endswith((".so", ".pyd")):
                return str(link)
    return None


def _relative(text: str, wwwroot: Path) -> str:
    return text.replace(str(wwwroot) + os.sep, "")


def essential_traceback(error: BaseException, wwwroot: Path) -> list[str]:
    """The app's and libraries' frames (innermost last) and the exception, paths made relative."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if f.filename != __file__ and not _NOISE_FILES.search(f.filename)][-MAX_FRAMES:]
    lines = []
    for frame in frames:
        lines.append(f'File "{_relative(frame.filename, wwwroot)}", line {frame.lineno}, '
                     f"in {frame.name}")
        if frame.line:
            lines.append(f"  {frame.line.strip()}")
    lines += [_relative(line.rstrip("\n"), wwwroot)
              for part in traceback.format_exception_only(type(error), error)
              for line in part.splitlines()]
    return lines


def describe_failure(script: str, error: BaseException, wwwroot: Path,
                     fallback: str | None) -> dict[str, Any]:
    failure: dict[str, Any] = {
        "script": script, "kind": "other", "type": type(error).__name__,
        "message": _relative(str(error), wwwroot),
        "traceback": essential_traceback(error, wwwroot),
    }
    if isinstance(error, ModuleNotFoundError) and error.name:
        failure["kind"] = "missing_module"
        failure["module"] = error.name
        failure["located"] = top_level_location(error.name, wwwroot, fallback)
    elif isinstance(error, SyntaxError):
        failure["kind"] = "syntax"
        failure["file"] = _relative(error.filename or script, wwwroot)
        failure["line"] = error.lineno
        failure["message"] = error.msg
    elif (native := _native_message(error)) is not None:
        failure["kind"] = "native"
        failure["message"] = _relative(native, wwwroot)
    elif isinstance(error, ImportError):
        failure["kind"] = "import"
    return failure


def probe_v1(wwwroot: Path, fallback: str | None, scripts: list[str],
             report: dict[str, Any]) -> None:
    install_app_package(wwwroot)
    entry_points = v1_entry_points(wwwroot)
    for script in scripts:
        try:
            module = importlib.import_module(v1_module_name(script))
        except BaseException as error:  # SystemExit and KeyboardInterrupt in app code too
            report["failures"].append(describe_failure(script, error, wwwroot, fallback))
            continue
        for name, entry, trigger in entry_points.get(script, [(Path(script).parts[0], "main",
                                                               "")]):
            if callable(getattr(module, entry, None)):
                report["functions"].append(name)
                report["triggers"][name] = trigger
            else:
                report["failures"].append({
                    "script": script, "kind": "entry_point", "function": name,
                    "message": f"entry point {entry!r} of function {name} is not a function "
                               f"in {script}", "traceback": []})


def find_function_app(module: types.ModuleType) -> Any:
    """The one FunctionApp/FunctionRegister at the script's top level (the worker's rule)."""
    functions_library = importlib.import_module("azure.functions")
    register = getattr(functions_library, "FunctionRegister", None) or getattr(
        functions_library, "FunctionApp", None)
    if register is None:
        return None
    apps = {id(v): v for v in vars(module).values() if isinstance(v, register)}
    if len(apps) > 1:
        raise ValueError("More than one FunctionApp or other top level function app instance "
                         "is defined; the worker accepts exactly one")
    return next(iter(apps.values()), None)


def probe_v2(wwwroot: Path, fallback: str | None, scripts: list[str],
             report: dict[str, Any]) -> None:
    script = scripts[0] if scripts else "function_app.py"
    try:
        module = importlib.import_module(Path(script).stem)
        app = find_function_app(module)
        functions = list(app.get_functions()) if app is not None else []
    except BaseException as error:
        report["failures"].append(describe_failure(script, error, wwwroot, fallback))
        return
    if app is None:
        report["failures"].append({
            "script": script, "kind": "no_functions", "traceback": [],
            "message": f"no FunctionApp instance at the top level of {script}"})
        return
    if not functions:
        report["failures"].append({
            "script": script, "kind": "no_functions", "traceback": [],
            "message": f"the FunctionApp in {script} has no functions"})
        return
    report["functions"] = [str(f.get_function_name()) for f in functions]
    report["triggers"] = {str(f.get_function_name()): v2_trigger(f) for f in functions}


def v2_trigger(function: Any) -> str:
    """The trigger binding's type of a registered function ("" when the library hides it)."""
    try:
        kind = function.get_trigger().type
    except Exception:  # an older or newer azure-functions: the name is what matters
        return ""
    return kind if isinstance(kind, str) else ""


def main(argv: list[str]) -> int:
    report_stream = claim_stdout()
    faulthandler.enable()  # a crash in native code still leaves the Python stack on stderr
    config = json.loads(argv[1])
    wwwroot = Path(config["wwwroot"])
    fallback = config.get("fallback") or None
    set_sys_path(wwwroot, fallback)
    os.chdir(wwwroot)
    report: dict[str, Any] = {
        "python": ".".join(str(n) for n in sys.version_info[:3]), "executable": sys.executable,
        "functions": [], "failures": [], "triggers": {}, "network": [],
    }
    forbid_network(report)
    scripts = [Path(os.path.normpath(s)).as_posix() for s in config.get("scripts", [])]
    if config["model"] == "v1":
        probe_v1(wwwroot, fallback, scripts, report)
    else:
        probe_v2(wwwroot, fallback, scripts, report)
    json.dump(report, report_stream)
    report_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
