"""The container engine: installs the requirements inside a Debian container of the target Python.

The image is the toolchain's build image (``toolchain.build_image``). The install runs with the
requirement files' common folder mounted read-only, the output folder mounted read-write, as the
invoking user, on the host network. Package sources reach the installer only as environment
variables (and, for uv, ``--no-index``) of a container that is removed afterwards; host files
they name (CA bundles, find-links folders, ``file:`` indexes) are mounted read-only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from azpublish.builders.availability import (
    build_failed,
    find_build_failure,
    find_missing,
    where_listed,
)
from azpublish.builders.engine import InstallRequest
from azpublish.builders.wheels import WheelsEngine
from azpublish.errors import BuildError
from azpublish.runtime import Target
from azpublish.toolchain import installers
from azpublish.toolchain.build_image import DOCKERFILE, BuildImages, ImageOptions
from azpublish.toolchain.containers import (
    HOST_MOUNT,
    SCRATCH,
    SOURCE_MOUNT,
    ContainerRun,
    ContainerRunner,
    Mount,
    connect,
    copy_source_then,
    short_id,
)

__all__ = ["ContainerEngine", "connect"]

OUTPUT_MOUNT = PurePosixPath("/out")
REQUIREMENTS_MOUNT = PurePosixPath("/opt/azpublish/requirements")  # rewritten requirement files


class ContainerEngine:
    """``Engine`` that runs pip or uv in the build image of the target Python."""

    name = "container"

    def __init__(self, *, base_image: str | None = None, build_image: str | None = None,
                 additional_packages: tuple[str, ...] = (),
                 client_factory: Callable[[], Any] | None = None,
                 dockerfile: Path = DOCKERFILE, run_as: tuple[int, int] | None = None) -> None:
        self.runner = ContainerRunner(client_factory)
        self.images = BuildImages(self.runner, ImageOptions(
            base_image, build_image, tuple(additional_packages), dockerfile))
        # uid:gid of the installer, so the output belongs to the invoking user.
        self.run_as = run_as or (os.getuid(), os.getgid())

    @property
    def last_container_id(self) -> str | None:
        return self.runner.last_container_id

    def ensure_image(self, target: Target, log: Callable[[str], None] | None = None) -> str:
        """Build or reuse the build image for ``target``; its id."""
        return self.images.ensure(target, log).id

    def identity(self, request: InstallRequest) -> Mapping[str, str]:
        image = self.images.ensure(request.target)
        return {"engine": self.name, "image_id": image.id,
                "python_version": request.target.python_version,
                "platform": f"linux/{request.target.machine}", "installer": request.installer,
                "installer_version": image.installer_version(request.installer)}

    def install(self, request: InstallRequest, log: Callable[[str], None]) -> None:
        self.runner.last_container_id = None  # a log line before the run names no container
        image = self.images.ensure(request.target, log)
        spec, main_file = self._spec(request, image.id)
        log(f"installing requirements with {request.installer} in {short_id(image.id)} "
            f"(Python {request.target.python_version})")
        outcome = self.runner.run(spec, log)
        if outcome.status != 0:
            raise _install_failure(request, main_file, outcome.status, list(outcome.tail), log)
        # uv's lock file for the target folder is no part of the app.
        lock = request.output.resolve() / ".lock"
        if request.installer == "uv" and lock.is_file() and lock.stat().st_size == 0:
            lock.unlink()

    def _spec(self, request: InstallRequest, image_id: str) -> tuple[ContainerRun, Path]:
        """The installer's container, and the requirement file it installs."""
        if not request.requirement_files:
            raise BuildError("no requirement files to install", where=str(request.project_root),
                             fix="add a requirements.txt to the function app")
        main = request.requirement_files[0].resolve()
        roots = [request.project_root.resolve(), *(f.resolve().parent
                                                   for f in request.requirement_files)]
        source_root = Path(os.path.commonpath([str(r) for r in roots]))
        output = request.output.resolve()
        output.mkdir(parents=True, exist_ok=True)

        def inside(path: Path) -> PurePosixPath:
            return SCRATCH / path.relative_to(source_root).as_posix()

        sources, host_files = request.sources.in_container(HOST_MOUNT)
        requirement = str(inside(main))
        if request.copies:  # rewritten requirement files, mounted over a layout of their own
            base = Path(os.path.commonpath([str(c.parent) for c in request.copies.values()]))
            for copy in request.copies.values():
                host_files[str(copy)] = str(REQUIREMENTS_MOUNT / copy.relative_to(base).as_posix())
            requirement = host_files[str(request.main_file)]
        if request.installer == "uv":
            command = installers.uv_install("uv", python="python", target_dir=str(OUTPUT_MOUNT),
                                            requirement=requirement, flags=sources.flags("uv"))
        else:
            command = installers.pip_install("python", target_dir=str(OUTPUT_MOUNT),
                                             requirement=requirement)
        excluded = []
        if output.is_relative_to(source_root):
            excluded.append("./" + output.relative_to(source_root).as_posix())
        mounts = [Mount(str(SOURCE_MOUNT), str(source_root)),
                  Mount(str(OUTPUT_MOUNT), str(output), read_only=False),
                  *(Mount(target, source) for source, target in host_files.items())]
        spec = ContainerRun(image_id, copy_source_then(command, inside(main.parent), excluded),
                            role="install", doing="running the installer container",
                            mounts=mounts, environment=sources.environment(request.installer),
                            user=self.run_as, installer_cache=True)
        return spec, main


def _install_failure(request: InstallRequest, main_file: Path, status: int, tail: list[str],
                     log: Callable[[str], None]) -> BuildError:
    """Name the package the installer's output blames, and what would fix it."""
    missing = find_missing(tail, request.installer)
    if missing is not None:
        # Listed with the host's pip and the same sources (the container shares the host
        # network); no source fix to offer: this build compiles sdists already.
        return WheelsEngine().explain(missing, request, log, source_fix=None)
    failed = find_build_failure(tail, request.installer)
    if failed is not None:
        return build_failed(failed, request.target, main_file) or BuildError(
            f"package {failed!r} did not build from source for {request.target.describe()} "
            f"(exit {status}):\n" + "\n".join(tail), where=where_listed(failed, main_file),
            fix="read the build output above: a package that needs a system library can get "
                "its -dev package with --additional-packages \"pkg ...\"; or pin a version that "
                f"has a wheel for CPython {request.target.python_version}")
    return BuildError(
        f"{request.installer} install failed in the build container (exit {status}):\n"
        + "\n".join(tail),
        where=str(main_file),
        fix="fix the requirement the output names; a package that needs a system "
            "library can get its -dev package with --additional-packages \"pkg ...\"")
