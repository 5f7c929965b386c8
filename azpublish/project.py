"""Discover a function app: its root, programming model, functions and requirements.

Nothing here writes; every problem is a ``ProjectError`` naming the file (and line when there
is one) and the fix.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from azpublish.errors import ProjectError
from azpublish.local_settings import read_local_settings
from azpublish.requirements import PLATFORM_OWNED, Requirements, read_requirements

Model = Literal["v1", "v2"]
V2_SCRIPT = "function_app.py"


@dataclass(frozen=True)
class Function:
    name: str
    trigger: str
    script: str  # archive path of the script, relative to the root
    entry_point: str
    config: Path | None  # function.json for model v1


@dataclass(frozen=True)
class Project:
    root: Path
    model: Model
    functions: tuple[Function, ...]
    requirements: Requirements
    warnings: tuple[str, ...]


def find_root(start: Path | None, cwd: Path | None = None) -> Path:
    """The folder holding host.json: ``start`` itself, or the nearest one up from the cwd."""
    if start is not None:
        root = (cwd or Path.cwd()) / start
        if not root.is_dir():
            raise ProjectError("no such folder", where=str(start),
                               fix="pass the function app's folder with --project-dir")
        if not (root / "host.json").is_file():
            raise ProjectError("no host.json here: this is not a function app's root",
                               where=str(start),
                               fix=_point_at_apps(root, "point --project-dir at the folder that "
                                                  "holds host.json"))
        return root.resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "host.json").is_file():
            return folder
    raise ProjectError("no host.json in this folder or any folder above it", where=str(here),
                       fix=_point_at_apps(here, "run azpublish inside the function app, or "
                                          "pass --project-dir DIR"))


APPS_SHOWN = 5  # function apps named in the hint when a monorepo's root is given
_NOT_SEARCHED = {".git", ".venv", "venv", "node_modules", ".python_packages", "__pycache__"}


def apps_below(folder: Path, depth: int = 3) -> list[Path]:
    """Folders below ``folder`` (at most ``depth`` levels, skipping environments and VCS data)
    that hold a host.json: the function apps of a monorepo."""
    found: list[Path] = []
    level = [folder]
    for _ in range(depth):
        children = []
        for parent in level:
            try:
                entries = sorted(parent.iterdir())
            except OSError:
                continue
            children += [e for e in entries if e.is_dir() and not e.is_symlink()
                         and e.name not in _NOT_SEARCHED]
        found += [c for c in children if (c / "host.json").is_file()]
        level = children
    return sorted(found)


def _point_at_apps(folder: Path, otherwise: str) -> str:
    """The fix: name the function apps below ``folder`` (a monorepo's root), if any."""
    apps = [a.relative_to(folder).as_posix() for a in apps_below(folder)]
    if not apps:
        return otherwise
    more = f" and {len(apps) - APPS_SHOWN} more" if len(apps) > APPS_SHOWN else ""
    return (f"function apps below this folder: {', '.join(apps[:APPS_SHOWN])}{more}; pass "
            f"one with --project-dir (e.g. --project-dir {folder / apps[0]})")


def discover(root: Path) -> Project:
    warnings: list[str] = []
    check_host_json(root / "host.json")
    check_local_settings(root, warnings)
    requirements = read_requirements(root / "requirements.txt")
    for line in requirements.left_out:
        warnings.append(f"{line.file}:{line.lineno}: {line.name} is left out of the build: "
                        f"{PLATFORM_OWNED[str(line.name)]}; remove the line")

    v1 = v1_functions(root)
    has_v2 = (root / V2_SCRIPT).is_file()
    if v1 and has_v2:
        raise ProjectError(
            f"both {V2_SCRIPT} (model v2) and function.json folders (model v1) are present",
            where=str(root),
            fix="one app uses one programming model: remove the function.json folders or "
            f"{V2_SCRIPT}")
    if has_v2:
        return Project(root, "v2", v2_functions(root / V2_SCRIPT), requirements, tuple(warnings))
    if not v1:
        raise ProjectError(
            f"no functions found: no {V2_SCRIPT} and no folder with a function.json",
            where=str(root),
            fix=f"add {V2_SCRIPT} (model v2) or one folder per function with function.json")
    return Project(root, "v1", v1, requirements, tuple(warnings))


def load_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ProjectError(f"{what} is not UTF-8 text", where=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{what} is not valid JSON: {exc.msg}",
                           where=f"{path}:{exc.lineno}:{exc.colno}",
                           fix="fix the JSON syntax (a trailing comma? a missing quote?)"
                           ) from None


def check_host_json(path: Path) -> None:
    data = load_json(path, "host.json")
    if not isinstance(data, dict):
        raise ProjectError("host.json must hold a JSON object", where=str(path))
    if data.get("version") != "2.0":
        raise ProjectError(f"host.json has version {data.get('version')!r}; Functions v4 needs "
                           '"2.0"', where=str(path), fix='set "version": "2.0"')


def check_local_settings(root: Path, warnings: list[str]) -> None:
    settings = read_local_settings(root)
    if settings is None:
        return
    if settings.problem is not None:
        warnings.append(f"{settings.path}: {settings.problem} (it is never published, so only "
                        "a warning; the import check runs without its Values)")
        return
    runtime = settings.values.get("FUNCTIONS_WORKER_RUNTIME")
    if runtime is not None and runtime.lower() != "python":
        raise ProjectError(f"FUNCTIONS_WORKER_RUNTIME is {runtime!r}, not 'python'",
                           where=str(settings.path),
                           fix='this is not a Python app; set "FUNCTIONS_WORKER_RUNTIME": '
                           '"python" if it is')


def v1_functions(root: Path) -> tuple[Function, ...]:
    functions = []
    for config in sorted(root.glob("*/function.json")):
        functions.append(v1_function(root, config))
    return tuple(functions)


def v1_function(root: Path, config: Path) -> Function:
    data = load_json(config, "function.json")
    if not isinstance(data, dict):
        raise ProjectError("function.json must hold a JSON object", where=str(config))
    bindings = data.get("bindings", [])
    if not isinstance(bindings, list) or not all(isinstance(b, dict) for b in bindings):
        raise ProjectError('"bindings" must be a list of objects', where=str(config))
    script_name = data.get("scriptFile", "__init__.py")
    entry_point = data.get("entryPoint", "main")
    if not isinstance(script_name, str) or not isinstance(entry_point, str):
        raise ProjectError('"scriptFile" and "entryPoint" must be strings', where=str(config))
    script = (config.parent / script_name).resolve()
    if not script.is_relative_to(root):
        raise ProjectError(f"scriptFile {script_name!r} points outside the app", where=str(config),
                           fix="keep function scripts inside the folder that holds host.json")
    if not script.is_file():
        raise ProjectError(f"scriptFile {script_name!r} does not exist", where=str(config),
                           fix=f"create {script.relative_to(root).as_posix()} or fix "
                           '"scriptFile"')
    names, star = top_level_names(script)
    if entry_point not in names and not star:
        raise ProjectError(f"entryPoint {entry_point!r} is not defined in {script_name}",
                           where=str(config),
                           fix=f"define `{entry_point}` in the script (a function, or e.g. "
                           f"`{entry_point} = df.Orchestrator.create(...)`, or import it) "
                           'or fix "entryPoint"')
    trigger = next((str(b.get("type")) for b in bindings
                    if str(b.get("type", "")).endswith("Trigger")), "")
    if not trigger:
        raise ProjectError("no trigger binding (a binding whose type ends in 'Trigger')",
                           where=str(config), fix="add a trigger such as httpTrigger")
    return Function(config.parent.name, trigger, script.relative_to(root).as_posix(),
                    entry_point, config)


def parse_python(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise ProjectError(f"syntax error: {exc.msg}", where=f"{path}:{exc.lineno}",
                           fix="fix the syntax; the host cannot load this file") from None
    except ValueError as exc:  # NUL bytes
        raise ProjectError(f"not a Python source file: {exc}", where=str(path)) from None


def top_level_names(path: Path) -> tuple[set[str], bool]:
    """The names a script binds at module level, and whether it star-imports more.

    The worker takes the entry point as any attribute of the module, so ``main`` may be a
    function, ``main = df.Orchestrator.create(...)``, or an import; whether it is callable is
    the import check's question (it runs the module), not the parser's.
    """
    names: set[str] = set()
    star = False

    def visit(statements: list[ast.stmt]) -> None:
        nonlocal star
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)  # its body binds names of its own scope, not ours
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    star = star or alias.name == "*"
                    names.add(alias.asname or alias.name.split(".")[0])
                continue
            blocks = [getattr(node, f, []) for f in ("body", "orelse", "finalbody")]
            blocks += [h.body for h in getattr(node, "handlers", [])]
            blocks += [c.body for c in getattr(node, "cases", [])]
            if any(blocks):  # if/try/with/for/while/match: their bodies run at module level
                for block in blocks:
                    visit(block)
                names.update(t.id for t in _header_targets(node))
            else:  # a simple statement: assignments, walrus targets
                names.update(child.id for child in ast.walk(node)
                             if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store))

    visit(parse_python(path).body)
    return names, star


