"""``azpublish lock``: a pinned, hashed requirements.txt resolved for the app's Linux Python.

pip-compile resolves for the machine it runs on, so its markers are the developer's. Here the
resolution runs *for the target*: pip-tools inside the local build's container image of the
target Python (engine ``container``), or ``uv pip compile --python-platform
x86_64-manylinux_2_36 --python-version X.Y`` on the host (engine ``wheels``).

The input is ``requirements.in``, else the ``[project] dependencies`` of the app's
pyproject.toml (``lock_input``). The tools' own headers are switched off and azpublish writes
one that holds no timestamp and no index URL, so the same input gives the same file; its
``# input-sha256:`` line lets a publish tell cheaply whether the lock was made from the current
input.

Index settings (``--pip-extra-index-url``, ``PIP_*``, pip's configuration) reach the resolver
only as environment variables; no index URL is written into the lock (``--no-emit-index-url``,
and uv emits none by default), and a lock that would still carry a credential is refused.
"""

from __future__ import annotations

import difflib
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Literal

from azpublish import __version__
from azpublish.builders.container import ContainerEngine
from azpublish.cleanup import temporary_folder
from azpublish.distributions import dependency_closure
from azpublish.errors import BuildError
from azpublish.lock_input import INPUT_FILE as INPUT_FILE  # re-exported: lock_cli, pipeline
from azpublish.lock_input import PYPROJECT, LockInput, lock_input, relative_path
from azpublish.lock_input import input_digest as input_digest
from azpublish.lock_input import read_project_table as read_project_table
from azpublish.lock_input import requires_python_target as requires_python_target
from azpublish.redact import redact
from azpublish.runtime import DEFAULT_PYTHON, Target
from azpublish.toolchain import installers
from azpublish.toolchain.containers import (
    HOST_MOUNT,
    SCRATCH,
    SOURCE_MOUNT,
    ContainerRun,
    Mount,
    copy_source_then,
    short_id,
)
from azpublish.toolchain.engine_choice import choose_engine as toolchain_choose_engine
from azpublish.toolchain.host_process import run_streamed
from azpublish.toolchain.platform_tags import target_environment, uv_platform
from azpublish.toolchain.sources import PackageSources

LockEngine = Literal["auto", "container", "wheels"]
STALE_EXIT_CODE = 6  # `lock --check`: the lock file is not what its input resolves to
INPUT_DIGEST_PREFIX = "# input-sha256: "
# Header lines that say *how* the file was made rather than *what* it pins: --check ignores
# them, so a lock made in the container is not stale in a CI job that resolves with uv.
_TOOL_LINE_PREFIX = "# resolved with: "

# Inside the lock container, read-write: the existing lock, the output, a pyproject .in.
_WORK = PurePosixPath("/lockwork")
_OUTPUT_TAIL = 40


@dataclass(frozen=True)
class LockRequest:
    root: Path  # the function app's root (holds host.json)
    python_version: str = DEFAULT_PYTHON
    engine: LockEngine = "auto"
    # PIP_EXTRA_INDEX_URL ... may hold credentials: environment of the resolver only.
    index_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    base_image: str | None = None
    build_image: str | None = None
    output: Path = Path("requirements.txt")  # relative to root, or absolute

    @property
    def target(self) -> Target:
        return Target(self.python_version)

    @property
    def output_path(self) -> Path:
        return self.output if self.output.is_absolute() else self.root / self.output


@dataclass(frozen=True)
class LockResult:
    text: str  # the whole lock file, header included
    engine: str  # "container" | "wheels"
    tool: str  # e.g. "uv 0.13.8"


@dataclass(frozen=True)
class CheckResult:
    up_to_date: bool
    diff: str  # unified diff, current file -> fresh lock; empty when up to date


# -- locking -------------------------------------------------------------------------------------


