"""The wheels engine: install the target's pre-built wheels on the host, without a container.

uv alone installs (``uv pip install --target --python-platform x86_64-manylinux_2_36
--python-version X.Y --only-binary :all:``): it picks wheels for the target and evaluates
environment markers for it. pip cannot (it evaluates markers for the interpreter running it),
so a request for pip is refused here; the local builder says so and installs with uv.

Source distributions: the install is binary-only. When it fails on a package that has no
wheel, that package alone is built from its sdist with the host's pip (``pip wheel --no-deps``);
a ``py3-none-any`` result runs anywhere and joins the install through a local find-links folder,
anything else is native code that needs the container engine, and is an error naming it.
When no distribution fits, pip lists what the indexes hold for the package, so the error can say
whether the name, the pin, the target Python or the platform is the problem (``availability``).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from azpublish.builders import module_hints
from azpublish.builders.availability import (
    Inventory,
    Missing,
    explain,
    find_missing,
    parse_inventory,
)
from azpublish.builders.engine import InstallRequest
from azpublish.cleanup import temporary_folder
from azpublish.errors import BuildError
from azpublish.toolchain import installers
from azpublish.toolchain.host_process import run_captured, run_streamed
from azpublish.toolchain.platform_tags import target_tags, uv_platform
from azpublish.toolchain.sources import PackageSources

FIX_NATIVE = ("build with the container engine (--engine container), which compiles it for the "
              "target, or let the server build (--build remote)")
MAX_SOURCE_BUILDS = 10
INVENTORY_TIMEOUT = 120.0  # seconds for pip to list one project's files
_HOST_VARIABLES = {"NO_COLOR": "1", "PYTHONUTF8": "1"}


class WheelsEngine:
    name = "wheels"

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python  # uv's --python (builds sdist metadata), and pip for sdists

    def identity(self, request: InstallRequest) -> Mapping[str, str]:
        _only_uv(request)
        return {"engine": self.name, "installer": "uv",
                "installer_version": installers.uv_version(installers.require_uv("--engine "
                                                                                 "wheels")),
                "platform": uv_platform(request.target),
                "python": request.target.python_version}

    def install(self, request: InstallRequest, log: Callable[[str], None]) -> None:
        _only_uv(request)
        if not request.requirement_files:
            raise BuildError("no requirement files to install", where=str(request.project_root),
                             fix="add a requirements.txt to the function app")
        uv = installers.require_uv("--engine wheels")
        requirement = str(request.main_file)
        built: set[str] = set()
        with temporary_folder("azpublish-wheelhouse-") as wheelhouse:
            sources = request.sources.with_find_links(str(wheelhouse))
            command = installers.uv_install(uv, python=self.python, target_dir=str(request.output),
                                            requirement=requirement, flags=sources.flags("uv"),
                                            target=request.target)
            env = {**sources.installer_environment("uv"), **_HOST_VARIABLES}
            while True:
                _empty(request.output)
                finished = run_streamed(command, env, request.project_root, log)
                tail = list(finished.tail)
                if finished.status == 0:
                    _remove_uv_lock(request.output)
                    return
                missing = find_missing(tail, "uv")
                if missing is None:
                    raise BuildError(
                        f"uv could not install the requirements for "
                        f"{request.target.describe()} (exit {finished.status}):\n"
                        + "\n".join(tail[-12:]),
                        where=str(request.requirement_files[0]),
                        fix="check the requirement and the index settings (PIP_INDEX_URL, "
                        "PIP_EXTRA_INDEX_URL) named above; if a package has no wheel for the "
                        "target, " + FIX_NATIVE)
                if (not missing.exists or missing.name in built or len(built) >= MAX_SOURCE_BUILDS
                        or module_hints.is_windows_only(missing.name)):
                    raise self.explain(missing, request, log)
                log(f"{missing.name} has no wheel for the target; building it from source, "
                    "which works only for pure-Python packages")
                self._build_pure_wheel(missing, request, wheelhouse, log)
                built.add(missing.name)

    def _build_pure_wheel(self, missing: Missing, request: InstallRequest, wheelhouse: Path,
                          log: Callable[[str], None]) -> None:
        with temporary_folder("azpublish-sdist-") as scratch:
            command = installers.pip_wheel_from_source(self.python, missing.name, missing.spec,
                                                       str(scratch))
            finished = run_streamed(command, _pip_env(request.sources), request.project_root,
                                    log)
            if finished.status != 0 and find_missing(list(finished.tail), "pip") is not None:
                raise self.explain(missing, request, log)  # no source distribution either
            wheels = list(Path(scratch).glob("*.whl"))
            if finished.status != 0 or len(wheels) != 1 or not _is_pure(wheels[0]):
                raise _native_source(missing, request, built=finished.status == 0)
            shutil.move(str(wheels[0]), wheelhouse / wheels[0].name)
            log(f"built {wheels[0].name} (pure Python) from the source distribution")

    # -- saying why nothing fits -----------------------------------------------------------

    def explain(self, missing: Missing, request: InstallRequest, log: Callable[[str], None],
                source_fix: str | None = FIX_NATIVE) -> BuildError:
        """The error for a package with no usable distribution, from what the indexes hold.
        The container engine uses it too (with no ``source_fix``: it compiled already)."""
        log(f"listing the files the package indexes have for {missing.name}")
        inventory = self.inventory(missing.name, request)
        main = request.requirement_files[0] if request.requirement_files else None
        return explain(missing, inventory, request.target, target_tags(request.target), main,
                       source_fix)

    def inventory(self, name: str, request: InstallRequest) -> Inventory | None:
        """Every file of ``name`` on the indexes, as pip's verbose output lists them (with the
        same sources, credentials and find-links); None when pip gave no answer."""
        with temporary_folder("azpublish-inventory-") as scratch:
            finished = run_captured(installers.pip_list_files(self.python, name, str(scratch)),
                                    _pip_env(request.sources), request.project_root,
                                    INVENTORY_TIMEOUT)
        return None if finished is None else parse_inventory(name, list(finished.tail))


def _only_uv(request: InstallRequest) -> None:
    if request.installer != "uv":
        raise BuildError("the wheels engine installs with uv only: pip evaluates environment "
                         "markers for the Python running it, not for the target",
                         where="--installer pip",
                         fix="use --installer uv, or --engine container for pip")


def _pip_env(sources: PackageSources) -> dict[str, str]:
    return {**sources.installer_environment("pip"), **_HOST_VARIABLES}


def _native_source(missing: Missing, request: InstallRequest, built: bool) -> BuildError:
    """Only a source distribution, and it is not pure Python (or did not build at all)."""
    where = str(request.requirement_files[0])
    why = ("its source distribution builds native code" if built
           else "and it could not be built from source as pure Python")
    return BuildError(f"package {missing.name!r} has no wheel for {request.target.describe()}, "
                      f"{why}", where=where, fix=FIX_NATIVE)


def _is_pure(wheel: Path) -> bool:
    try:
        _, _, _, tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        return False
    return all(tag.abi == "none" and tag.platform == "any" and tag.interpreter.startswith("py")
               for tag in tags)


def _remove_uv_lock(output: Path) -> None:
    """uv leaves its (empty) lock file in the --target folder; it is not part of the app."""
    lock = output / ".lock"
    if lock.is_file() and lock.stat().st_size == 0:
        lock.unlink()


def _empty(folder: Path) -> None:
    """A failed attempt may have left files; each attempt starts from an empty folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for item in folder.iterdir():
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()
