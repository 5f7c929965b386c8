"""``azpublish lock``: a pinned, hashed requirements.txt resolved for the app's Linux Python.

pip-compile resolves for the machine it runs on, so its markers are the developer's. Here the
resolution runs *for the target*: pip-tools inside the local build's container image of the
target Python (engine ``container``), or ``uv pip compile --python-platform
x86_64-manylinux_2_36 --python-version X.Y`` on the host (engine ``wheels``).

The input is ``requirements.in``, else the ``[project] dependencies`` of the app's
pyproject.toml. The tools' own headers are switched off and azpublish writes one that holds no
timestamp and no index URL, so the same input gives the same file; its ``# input-sha256:`` line
lets a publish tell cheaply whether the lock was made from the current input.

Index settings (``--pip-extra-index-url``, ``PIP_*``, pip's configuration) reach the resolver
only as environment variables; no index URL is written into the lock (``--no-emit-index-url``,
and uv emits none by default), and a lock that would still carry a credential is refused.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from azpublish import __version__
from azpublish.build.engine import InstallRequest
from azpublish.errors import BuildError, ProjectError
from azpublish.redact import redact, register_secret, register_url_credentials
from azpublish.requirements import read_requirements
from azpublish.runtime import DEFAULT_PYTHON, SUPPORTED_PYTHONS, Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

LockEngine = Literal["auto", "container", "wheels"]
STALE_EXIT_CODE = 6  # `lock --check`: the lock file is not what its input resolves to
INPUT_FILE = "requirements.in"
PYPROJECT = "pyproject.toml"
INPUT_DIGEST_PREFIX = "# input-sha256: "
# Header lines that say *how* the file was made rather than *what* it pins: --check ignores
# them, so a lock made in the container is not stale in a CI job that resolves with uv.
_TOOL_LINE_PREFIX = "# resolved with: "

# Inside the lock container (paths of the container, not of this host).
_SOURCE = PurePosixPath("/src")  # the app, read-only
_WORK = PurePosixPath("/lockwork")  # read-write: the existing lock, the output, a pyproject .in
_SCRATCH = PurePosixPath("/tmp/azpublish-src")  # noqa: S108  # a writable copy of /src
_NOT_COPIED = (".git", ".venv", "venv", ".python_packages", "node_modules", "__pycache__",
               ".mypy_cache", ".pytest_cache", ".tox", ".nox")
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
class LockInput:
    path: Path  # the file handed to the resolver
    label: str  # how the lock names it: "requirements.in" or "pyproject.toml"
    digest: str


@dataclass(frozen=True)
class LockResult:
    text: str  # the whole lock file, header included
    engine: str  # "container" | "wheels"
    tool: str  # e.g. "uv 0.13.8"


@dataclass(frozen=True)
class CheckResult:
    up_to_date: bool
    diff: str  # unified diff, current file -> fresh lock; empty when up to date


# -- the input -----------------------------------------------------------------------------------


def input_digest(root: Path) -> str:
    """sha256 of the lock's input: requirements.in with its ``-r``/``-c`` includes (path and
    content of each), else the ``[project] dependencies`` list. Cheap: resolves nothing."""
    requirements_in = root / INPUT_FILE
    digest = hashlib.sha256()
    if requirements_in.is_file():
        for path in read_requirements(requirements_in).files:
            digest.update(_relative(path, root).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()
    for dependency in pyproject_dependencies(root):
        digest.update(dependency.encode() + b"\n")
    return digest.hexdigest()


def read_project_table(path: Path) -> dict[str, Any]:
    """pyproject.toml's ``[project]`` table ({} when there is none)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProjectError(f"not valid TOML: {error}", where=str(path),
                           fix="fix the file's syntax") from None
    project = document.get("project")
    return project if isinstance(project, dict) else {}