def lock(request: LockRequest, log: Callable[[str], None]) -> LockResult:
    """Resolve the input for the target; the lock file's text (nothing is written)."""
    engine = choose_engine(request, log)
    with lock_input(request.root) as source, \
            temporary_folder("azpublish-lock-") as work:
        # The existing lock goes where the resolver writes: both tools keep its pins unless
        # told to upgrade.
        existing = request.output_path
        if existing.is_file():
            shutil.copyfile(existing, work / "requirements.txt")
        if engine == "container":
            body, tool = _compile_in_container(request, source, work, log)
        else:
            body, tool = _compile_with_uv(request, source, work, log)
    body = _normalise_body(body, source)
    text = header(request, source, engine, tool) + body
    if redact(text) != text:
        raise BuildError("the lock would contain a credential (an index URL with a password, or "
                         "a direct URL requirement with one)", where=str(source.path),
                         fix="put credentials in PIP_EXTRA_INDEX_URL / --pip-extra-index-url, "
                             "never in the requirement lines")
    return LockResult(text, engine, tool)


def choose_engine(request: LockRequest, log: Callable[[str], None]) -> LockEngine:
    """The engine ``auto`` stands for: container when a Docker daemon answers and the image is
    ready (built here once), else wheels (``toolchain.engine_choice``)."""
    if request.engine != "auto":
        return request.engine
    ready = toolchain_choose_engine(
        "auto", lambda: _container(request).ensure_image(request.target, log), notice=log,
        instead=f"resolving with uv for {request.target.describe()} instead")
    return "wheels" if ready is None else "container"


def header(request: LockRequest, source: LockInput, engine: str, tool: str) -> str:
    machine, _, glibc = uv_platform(request.target).partition("-")
    command = f"azpublish lock --python-version {request.python_version}"
    if request.output != Path("requirements.txt"):
        command += f" --output {shlex.quote(str(request.output))}"
    return (f"# This file was generated by azpublish {__version__} from {source.label}; "
            "do not edit it by hand.\n"
            f"# target: CPython {request.python_version} on Linux, "
            f"platform {glibc}_{machine}\n"
            f"{_TOOL_LINE_PREFIX}{tool} (engine {engine})\n"
            f"{INPUT_DIGEST_PREFIX}{source.digest}\n"
            f"# regenerate with: {command}\n"
            "#\n")


def recorded_digest(lock_text: str) -> str | None:
    """The ``input-sha256`` a lock file was generated from, or None for a foreign file."""
    for line in lock_text.splitlines():
        if line.startswith(INPUT_DIGEST_PREFIX):
            return line[len(INPUT_DIGEST_PREFIX):].strip()
        if not line.startswith("#"):
            break
    return None


def check(request: LockRequest, log: Callable[[str], None]) -> CheckResult:
    """Resolve afresh (keeping the existing pins) and compare with the lock file on disk."""
    fresh = lock(request, log).text
    path = request.output_path
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    if _semantic(current) == _semantic(fresh):
        return CheckResult(True, "")
    name = relative_path(path, request.root)
    diff = difflib.unified_diff(current.splitlines(keepends=True),
                                fresh.splitlines(keepends=True),
                                fromfile=f"{name} (current)", tofile=f"{name} (fresh lock)")
    return CheckResult(False, "".join(diff))


def write_lock(request: LockRequest, result: LockResult) -> Path:
    """Replace the lock file atomically (a reader never sees half of it)."""
    path = request.output_path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(result.text, encoding="utf-8", newline="\n")
    partial.replace(path)
    return path


def _semantic(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(_TOOL_LINE_PREFIX)]


def _normalise_body(body: str, source: LockInput) -> str:
    """The tool's output with the temporary input's path replaced by what it stands for."""
    text = body.replace(str(source.path), source.label)
    text = text.replace(str(_WORK / source.path.name), source.label)
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines).rstrip("\n") + "\n"


def _resolution_flags(request: LockRequest) -> list[str]:
    flags = ["--upgrade"] if request.upgrade else []
    for package in request.upgrade_packages:
        flags += ["--upgrade-package", package]
    return flags


# -- the wheels engine: uv on the host ---------------------------------------------------------


