"""The preflight import check with the machine's own interpreters (pyenv 3.11 and 3.12)."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from azpublish.builders.preflight import (
    NATIVE_FIX,
    NO_FUNCTIONS_FIX,
    PreflightResult,
    raise_for_preflight,
    run_preflight,
)
from azpublish.errors import BuildError, ExitCode
from azpublish.runtime import Target, find_python
from tests.binaries import compile_shared_library

PROJECTS = Path(__file__).parents[1] / "projects"
SITE_PACKAGES = ".python_packages/lib/site-packages"
HOST_JSON = '{"version": "2.0"}'
FUNCTION_JSON = json.dumps({"bindings": [
    {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous"},
    {"type": "http", "direction": "out", "name": "$return"}]})
V2_HEADER = "import azure.functions as func\napp = func.FunctionApp()\n"
V2_FUNCTION = '\n@app.route(route="ping")\ndef ping(req):\n    return "pong"\n'


def _python(version: str) -> Path:
    found = find_python(version)
    if found is None:
        pytest.skip(f"no Python {version} on this machine (pyenv install {version})")
    return found


def _app(root: Path, files: Mapping[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "host.json").write_text(HOST_JSON)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def _v2(root: Path, code: str, version: str = "3.11", timeout: float = 120.0
        ) -> PreflightResult:
    _python(version)
    _app(root, {"function_app.py": code})
    return run_preflight(root, "v2", ["function_app.py"], Target(version), timeout=timeout)


def _only_problem(result: PreflightResult) -> str:
    assert not result.ok
    assert len(result.problems) == 1, result.problems
    return result.problems[0]


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_a_v2_app_passes_and_its_functions_are_indexed(tmp_path: Path, version: str) -> None:
    python = _python(version)
    root = tmp_path / "app"
    shutil.copytree(PROJECTS / "v2-http", root)

    result = run_preflight(root, "v2", ["function_app.py"], Target(version))

    assert result.ok, result.problems
    assert result.functions == ("hello", "nightly")
    assert result.runner == f"host python{version} ({python})"
    raise_for_preflight(result)  # nothing to raise
    # -B: the check leaves no bytecode behind in the app (it would be packaged otherwise).
    assert not list(root.rglob("__pycache__"))


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_a_missing_module_is_named_with_the_fix(tmp_path: Path, version: str) -> None:
    code = V2_HEADER + "import azp_not_installed.sub\n" + V2_FUNCTION

    result = _v2(tmp_path, code, version)

    problem = _only_problem(result)
    assert problem.startswith(
        "function_app.py: ModuleNotFoundError: No module named 'azp_not_installed'")
    assert 'File "function_app.py", line 3, in <module>' in problem
    assert "fix: add azp_not_installed to requirements.txt" in problem
    with pytest.raises(BuildError) as raised:
        raise_for_preflight(result)
    assert raised.value.exit_code == ExitCode.BUILD
    assert "azp_not_installed" in raised.value.what
    assert raised.value.fix == "add azp_not_installed to requirements.txt"


def test_the_apps_python_packages_are_importable(tmp_path: Path) -> None:
    _app(tmp_path, {f"{SITE_PACKAGES}/azp_installed/__init__.py": "VALUE = 42\n"})
    code = V2_HEADER + "from azp_installed import VALUE\nassert VALUE == 42\n" + V2_FUNCTION

    result = _v2(tmp_path, code)

    assert result.ok, result.problems
    assert result.functions == ("ping",)


def test_the_interpreters_own_site_packages_are_not_visible(tmp_path: Path) -> None:
    # pip is in every interpreter's site-packages, and in no app that did not install it.
    result = _v2(tmp_path, V2_HEADER + "import pip\n" + V2_FUNCTION)

    assert "No module named 'pip'" in _only_problem(result)


def test_a_distribution_named_unlike_its_module_is_suggested(tmp_path: Path) -> None:
    result = _v2(tmp_path, V2_HEADER + "import yaml\n" + V2_FUNCTION)

    assert "fix: add PyYAML to requirements.txt (it provides the module yaml)" in \
        _only_problem(result)


def test_a_submodule_missing_from_an_installed_package_asks_for_its_version(
        tmp_path: Path) -> None:
    _app(tmp_path, {f"{SITE_PACKAGES}/azp_lib/__init__.py": ""})

    result = _v2(tmp_path, V2_HEADER + "import azp_lib.newer_api\n" + V2_FUNCTION)

    assert ("fix: azp_lib is installed but has no module azp_lib.newer_api: pin the version"
            in _only_problem(result))


def test_a_module_removed_from_the_standard_library_is_explained(tmp_path: Path) -> None:
    result = _v2(tmp_path, V2_HEADER + "import imp\n" + V2_FUNCTION, "3.12")

    assert "imp is not in the standard library since Python 3.12" in _only_problem(result)


def test_v1_a_syntax_error_names_file_and_line_and_other_functions_still_load(
        tmp_path: Path) -> None:
    _python("3.11")
    _app(tmp_path, {
        "Good/function.json": FUNCTION_JSON,
        "Good/__init__.py": "from ..shared import helper\n\ndef main(req):\n    return helper()\n",
        "shared/__init__.py": "def helper():\n    return 'ok'\n",
        "Broken/function.json": FUNCTION_JSON,
        "Broken/__init__.py": "import azure.functions as func\n\ndef main(req:\n    pass\n",
    })

    result = run_preflight(tmp_path, "v1", ["Broken/__init__.py", "Good/__init__.py"],
                           Target("3.11"))

    problem = _only_problem(result)
    assert problem.startswith("Broken/__init__.py:3: SyntaxError: ")
    assert "fix: fix the syntax for Python 3.11" in problem
    assert result.functions == ("Good",)  # the relative import into __app__ worked


def test_v1_a_missing_entry_point_is_reported(tmp_path: Path) -> None:
    _python("3.11")
    config = json.loads(FUNCTION_JSON) | {"scriptFile": "run.py", "entryPoint": "handle"}
    _app(tmp_path, {"Job/function.json": json.dumps(config),
                    "Job/run.py": "def main(req):\n    return 1\n"})

    result = run_preflight(tmp_path, "v1", ["Job/run.py"], Target("3.11"))

    problem = _only_problem(result)
    assert problem.startswith("Job/run.py: entry point 'handle' of function Job")
    assert 'fix: set "entryPoint"' in problem


def test_v2_without_a_decorated_function_is_a_problem(tmp_path: Path) -> None:
    result = _v2(tmp_path, V2_HEADER + "\ndef not_registered(req):\n    return 1\n")

    problem = _only_problem(result)
    assert problem.startswith("function_app.py: the FunctionApp in function_app.py has no")
    assert f"fix: {NO_FUNCTIONS_FIX}" in problem
    assert result.functions == ()


def test_v2_without_a_function_app_is_a_problem(tmp_path: Path) -> None:
    result = _v2(tmp_path, "import azure.functions as func\nsomething = object()\n")

    assert f"fix: {NO_FUNCTIONS_FIX}" in _only_problem(result)


def test_v2_scripts_default_to_function_app_when_discovery_found_none(tmp_path: Path) -> None:
    # Discovery reads decorators statically and misses blueprints: it passes no scripts.
    _python("3.11")
    _app(tmp_path, {
        "function_app.py": V2_HEADER + "from blueprint import bp\napp.register_blueprint(bp)\n",
        "blueprint.py": 'import azure.functions as func\nbp = func.Blueprint()\n'
                        '@bp.route(route="bp")\ndef from_blueprint(req):\n    return "bp"\n'})

    result = run_preflight(tmp_path, "v2", [], Target("3.11"))

    assert result.ok, result.problems
    assert result.functions == ("from_blueprint",)


def test_output_printed_at_import_time_does_not_disturb_the_report(tmp_path: Path) -> None:
    code = V2_HEADER + "import os\nprint('{not json')\nos.write(1, b'raw fd 1\\n')\n" + V2_FUNCTION

    result = _v2(tmp_path, code)

    assert result.ok, result.problems
    assert result.functions == ("ping",)


def test_an_exception_at_import_time_is_reported_with_its_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's environment does not reach the app: a setting only Azure has is missing.
    monkeypatch.setenv("AZP_ONLY_ON_AZURE", "set on this host")
    _app(tmp_path, {"settings.py": "import os\n\ndef load():\n"
                                   "    return os.environ['AZP_ONLY_ON_AZURE']\n"})
    code = V2_HEADER + "import settings\nVALUE = settings.load()\n" + V2_FUNCTION

    result = _v2(tmp_path, code)

    problem = _only_problem(result)
    assert problem.startswith("function_app.py: KeyError: 'AZP_ONLY_ON_AZURE'")
    assert 'File "settings.py", line 4, in load' in problem
    assert "--no-preflight" in problem


def test_an_extension_needing_a_missing_shared_library_is_a_native_problem(
        tmp_path: Path) -> None:
    # A real ELF extension module linked against a library the runtime does not have.
    libraries = tmp_path / "build"
    compile_shared_library(libraries / "libazpgone.so", "int azp_gone(void) { return 1; }\n")
    compile_shared_library(
        tmp_path / "app" / SITE_PACKAGES / "azp_native.cpython-311-x86_64-linux-gnu.so",
        "int azp_gone(void);\nvoid *PyInit_azp_native(void) { azp_gone(); return 0; }\n",
        f"-L{libraries}", "-lazpgone")

    result = _v2(tmp_path / "app", V2_HEADER + "import azp_native\n" + V2_FUNCTION)

    problem = _only_problem(result)
    assert "libazpgone.so: cannot open shared object file" in problem
    assert f"fix: {NATIVE_FIX}" in problem


def test_a_hanging_import_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    result = _v2(tmp_path, V2_HEADER + "import time\ntime.sleep(60)\n" + V2_FUNCTION,
                 timeout=1.0)

    problem = _only_problem(result)
    assert problem.startswith("importing the app did not finish within 1 s")


def test_without_an_interpreter_of_the_version_the_check_is_skipped(tmp_path: Path) -> None:
    _app(tmp_path, {"function_app.py": "raise SystemExit('never run')\n"})

    result = run_preflight(tmp_path, "v2", ["function_app.py"], Target("3.99"))

    assert result == PreflightResult(
        ok=True, runner="skipped: no Python 3.99 on this machine and no container engine",
        functions=(), problems=())


def test_a_crash_while_importing_is_reported(tmp_path: Path) -> None:
    code = V2_HEADER + "import ctypes\nctypes.string_at(0)\n" + V2_FUNCTION

    result = _v2(tmp_path, code)

    problem = _only_problem(result)
    assert problem.startswith("the interpreter ended without a report (exit status -11)")
    assert "Fatal Python error: Segmentation fault" in problem  # its stderr is kept
    assert NATIVE_FIX in problem