def requires_python_target(root: Path) -> str | None:
    """The lowest Functions Python that ``requires-python`` in pyproject.toml allows, or None
    when it says nothing."""
    path = root / PYPROJECT
    if not path.is_file():
        return None
    text = read_project_table(path).get("requires-python")
    if not isinstance(text, str):
        return None
    try:
        allowed = SpecifierSet(text)
    except InvalidSpecifier:
        raise ProjectError(f"requires-python {text!r} is not a version specifier",
                           where=str(path), fix='write it as e.g. ">=3.11"') from None
    # A minor version fits when any of its releases does (">=3.13.1" allows 3.13).
    matching = [v for v in SUPPORTED_PYTHONS
                if any(allowed.contains(f"{v}.{patch}", prereleases=True) for patch in range(30))]
    if not matching:
        raise ProjectError(f"requires-python {text!r} allows no Functions Python "
                           f"({', '.join(SUPPORTED_PYTHONS)})", where=str(path),
                           fix="widen requires-python, or pass --python-version")
    return matching[0]


def pyproject_dependencies(root: Path) -> list[str]:
    path = root / PYPROJECT
    if not path.is_file():
        raise ProjectError(f"nothing to lock: no {INPUT_FILE} and no {PYPROJECT}", where=str(root),
                           fix=f"list the app's direct dependencies in {INPUT_FILE} (one per "
                               f"line, as in requirements.txt), or in [project] dependencies "
                               f"of {PYPROJECT}")
    project = read_project_table(path)
    dependencies = project.get("dependencies")
    if dependencies is None:
        raise ProjectError(f"nothing to lock: no {INPUT_FILE}, and {PYPROJECT} has no "
                           "[project] dependencies", where=str(path),
                           fix=f"add a {INPUT_FILE} with the app's direct dependencies, or "
                               "list them in [project] dependencies")
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise ProjectError("[project] dependencies must be a list of strings", where=str(path),
                           fix='write it as dependencies = ["requests>=2", ...]')
    return list(dependencies)


@contextlib.contextmanager
def lock_input(root: Path) -> Iterator[LockInput]:
    """requirements.in itself, or a temporary .in holding pyproject's dependencies."""
    requirements_in = root / INPUT_FILE
    if requirements_in.is_file():
        yield LockInput(requirements_in, INPUT_FILE, input_digest(root))
        return
    dependencies = pyproject_dependencies(root)
    with tempfile.TemporaryDirectory(prefix="azpublish-lock-input-") as folder:
        path = Path(folder) / "pyproject-dependencies.in"
        path.write_text("".join(f"{d}\n" for d in dependencies), encoding="utf-8")
        yield LockInput(path, PYPROJECT, input_digest(root))


# -- locking -------------------------------------------------------------------------------------


def lock(request: LockRequest, log: Callable[[str], None]) -> LockResult:
    """Resolve the input for the target; the lock file's text (nothing is written)."""
    _register_index_secrets(request.index_env)
    engine = choose_engine(request, log)
    with lock_input(request.root) as source, \
            tempfile.TemporaryDirectory(prefix="azpublish-lock-") as folder:
        work = Path(folder)
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
    """The engine ``auto`` stands for: container when a Docker daemon answers, else wheels."""
    if request.engine != "auto":
        return request.engine
    from azpublish.build.container import ContainerEngine, connect

    try:
        connect().close()
        # The image must be usable too (its base may not be available here); built once.
        ContainerEngine(base_image=request.base_image,
                        build_image=request.build_image).ensure_image(request.target, log)
    except BuildError as error:
        log(f"the container engine is not usable ({error.what.splitlines()[0]}); resolving "
            f"with uv for {request.target.describe()} instead")
        return "wheels"
    return "container"


def header(request: LockRequest, source: LockInput, engine: str, tool: str) -> str:
    from azpublish.build.wheels import uv_platform

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
    name = _relative(path, request.root)
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


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _register_index_secrets(index_env: Mapping[str, str]) -> None:
    for name, value in index_env.items():
        register_url_credentials(value)
        if any(word in name.upper() for word in ("PASSWORD", "TOKEN", "SECRET")):
            register_secret(value)