def _header_targets(node: ast.stmt) -> list[ast.Name]:
    """Names a compound statement's own header binds (``for x in``, ``with ... as x``)."""
    heads: list[ast.AST] = []
    if isinstance(node, (ast.For, ast.AsyncFor)):
        heads.append(node.target)
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        heads += [item.optional_vars for item in node.items if item.optional_vars]
    elif isinstance(node, ast.Try):
        return [ast.Name(id=h.name, ctx=ast.Store()) for h in node.handlers if h.name]
    return [n for head in heads for n in ast.walk(head)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]


def v2_functions(script: Path) -> tuple[Function, ...]:
    """Functions decorated in function_app.py, as far as reading it (not running it) shows.

    Blueprints registered from other modules are found only by the host at run time, so an
    empty result here is not an error.
    """
    functions = []
    for node in parse_python(script).body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        trigger = ""
        name = node.name
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            attr = (call.func if call else decorator)
            if not isinstance(attr, ast.Attribute):
                continue
            if attr.attr == "function_name" and call and call.args:
                arg = call.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    name = arg.value
            elif attr.attr == "route":
                trigger = "httpTrigger"
            elif attr.attr.endswith("_trigger"):
                head = attr.attr.removesuffix("_trigger")
                trigger = "".join(
                    p if i == 0 else p.capitalize() for i, p in enumerate(head.split("_"))
                ) + "Trigger"
        if trigger:
            functions.append(Function(name, trigger, V2_SCRIPT, node.name, None))
    return tuple(functions)
