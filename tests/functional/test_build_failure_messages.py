"""Build failures name their cause: real pip and uv against a package index made here.

The index (pypiserver on loopback, plain http) holds wheels of the shapes real packages have: an
old pin with wheels only up to cp310, a Windows-only package (by its files, and one known by
name), pure packages that depend on those, and source distributions that fail to build. Each
test reads the message the real engine gives, and where a message proposes a fix, applies it
and installs again.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import re
import tarfile
import textwrap
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from azpublish.builders.container import ContainerEngine
from azpublish.builders.engine import Installer, InstallRequest
from azpublish.builders.preflight import PreflightResult, run_preflight
from azpublish.builders.wheels import WheelsEngine
from azpublish.errors import BuildError, ExitCode
from azpublish.runtime import Target, find_python
from tests.integration.docker_support import container_engines, docker_client  # noqa: F401
from tests.integration.pypi_index import launch_pypiserver, stop_server

INSTALLERS: tuple[Installer, ...] = ("uv",)  # the wheels engine installs with uv only
installs = pytest.mark.installs  # real pip and uv runs: outside make test-quick
LINUX = "manylinux_2_17_x86_64.manylinux2014_x86_64"
PASSWORD = "Index-Secret-51733"


def _record(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def make_wheel(folder: Path, name: str, version: str, tag: str,
               requires: Sequence[str] = ()) -> None:
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                + "".join(f"Requires-Dist: {r}\n" for r in requires))
    pure = tag.endswith("-none-any")
    files = {f"{module}.py": b"VALUE = 1\n", f"{info}/METADATA": metadata.encode(),
             f"{info}/WHEEL": (f"Wheel-Version: 1.0\nRoot-Is-Purelib: {str(pure).lower()}\n"
                               f"Tag: {tag}\n").encode()}
    record = "".join(f"{n},{_record(d)},{len(d)}\n" for n, d in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    with zipfile.ZipFile(folder / f"{module}-{version}-{tag}.whl", "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)


def make_failing_sdist(folder: Path, name: str, version: str) -> None:
    """An sdist whose build backend fails, as a Windows-only native build does on Linux."""
    base = f"{name.replace('-', '_')}-{version}"
    files = {"PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             "pyproject.toml": textwrap.dedent("""\
                 [build-system]
                 requires = []
                 build-backend = "backend"
                 backend-path = ["."]
                 """),
             "backend.py": "def build_wheel(*args, **kwargs):\n"
                           "    raise RuntimeError('this extension builds only with MSVC')\n"}
    with tarfile.open(folder / f"{base}.tar.gz", "w:gz") as archive:
        for relative, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{relative}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def populate(folder: Path) -> None:
    for python in ("cp38", "cp39", "cp310"):
        make_wheel(folder, "azp-oldpin-probe", "1.0", f"{python}-{python}-{LINUX}")
    for python in ("cp312", "cp313"):
        make_wheel(folder, "azp-oldpin-probe", "2.0", f"{python}-{python}-{LINUX}")
    for tag in ("cp311-cp311-win_amd64", "cp312-cp312-win_amd64", "cp312-cp312-win32"):
        make_wheel(folder, "azp-winonly-probe", "306", tag)  # Windows-only by its files
        make_wheel(folder, "pywin32", "306", tag)  # Windows-only by name too
    for tag in ("cp312-cp312-macosx_10_9_x86_64", "cp312-cp312-macosx_11_0_arm64"):
        make_wheel(folder, "azp-maconly-probe", "1.0", tag)
    make_wheel(folder, "azp-newglibc-probe", "1.0", "cp312-cp312-manylinux_2_39_x86_64")
    make_wheel(folder, "azp-arm-probe", "1.0", "cp312-cp312-manylinux_2_17_aarch64")
    make_wheel(folder, "azp-wmi-probe", "1.5", "py3-none-any", ["azp-winonly-probe"])
    make_wheel(folder, "pypiwin32", "223", "py3-none-any", ["pywin32>=223"])
    make_failing_sdist(folder, "pywinpty", "2.0.13")
    make_failing_sdist(folder, "azp-badbuild-probe", "1.0")


@pytest.fixture(scope="module")
def index_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("failure-index")
    packages = root / "packages"
    packages.mkdir()
    populate(packages)
    port, process = launch_pypiserver(packages, root)
    try:
        yield f"http://reader:{PASSWORD}@127.0.0.1:{port}/simple/"
    finally:
        stop_server(process)


@pytest.fixture(autouse=True)
def _only_this_index(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's pip configuration may add indexes and find-links: only ours counts here.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)


def _request(root: Path, requirements: str, index_url: str, installer: Installer,
             python: str = "3.12") -> InstallRequest:
    root.mkdir(exist_ok=True)
    (root / "requirements.txt").write_text(requirements)
    output = root / "out"
    output.mkdir(exist_ok=True)
    return InstallRequest(project_root=root, requirement_files=(root / "requirements.txt",),
                          target=Target(python), installer=installer,
                          index_env={"PIP_INDEX_URL": index_url, "PIP_RETRIES": "0"},
                          output=output)


def _failure(request: InstallRequest, engine: Any = None) -> tuple[BuildError, list[str]]:
    lines: list[str] = []
    with pytest.raises(BuildError) as caught:
        (engine or WheelsEngine()).install(request, lines.append)
    error = caught.value
    assert error.exit_code == ExitCode.BUILD
    # The index URL carries a password: neither the message nor the log may show it.
    assert PASSWORD not in error.render() and not any(PASSWORD in line for line in lines)
    return error, lines


def _suggested_line(fix: str) -> str:
    """The requirement line a fix proposes, in its quotes."""
    match = re.search(r"'([^']+)'", fix)
    assert match, fix
    return match.group(1)


def _installed(folder: Path) -> set[str]:
    return {p.name.split("-")[0].lower() for p in folder.glob("*.dist-info")}


@installs
@pytest.mark.parametrize("installer", INSTALLERS)
def test_an_old_pin_names_the_pythons_its_wheels_are_for_and_a_newer_pin(
        tmp_path: Path, index_url: str, installer: Installer) -> None:
    request = _request(tmp_path / "app", "# the app's pins\nazp-oldpin-probe==1.0\n", index_url,
                       installer)
    error, _ = _failure(request)
    assert error.where == str(tmp_path / "app" / "requirements.txt")
    assert error.what == ("package 'azp-oldpin-probe' 1.0 has no wheel for Linux x86_64, "
                          "CPython 3.12, glibc 2.36: its wheels are only for cp38 to cp310, and "
                          "no source distribution")
    assert "neither" not in error.render()
    assert error.fix and "azp-oldpin-probe==2.0 is the newest" in error.fix
    assert "cannot compile it" in error.fix  # no sdist: no build image can help

    # The pin the message proposes installs.
    (tmp_path / "app" / "requirements.txt").write_text("azp-oldpin-probe==2.0\n")
    WheelsEngine().install(request, lambda _line: None)
    assert _installed(request.output) == {"azp_oldpin_probe"}


@installs
@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_version_the_index_lacks_lists_the_versions_it_has(
        tmp_path: Path, index_url: str, installer: Installer) -> None:
    error, _ = _failure(_request(tmp_path / "app", "azp-oldpin-probe==1.5\n", index_url,
                                 installer))
    assert error.what == ("package 'azp-oldpin-probe' has no version ==1.5 on the package "
                          "indexes (they have 1.0, 2.0)")
    assert error.fix and "azp-oldpin-probe==2.0" in error.fix


@installs
@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_name_the_index_lacks_is_called_that(tmp_path: Path, index_url: str,
                                               installer: Installer) -> None:
    error, _ = _failure(_request(tmp_path / "app", "azp-misspelt-probe\n", index_url,
                                 installer))
    assert error.what == ("package 'azp-misspelt-probe' is not on the package indexes: they "
                          "have no distribution of that name")
    assert error.fix and "check the name" in error.fix


@installs
@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("requirement", ["azp-winonly-probe==306", "pywin32==306"])
def test_a_windows_only_package_gets_an_environment_marker(
        tmp_path: Path, index_url: str, installer: Installer, requirement: str) -> None:
    name = requirement.split("==")[0]
    request = _request(tmp_path / "app", f"{requirement}\n", index_url, installer)
    error, _ = _failure(request)
    assert error.what.startswith(f"package '{name}' 306 exists only for Windows (its wheels are "
                                 "for win32, win_amd64), and the app runs on Linux")
    assert error.fix
    assert _suggested_line(error.fix) == f'{requirement}; sys_platform == "win32"'
    # The advice that cannot help is gone.
    assert "--engine container" not in error.fix and "--build remote" not in error.fix

    (tmp_path / "app" / "requirements.txt").write_text(_suggested_line(error.fix) + "\n")
    WheelsEngine().install(request, lambda _line: None)
    assert _installed(request.output) == set()


@installs
@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_windows_only_dependency_points_at_the_requirement_that_pulls_it_in(
        tmp_path: Path, index_url: str, installer: Installer) -> None:
    request = _request(tmp_path / "app", "azp-oldpin-probe==2.0\nazp-wmi-probe\n", index_url,
                       installer)
    error, _ = _failure(request)
    assert error.what.startswith("package 'azp-winonly-probe' 306 (required by azp-wmi-probe) "
                                 "exists only for Windows")
    assert error.fix and error.fix.startswith("if the app needs azp-wmi-probe only on Windows")
    assert _suggested_line(error.fix) == 'azp-wmi-probe; sys_platform == "win32"'

    (tmp_path / "app" / "requirements.txt").write_text(
        "azp-oldpin-probe==2.0\n" + _suggested_line(error.fix) + "\n")
    WheelsEngine().install(request, lambda _line: None)
    assert _installed(request.output) == {"azp_oldpin_probe"}


@installs
@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_windows_only_wrapper_is_marked_itself(tmp_path: Path, index_url: str,
                                                 installer: Installer) -> None:
    # pypiwin32 is itself known to be Windows-only: no "if the app needs it" hedge.
    error, _ = _failure(_request(tmp_path / "app", "pypiwin32==223\n", index_url, installer))
    assert "'pywin32'" in error.what and "(required by pypiwin32)" in error.what
    assert error.fix and error.fix.startswith(
        "list it as 'pypiwin32==223; sys_platform == \"win32\"' in requirements.txt")


@installs
@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize(("name", "summary"), [
    ("azp-maconly-probe", "its wheels are only for macOS (macosx_10_9_x86_64, "
                          "macosx_11_0_arm64)"),
    ("azp-newglibc-probe", "its Linux wheels (manylinux_2_39_x86_64) are not manylinux wheels "
                           "for glibc 2.36 or older"),
    ("azp-arm-probe", "its Linux wheels are for other machines (manylinux_2_17_aarch64)"),
])
def test_wheels_for_other_platforms_say_which(tmp_path: Path, index_url: str,
                                              installer: Installer, name: str,
                                              summary: str) -> None:
    error, _ = _failure(_request(tmp_path / "app", f"{name}==1.0\n", index_url, installer))
    assert error.what == (f"package '{name}' 1.0 has no wheel for Linux x86_64, CPython 3.12, "
                          f"glibc 2.36: {summary}, and no source distribution")
    assert error.fix
    if name == "azp-maconly-probe":
        assert _suggested_line(error.fix) == f'{name}; sys_platform == "darwin"'
    else:
        assert error.fix.startswith("no version on the indexes has wheels for CPython 3.12")


@installs
def test_a_windows_only_sdist_is_not_built_on_linux(tmp_path: Path, index_url: str) -> None:
    # pywinpty's source builds only with MSVC: the wheels engine does not try, it advises.
    error, lines = _failure(_request(tmp_path / "app", "pywinpty\n", index_url, "uv"))
    assert "'pywinpty'" in error.what and "exists only for Windows" in error.what
    assert error.fix and "'pywinpty; sys_platform == \"win32\"'" in error.fix
    assert not any("building it from source" in line for line in lines)


@installs
def test_an_unreachable_index_is_not_called_an_absent_package(tmp_path: Path) -> None:
    dead = f"https://reader:{PASSWORD}@127.0.0.1:9/simple/"
    request = _request(tmp_path / "app", "azp-oldpin-probe==1.0\n", dead, "uv")
    request = dataclasses.replace(request, index_env={**request.index_env, "PIP_TIMEOUT": "2"})
    error, _ = _failure(request)
    assert error.what.startswith("package 'azp-oldpin-probe' could not be looked up: reading "
                                 "the package indexes failed (Could not fetch URL https://***@")
    assert "not on the package indexes" not in error.what


# -- the container engine: the same explanations, and failed source builds -------------------


@installs
@pytest.mark.integration
@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize(("installer", "requirement", "expected"), [
    ("pip", "azp-winonly-probe==306\n", "exists only for Windows"),
    ("uv", "azp-oldpin-probe==1.0\n", "its wheels are only for cp38 to cp310"),
    ("pip", "pywinpty==2.0.13\n", "exists only for Windows"),
    ("uv", "azp-badbuild-probe==1.0\n", "did not build from source"),
])
def test_the_container_engine_explains_too(
        tmp_path: Path, index_url: str, container_engines: dict[str, ContainerEngine],  # noqa: F811
        installer: Installer, requirement: str, expected: str) -> None:
    request = _request(tmp_path / "app", requirement, index_url, installer, python="3.11")
    error, _ = _failure(request, container_engines["3.11"])
    assert expected in error.what
    assert error.where == str(tmp_path / "app" / "requirements.txt")
    assert error.fix
    if "Windows" in expected:
        assert 'sys_platform == "win32"' in error.fix
        assert "--additional-packages" not in error.fix
    elif "cp310" in expected:  # 2.0 has wheels for 3.12 and 3.13 only
        assert error.fix.startswith("no version on the indexes has wheels for CPython 3.11")
    else:
        assert "--additional-packages" in error.fix


# -- the import check: modules that belong to another distribution --------------------------


def _preflight(root: Path, imports: str) -> PreflightResult:
    if find_python("3.11") is None:
        pytest.skip("no Python 3.11 on this machine (pyenv install 3.11)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "host.json").write_text('{"version": "2.0"}')
    (root / "function_app.py").write_text(
        "import azure.functions as func\n" + imports + "\napp = func.FunctionApp()\n\n\n"
        '@app.route(route="ping")\ndef ping(req):\n    return "pong"\n')
    return run_preflight(root, "v2", ["function_app.py"], Target("3.11"))


@pytest.mark.parametrize("module", ["pythoncom", "win32api", "win32com.client", "pywintypes"])
def test_a_pywin32_module_is_named_with_its_distribution(tmp_path: Path, module: str) -> None:
    result = _preflight(tmp_path / "app", f"import {module}")
    assert not result.ok and len(result.problems) == 1
    problem = result.problems[0]
    top = module.split(".")[0]
    assert f"No module named '{top}'" in problem
    assert (f"fix: {top} comes from pywin32, which exists only for Windows, and the app runs "
            "on Linux: import it only on Windows") in problem
    assert "'pywin32; sys_platform == \"win32\"'" in problem
    assert f"add {top} to requirements.txt" not in problem


def test_a_windows_standard_library_module_is_not_a_package_to_add(tmp_path: Path) -> None:
    problem = _preflight(tmp_path / "app", "import winreg").problems[0]
    assert "fix: winreg is in the standard library only on Windows" in problem
    assert "requirements.txt" not in problem


def test_a_guarded_import_passes(tmp_path: Path) -> None:
    # The fix the message gives works: the guarded import is skipped on Linux.
    result = _preflight(tmp_path / "app", 'import sys\nif sys.platform == "win32":\n'
                                          "    import pythoncom\n")
    assert result.ok, result.problems
    assert result.functions == ("ping",)


def test_the_module_table_keeps_its_other_hints(tmp_path: Path) -> None:
    problem = _preflight(tmp_path / "app", "import yaml").problems[0]
    assert "fix: add PyYAML to requirements.txt (it provides the module yaml)" in problem