def _resolution_flags(request: LockRequest) -> list[str]:
    flags = ["--upgrade"] if request.upgrade else []
    for package in request.upgrade_packages:
        flags += ["--upgrade-package", package]
    return flags


# -- the wheels engine: uv on the host ---------------------------------------------------------


def _compile_with_uv(request: LockRequest, source: LockInput, work: Path,
                     log: Callable[[str], None]) -> tuple[str, str]:
    from azpublish.build.wheels import WheelsEngine, find_uv, pip_settings, uv_platform

    uv = find_uv()
    if uv is None:
        raise BuildError("uv is not installed", where="--engine wheels",
                         fix="install it (pip install uv), or use --engine container")
    engine = WheelsEngine()
    install_request = InstallRequest(project_root=request.root,
                                     requirement_files=(source.path,), target=request.target,
                                     installer="uv", index_env=request.index_env, output=work)
    settings = pip_settings(request.index_env)
    for value in settings.values():
        register_url_credentials(value)
    # The wheels engine's translation of pip's settings into uv's variables, as for a build.
    env = engine._env(install_request, settings, [])
    output = work / "requirements.txt"
    # uv has no variable for --no-index (UV_NO_INDEX is not read by `uv pip`): a flag.
    no_index = ["--no-index"] if settings.get("no-index", "").lower() in (
        "1", "true", "yes", "on") else []
    env["UV_PYTHON_DOWNLOADS"] = "never"
    # --python: this interpreter builds any sdist's metadata; without it uv searches (and
    # tries to download) one of the target version, while --python-version alone decides
    # the markers.
    command = [uv, "pip", "compile", str(source.path), "--output-file", str(output),
               "--python", sys.executable, *no_index,
               "--python-platform", uv_platform(request.target),
               "--python-version", request.python_version, "--generate-hashes", "--no-header",
               "--no-progress", "--quiet", *_resolution_flags(request)]
    log(f"resolving {source.label} with uv for {request.target.describe()}")
    result = subprocess.run(command, cwd=request.root, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, encoding="utf-8",
                            errors="replace", check=False)
    lines = [redact(line) for line in result.stderr.splitlines() if line.strip()]
    for line in lines:
        log(line)
    if result.returncode != 0 or not output.is_file():
        raise BuildError(f"uv could not resolve {source.label} for {request.target.describe()} "
                         f"(exit {result.returncode}):\n" + "\n".join(lines[-_OUTPUT_TAIL:]),
                         where=str(request.root / source.label),
                         fix="fix the requirement named above, or the index settings "
                             "(--pip-extra-index-url, PIP_INDEX_URL)")
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    tool = " ".join(version.stdout.split()[:2]) or "uv"
    return output.read_text(encoding="utf-8"), tool


# -- the container engine: pip-tools in the build image ------------------------------------------