def _compile_with_uv(request: LockRequest, source: LockInput, work: Path,
                     log: Callable[[str], None]) -> tuple[str, str]:
    uv = installers.require_uv("--engine wheels")
    sources = PackageSources.read(request.index_env)
    output = work / "requirements.txt"
    command = installers.uv_compile(uv, source=str(source.path), output=str(output),
                                    python=sys.executable, target=request.target,
                                    flags=sources.flags("uv"),
                                    resolution=_resolution_flags(request))
    log(f"resolving {source.label} with uv for {request.target.describe()}")
    finished = run_streamed(command, sources.installer_environment("uv"), request.root, log)
    if finished.status != 0 or not output.is_file():
        raise BuildError(f"uv could not resolve {source.label} for {request.target.describe()} "
                         f"(exit {finished.status}):\n"
                         + "\n".join(finished.tail[-_OUTPUT_TAIL:]),
                         where=str(request.root / source.label),
                         fix="fix the requirement named above, or the index settings "
                             "(--pip-extra-index-url, PIP_INDEX_URL)")
    return output.read_text(encoding="utf-8"), f"uv {installers.uv_version(uv)}"


# -- the container engine: pip-tools in the build image ------------------------------------------


def _container(request: LockRequest) -> ContainerEngine:
    return ContainerEngine(base_image=request.base_image, build_image=request.build_image)


def _compile_in_container(request: LockRequest, source: LockInput, work: Path,
                          log: Callable[[str], None]) -> tuple[str, str]:
    engine = _container(request)
    image = engine.images.ensure(request.target, log)
    tools_version = _pip_tools_bundle(request.python_version, work / "tools")
    if source.label == PYPROJECT:
        shutil.copyfile(source.path, work / source.path.name)
        input_argument = str(_WORK / source.path.name)
    else:
        input_argument = relative_path(source.path, request.root)
    compile_command = installers.piptools_compile(
        "python", source=input_argument, output=str(_WORK / "requirements.txt"),
        resolution=_resolution_flags(request))
    sources, host_files = PackageSources.read(request.index_env).in_container(HOST_MOUNT)
    environment = {**sources.environment("pip"), "NO_COLOR": "1",
                   "PYTHONPATH": str(_WORK / "tools")}
    mounts = [Mount(str(SOURCE_MOUNT), str(request.root.resolve())),
              Mount(str(_WORK), str(work), read_only=False),
              *(Mount(inside, outside) for outside, inside in host_files.items())]
    log(f"resolving {source.label} with pip-tools {tools_version} in {short_id(image.id)} "
        f"(Python {request.python_version})")
    outcome = engine.runner.run(ContainerRun(
        image.id, copy_source_then(compile_command, SCRATCH), role="lock",
        doing="running the lock container", mounts=mounts, environment=environment,
        user=engine.run_as, installer_cache=True), log)
    output = work / "requirements.txt"
    if outcome.status != 0 or not output.is_file():
        raise BuildError(f"pip-compile could not resolve {source.label} for "
                         f"{request.target.describe()} in the build container "
                         f"(exit {outcome.status}):\n" + "\n".join(outcome.tail),
                         where=str(request.root / source.label),
                         fix="fix the requirement named above, or the index settings "
                             "(--pip-extra-index-url, PIP_INDEX_URL)")
    pip_version = image.installer_version("pip") or "of the image"
    return output.read_text(encoding="utf-8"), f"pip-tools {tools_version}, pip {pip_version}"


def _pip_tools_bundle(python_version: str, folder: Path) -> str:
    """Copy this installation's pip-tools and the pure-Python packages it needs on the target
    (pip excepted: the image has its own) into ``folder``, for the container's PYTHONPATH.
    No index is involved, whatever the app's index settings are; the pip-tools version is the
    host's. Its version."""
    distributions, missing = dependency_closure(
        "pip-tools", target_environment(python_version), exclude={"pip"})
    if missing:
        raise BuildError(f"{missing[0]} is not installed beside azpublish; pip-tools needs it "
                         f"on Python {python_version}", where="--engine container",
                         fix=f"install it into azpublish's environment (pip install "
                             f"{missing[0]}), or use --engine wheels")
    for distribution in distributions:
        for relative in distribution.files or ():
            if ".." in relative.parts or "__pycache__" in relative.parts:
                continue  # console scripts, and bytecode of the host's Python
            source = Path(str(distribution.locate_file(relative)))
            if source.is_file():
                destination = folder / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
    folder.chmod(0o755)
    return metadata.version("pip-tools")
