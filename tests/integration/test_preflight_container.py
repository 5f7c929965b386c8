"""The preflight import check in real containers of the build images (3.11 and 3.13)."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pytest

from azpublish.builders.container import ContainerEngine
from azpublish.builders.preflight import (
    NATIVE_FIX,
    PreflightResult,
    raise_for_preflight,
    run_preflight,
)
from azpublish.errors import BuildError, ExitCode
from azpublish.runtime import Target
from tests.binaries import compile_shared_library
from tests.integration.docker_support import container_engines, docker_client  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.docker]

PROJECTS = Path(__file__).parents[1] / "projects"
SITE_PACKAGES = ".python_packages/lib/site-packages"
FUNCTION_JSON = json.dumps({"bindings": [
    {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous"},
    {"type": "http", "direction": "out", "name": "$return"}]})


def _app(root: Path, files: Mapping[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "host.json").write_text('{"version": "2.0"}')
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def _v1_app(root: Path, functions: Mapping[str, str]) -> Path:
    files = {}
    for name, code in functions.items():
        files[f"{name}/function.json"] = FUNCTION_JSON
        files[f"{name}/__init__.py"] = code
    return _app(root, files)


def _check(root: Path, engines: dict[str, ContainerEngine], client: Any, version: str = "3.11",
           model: Literal["v1", "v2"] = "v1", target: str | None = None) -> PreflightResult:
    image = engines[version].ensure_image(Target(version))
    scripts = (sorted(f"{c.parent.name}/__init__.py" for c in root.glob("*/function.json"))
               if model == "v1" else ["function_app.py"])
    return run_preflight(root, model, scripts,
                         Target(target or version), image=image,
                         docker_client_factory=lambda: client)


@pytest.mark.parametrize("version", ["3.11", "3.13"])
def test_a_v2_app_passes_in_the_targets_container(
        tmp_path: Path, container_engines: dict[str, ContainerEngine],  # noqa: F811
        docker_client: Any, version: str) -> None:  # noqa: F811
    root = tmp_path / "app"
    shutil.copytree(PROJECTS / "v2-http", root)
    image = container_engines[version].ensure_image(Target(version))

    result = _check(root, container_engines, docker_client, version, model="v2")

    assert result.ok, result.problems
    assert result.functions == ("hello", "nightly")
    assert result.runner == f"container {image.removeprefix('sha256:')[:12]}"
    # The container is removed afterwards.
    assert not docker_client.containers.list(all=True,
                                             filters={"label": "org.azpublish.role=preflight"})


def test_a_missing_module_stops_the_publish(
        tmp_path: Path, container_engines: dict[str, ContainerEngine],  # noqa: F811
        docker_client: Any) -> None:  # noqa: F811
    _app(tmp_path, {"function_app.py": """\
        import azure.functions as func
        import azp_not_installed
        app = func.FunctionApp()
        """})

    result = _check(tmp_path, container_engines, docker_client, model="v2")

    assert not result.ok
    (problem,) = result.problems
    assert problem.startswith(
        "function_app.py: ModuleNotFoundError: No module named 'azp_not_installed'")
    with pytest.raises(BuildError) as raised:
        raise_for_preflight(result)
    assert raised.value.exit_code == ExitCode.BUILD
    assert raised.value.fix == "add azp_not_installed to requirements.txt"


def test_the_build_images_own_packages_are_not_visible(
        tmp_path: Path, container_engines: dict[str, ContainerEngine],  # noqa: F811
        docker_client: Any) -> None:  # noqa: F811
    # pip and uv are installed in the image's venv; the Azure runtime has neither for the app.
    _v1_app(tmp_path, {"UsesPip": "import pip\n\ndef main(req):\n    return 1\n",
                       "UsesUv": "import uv\n\ndef main(req):\n    return 1\n"})

    result = _check(tmp_path, container_engines, docker_client)

    assert [p.splitlines()[0] for p in result.problems] == [
        "UsesPip/__init__.py: ModuleNotFoundError: No module named 'pip'",
        "UsesUv/__init__.py: ModuleNotFoundError: No module named 'uv'"]


def test_a_function_file_with_an_import_error_is_caught_and_others_load(
        tmp_path: Path, container_engines: dict[str, ContainerEngine],  # noqa: F811
        docker_client: Any) -> None:  # noqa: F811
    _app(tmp_path, {f"{SITE_PACKAGES}/azp_lib/__init__.py": "OLD_NAME = 1\n",
                    "shared/__init__.py": "def helper():\n    return 'ok'\n"})
    _v1_app(tmp_path, {
        "Broken": "from azp_lib import NEW_NAME\n\ndef main(req):\n    return NEW_NAME\n",
        "Works": "from azp_lib import OLD_NAME\nfrom ..shared import helper\n\n"
                 "def main(req):\n    return helper()\n",
        "Syntax": "def main(req):\n    return (\n"})

    result = _check(tmp_path, container_engines, docker_client)

    assert result.functions == ("Works",)
    broken, syntax = result.problems
    assert broken.startswith("Broken/__init__.py: ImportError: cannot import name 'NEW_NAME' "
                             "from 'azp_lib' (.python_packages/lib/site-packages/azp_lib/")
    assert "fix: a dependency differs from the one you develop with" in broken
    assert syntax.startswith("Syntax/__init__.py:2: SyntaxError: ")


def test_native_extensions_that_cannot_load_are_native_problems(
        tmp_path: Path, container_engines: dict[str, ContainerEngine],  # noqa: F811
        docker_client: Any) -> None:  # noqa: F811
    packages = tmp_path / "app" / SITE_PACKAGES
    # Built against Python 3.12's C API (PyErr_GetRaisedException is new in 3.12), but named
    # for 3.11 -- what copying a wheel between Pythons produces.
    compile_shared_library(
        packages / "azp_newer_api.cpython-311-x86_64-linux-gnu.so",
        "extern void *PyErr_GetRaisedException(void);\n"
        "void *PyInit_azp_newer_api(void) { return PyErr_GetRaisedException(); }\n")
    # Linked against a library the runtime image does not have.
    compile_shared_library(tmp_path / "lib" / "libazpgone.so", "int azp_gone(void) { return 1; }")
    compile_shared_library(
        packages / "azp_needs_lib.cpython-311-x86_64-linux-gnu.so",
        "int azp_gone(void);\nvoid *PyInit_azp_needs_lib(void) { azp_gone(); return 0; }\n",
        f"-L{tmp_path / 'lib'}", "-lazpgone")
    root = _v1_app(tmp_path / "app", {
        "NewerApi": "import azp_newer_api\n\ndef main(req):\n    return 1\n",
        "NeedsLib": "import azp_needs_lib\n\ndef main(req):\n    return 1\n"})

    result = _check(root, container_engines, docker_client)

    needs_lib, newer_api = result.problems
    assert "libazpgone.so: cannot open shared object file" in needs_lib
    assert "undefined symbol: PyErr_GetRaisedException" in newer_api
    assert all(f"fix: {NATIVE_FIX}" in p for p in result.problems)


def test_the_app_is_mounted_read_only(
        tmp_path: Path, container_engines: dict[str, ContainerEngine],  # noqa: F811
        docker_client: Any) -> None:  # noqa: F811
    # wwwroot is read-only on Azure too when the app runs from its package.
    _v1_app(tmp_path, {"Writes": "open('written.txt', 'w').write('x')\n\n"
                                 "def main(req):\n    return 1\n"})

    result = _check(tmp_path, container_engines, docker_client)

    (problem,) = result.problems
    assert "Read-only file system" in problem
    assert not (tmp_path / "written.txt").exists()


def test_an_image_of_another_python_is_a_problem(
        tmp_path: Path, container_engines: dict[str, ContainerEngine],  # noqa: F811
        docker_client: Any) -> None:  # noqa: F811
    _v1_app(tmp_path, {"Fine": "def main(req):\n    return 1\n"})

    result = _check(tmp_path, container_engines, docker_client, "3.11", target="3.13")

    (problem,) = result.problems
    assert "Python 3.11." in problem and "targets Python 3.13" in problem


def test_a_hanging_import_is_stopped_at_the_timeout(
        tmp_path: Path, container_engines: dict[str, ContainerEngine],  # noqa: F811
        docker_client: Any) -> None:  # noqa: F811
    _v1_app(tmp_path, {"Hangs": "import time\ntime.sleep(120)\n\ndef main(req):\n    return 1\n"})
    image = container_engines["3.11"].ensure_image(Target("3.11"))

    result = run_preflight(tmp_path, "v1", ["Hangs/__init__.py"], Target("3.11"), image=image,
                           docker_client_factory=lambda: docker_client, timeout=2.0)

    (problem,) = result.problems
    assert problem.startswith("importing the app did not finish within 2 s")
    assert not docker_client.containers.list(all=True,
                                             filters={"label": "org.azpublish.role=preflight"})