def _compile_in_container(request: LockRequest, source: LockInput, work: Path,
                          log: Callable[[str], None]) -> tuple[str, str]:
    from azpublish.build.container import LABEL_PIP, ContainerEngine, container_index_env

    engine = ContainerEngine(base_image=request.base_image, build_image=request.build_image)
    image_id = engine.ensure_image(request.target, log)
    client = engine._docker()
    pip_version = (client.images.get(image_id).labels or {}).get(LABEL_PIP, "")
    tools_version = _pip_tools_bundle(request.python_version, work / "tools")

    if source.label == PYPROJECT:
        shutil.copyfile(source.path, work / source.path.name)
        input_argument = str(_WORK / source.path.name)
    else:
        input_argument = _relative(source.path, request.root)
    compile_command = ["python", "-m", "piptools", "compile", "--generate-hashes",
                       "--resolver=backtracking", "--strip-extras", "--allow-unsafe",
                       "--no-header", "--no-emit-index-url", "--no-emit-trusted-host",
                       "--no-emit-find-links", "--no-emit-options", "--quiet",
                       *_resolution_flags(request),
                       "--output-file", str(_WORK / "requirements.txt"), input_argument]
    script = (
        "set -e; "
        f"mkdir -p {_SCRATCH}; "
        f"tar -C {_SOURCE} {' '.join(f'--exclude=./{n}' for n in _NOT_COPIED)} -cf - . "
        f"| tar -C {_SCRATCH} -xf -; "
        f"cd {_SCRATCH}; "
        f"PYTHONPATH={_WORK / 'tools'} exec {shlex.join(compile_command)}")
    environment, host_files = container_index_env(request.index_env, "pip")
    environment = {**environment, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "NO_COLOR": "1"}
    mounts = {str(request.root.resolve()): (str(_SOURCE), True),
              str(work): (str(_WORK), False),
              **{outside: (inside, True) for outside, inside in host_files.items()}}
    log(f"resolving {source.label} with pip-tools {tools_version} in {image_id[7:19]} "
        f"(Python {request.python_version})")
    status, tail = run_in_image(client, image_id, ["sh", "-c", script], environment, mounts,
                                engine.run_as, log)
    output = work / "requirements.txt"
    if status != 0 or not output.is_file():
        raise BuildError(f"pip-compile could not resolve {source.label} for "
                         f"{request.target.describe()} in the build container (exit {status}):\n"
                         + "\n".join(tail), where=str(request.root / source.label),
                         fix="fix the requirement named above, or the index settings "
                             "(--pip-extra-index-url, PIP_INDEX_URL)")
    return (output.read_text(encoding="utf-8"),
            f"pip-tools {tools_version}, pip {pip_version or 'of the image'}")


def run_in_image(client: Any, image_id: str, command: Sequence[str],
                 environment: Mapping[str, str], mounts: Mapping[str, tuple[str, bool]],
                 user: tuple[int, int], log: Callable[[str], None]) -> tuple[int, list[str]]:
    """Run ``command`` in a throwaway container of ``image_id`` on the host network, as
    ``user``, with ``mounts`` (host path -> (container path, read-only)) and ``environment``;
    its exit status and the last lines of its output, redacted (each also given to ``log``)."""
    from docker.types import Mount

    from azpublish.build.container import CACHE_MOUNT, _docker_errors, _docker_failure, _lines

    bind = [Mount(inside, outside, type="bind", read_only=read_only)
            for outside, (inside, read_only) in sorted(mounts.items())]
    bind.append(Mount(CACHE_MOUNT, f"azpublish-cache-{user[0]}", type="volume"))
    tail: list[str] = []
    try:
        container = client.containers.create(
            image_id, command=list(command), environment=dict(environment), working_dir="/",
            user=f"{user[0]}:{user[1]}", mounts=bind, network_mode="host",
            labels={"org.azpublish.role": "lock"})
    except _docker_errors() as error:
        raise _docker_failure(error, "creating the lock container") from None
    try:
        container.start()
        for line in _lines(container.logs(stream=True, follow=True)):
            safe = redact(line)
            tail = [*tail[-(_OUTPUT_TAIL - 1):], safe]
            log(safe)
        status = int(container.wait().get("StatusCode", 1))
    except _docker_errors() as error:
        raise _docker_failure(error, "running the lock container") from None
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
    return status, tail


def _pip_tools_bundle(python_version: str, folder: Path) -> str:
    """Copy this installation's pip-tools and the pure-Python packages it needs on the target
    (pip excepted: the image has its own) into ``folder``, for the container's PYTHONPATH.
    No index is involved, whatever the app's index settings are; the pip-tools version is the
    host's. Its version."""
    from azpublish.build.wheels import target_environment
    from azpublish.distributions import dependency_closure

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
