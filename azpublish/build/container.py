"""The container engine: installs the requirements inside a Debian container of the target Python.

The image comes from the top-level ``Dockerfile.build`` (built once per Dockerfile, base image,
Python version and extra packages, then reused by tag) or is a ready ``--build-image``. The
install runs with the requirement files' common folder mounted read-only, the output folder
mounted read-write, as the invoking user, on the host network (no bridge on these machines).

Index settings (the request's ``index_env`` plus the host's non-secret pip configuration) reach
the installer only as environment variables of a container that is removed afterwards; files
they name on the host (CA bundles, find-links folders, ``file:`` indexes) are mounted read-only.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from azpublish.build.availability import (
    build_failed,
    find_build_failure,
    find_missing,
    where_listed,
)
from azpublish.build.engine import InstallRequest
from azpublish.build.wheels import WheelsEngine
from azpublish.errors import BuildError
from azpublish.redact import redact, register_secret, register_url_credentials
from azpublish.runtime import Target

# Shipped inside the package (a link to the top-level Dockerfile.build in the repository), so a
# non-editable install, such as the GitHub Action's, finds it too.
DOCKERFILE = Path(__file__).with_name("Dockerfile.build")
IMAGE_REPOSITORY = "azpublish-build"
LABEL_HASH = "org.azpublish.dockerfile-sha256"
LABEL_PIP = "org.azpublish.pip-version"
LABEL_UV = "org.azpublish.uv-version"
DEFAULT_BASE = "python:{version}-slim-bookworm"
PROVISION_HINT = ("build the local base images with `sudo bash scripts/provision-docker.sh`, "
                  "or pass --base-image IMAGE (env AZPUBLISH_BASE_IMAGE) naming an image "
                  "this Docker engine has or can pull")

# Fixed paths inside the container.
SOURCE_MOUNT = PurePosixPath("/src")
OUTPUT_MOUNT = PurePosixPath("/out")
# A writable copy of /src the install runs in (a path inside the container, not this host).
SCRATCH = PurePosixPath("/tmp/azpublish-src")  # noqa: S108
HOST_MOUNT = PurePosixPath("/host")  # host files the index settings name, at /host/<path>
REQUIREMENTS_MOUNT = PurePosixPath("/opt/azpublish/requirements")  # rewritten requirement files
CACHE_MOUNT = "/var/cache/azpublish"  # PIP_CACHE_DIR and UV_CACHE_DIR live here (Dockerfile)
OUTPUT_TAIL_LINES = 40
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PROBE_TIMEOUT = 10.0  # seconds

# Network settings of pip that an install needs; everything else on the host (PIP_TARGET,
# PIP_USER, PIP_REQUIRE_VIRTUALENV...) would change what gets installed, so it stays out.
_PIP_KEYS = ("index-url", "extra-index-url", "find-links", "trusted-host", "cert", "client-cert",
             "no-index", "timeout", "default-timeout", "retries", "proxy", "pre")
_PATH_LIST_KEYS = {"PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL"}
# Never needed by an install, often large: left out of the scratch copy.
_NOT_COPIED = (".git", ".venv", "venv", ".python_packages", "node_modules", "__pycache__",
               ".mypy_cache", ".pytest_cache", ".tox", ".nox")
_CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")


class ContainerEngine:
    """``Engine`` that runs pip or uv in a container built from ``Dockerfile.build``."""

    name = "container"

    def __init__(self, *, base_image: str | None = None, build_image: str | None = None,
                 additional_packages: tuple[str, ...] = (),
                 client_factory: Callable[[], Any] | None = None,
                 dockerfile: Path = DOCKERFILE, run_as: tuple[int, int] | None = None) -> None:
        self.base_image = base_image
        self.build_image = build_image
        self.additional_packages = tuple(additional_packages)
        self._client_factory = client_factory
        self._dockerfile = dockerfile
        # uid:gid of the installer, so the output belongs to the invoking user.
        self.run_as = run_as or (os.getuid(), os.getgid())
        self._client: Any = None
        self._images: dict[str, Any] = {}  # python version -> docker Image
        self.last_container_id: str | None = None  # for tests and diagnostics

    # -- the Engine protocol ---------------------------------------------------------------------

    def identity(self, request: InstallRequest) -> Mapping[str, str]:
        image = self._image(request.target, log=None)
        labels = image.labels or {}
        installer_version = labels.get(LABEL_UV if request.installer == "uv" else LABEL_PIP, "")
        return {"engine": self.name, "image_id": str(image.id),
                "python_version": request.target.python_version,
                "platform": f"linux/{request.target.machine}", "installer": request.installer,
                "installer_version": installer_version}

    def install(self, request: InstallRequest, log: Callable[[str], None]) -> None:
        self.last_container_id = None
        image = self._image(request.target, log)
        plan = _RunPlan.make(request)
        client = self._docker()
        log(f"installing requirements with {request.installer} in {_short(image.id)} "
            f"(Python {request.target.python_version})")
        container = self._create(client, image, plan)
        self.last_container_id = str(container.id)
        tail: list[str] = []
        try:
            container.start()
            for line in _lines(container.logs(stream=True, follow=True)):
                safe = redact(line)
                tail = [*tail[-(OUTPUT_TAIL_LINES - 1):], safe]
                log(safe)
            status = int(container.wait().get("StatusCode", 1))
        except _docker_errors() as error:
            raise _docker_failure(error, "running the installer container") from None
        finally:
            _remove(container)
        if status != 0:
            raise _install_failure(request, plan.main_file, status, tail, log)
        # uv's lock file for the target folder is no part of the app.
        lock = plan.output / ".lock"
        if request.installer == "uv" and lock.is_file() and lock.stat().st_size == 0:
            lock.unlink()

    # -- the image ---------------------------------------------------------------------------------

    def ensure_image(self, target: Target, log: Callable[[str], None] | None = None) -> str:
        """Build or reuse the build image for ``target``; its id."""
        return str(self._image(target, log).id)

    def _image(self, target: Target, log: Callable[[str], None] | None) -> Any:
        cached = self._images.get(target.python_version)
        if cached is not None:
            return cached
        client = self._docker()
        if self.build_image:
            image = self._ready_image(client, self.build_image)
        else:
            image = self._built_image(client, target,
                                      log if log is not None else (lambda _line: None))
        self._images[target.python_version] = image
        return image

    def _ready_image(self, client: Any, name: str) -> Any:
        import docker.errors

        try:
            return client.images.get(name)
        except docker.errors.ImageNotFound:
            raise BuildError(f"the build image {name!r} is not in this Docker engine",
                             where="--build-image",
                             fix=f"pull or build it first (docker pull {name}), or drop "
                                 "--build-image to let azpublish build one") from None
        except _docker_errors() as error:
            raise _docker_failure(error, f"looking up the build image {name!r}") from None

    def _built_image(self, client: Any, target: Target, log: Callable[[str], None]) -> Any:
        import docker.errors

        recipe = _Recipe.make(self._dockerfile, target, self.base_image,
                              self.additional_packages)
        try:
            image = client.images.get(recipe.tag)
            if (image.labels or {}).get(LABEL_HASH) == recipe.digest:
                return image
        except docker.errors.ImageNotFound:
            pass
        except _docker_errors() as error:
            raise _docker_failure(error, "looking up the build image") from None
        log(f"building {recipe.tag} from {self._dockerfile.name} on {recipe.base_image}")
        with tempfile.TemporaryDirectory(prefix="azpublish-build-context-") as folder:
            context = Path(folder)
            shutil.copyfile(self._dockerfile, context / "Dockerfile.build")
            _fetch_wheelhouse(context / "wheelhouse", recipe, log)
            self._run_build(client, context, recipe, log)
        try:
            return client.images.get(recipe.tag)
        except _docker_errors() as error:
            raise _docker_failure(error, "reading the image just built") from None

    def _run_build(self, client: Any, context: Path, recipe: _Recipe,
                   log: Callable[[str], None]) -> None:
        tail: list[str] = []
        failure: str | None = None
        try:
            for chunk in client.api.build(
                    path=str(context), dockerfile="Dockerfile.build", tag=recipe.tag,
                    buildargs=recipe.build_args, network_mode="host", rm=True, forcerm=True,
                    decode=True):
                text = str(chunk.get("stream") or chunk.get("status") or "")
                for line in text.splitlines():
                    if line.strip():
                        safe = redact(line.rstrip())
                        tail = [*tail[-(OUTPUT_TAIL_LINES - 1):], safe]
                        log(safe)
                if "error" in chunk:
                    failure = redact(str(chunk["error"]).strip())
        except _docker_errors() as error:
            raise _docker_failure(error, f"building {recipe.tag}") from None
        if failure is None:
            return
        if not self._has_image(client, recipe.base_image):
            raise BuildError(
                f"the base image {recipe.base_image!r} is not available ({failure})",
                where="Dockerfile.build: FROM ${BASE_IMAGE}", fix=PROVISION_HINT)
        raise BuildError(f"building the build image {recipe.tag} failed: {failure}\n"
                         + "\n".join(tail),
                         where=f"{self._dockerfile} (BASE_IMAGE={recipe.base_image})",
                         fix="read the failing step above; a missing Debian package can be "
                             "added with --additional-packages, another base with --base-image")

    @staticmethod
    def _has_image(client: Any, name: str) -> bool:
        try:
            client.images.get(name)
        except Exception:  # any failure means "not usable here"
            return False
        return True

    # -- the container -----------------------------------------------------------------------------

    def _create(self, client: Any, image: Any, plan: _RunPlan) -> Any:
        from docker.types import Mount

        mounts = [Mount(str(SOURCE_MOUNT), str(plan.source_root), type="bind", read_only=True),
                  Mount(str(OUTPUT_MOUNT), str(plan.output), type="bind", read_only=False),
                  Mount(CACHE_MOUNT, f"azpublish-cache-{self.run_as[0]}", type="volume")]
        mounts += [Mount(inside, outside, type="bind", read_only=True)
                   for outside, inside in sorted(plan.host_files.items())]
        try:
            return client.containers.create(
                image.id, command=plan.command, environment=dict(plan.environment),
                working_dir=plan.working_dir, user="{}:{}".format(*self.run_as),
                mounts=mounts, network_mode="host", labels={"org.azpublish.role": "install"})
        except _docker_errors() as error:
            raise _docker_failure(error, "creating the installer container") from None

    def _docker(self) -> Any:
        if self._client is None:
            self._client = connect(self._client_factory)
        return self._client


# -- connecting --------------------------------------------------------------------------------


def connect(factory: Callable[[], Any] | None = None) -> Any:
    """A docker client that has answered a ping, or ``BuildError`` saying what to do."""
    try:
        import docker
    except ImportError:
        raise BuildError("the docker Python package is not installed",
                         fix="pip install docker, or use --engine wheels") from None
    client = None
    try:
        if factory is None:
            _probe_daemon()
            factory = docker.from_env
        client = factory()
        client.ping()
    except _docker_errors() as error:
        # A client whose ping failed may still pool a connection, and nobody else will ever
        # see this client: close it here.
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        raise _docker_failure(error, "connecting to Docker") from None
    return client


def _probe_daemon() -> None:
    """Connect to a unix-socket daemon ourselves first: docker-py leaks its socket when the
    connection fails, and an OSError here says precisely what is wrong."""
    host = os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    if not host.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_TIMEOUT)
        probe.connect(host.removeprefix("unix://"))


def _docker_errors() -> tuple[type[BaseException], ...]:
    import docker.errors
    import requests

    return (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def _docker_failure(error: BaseException, doing: str) -> BuildError:
    text = redact(str(error))
    host = os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    if "Permission denied" in text or isinstance(error, PermissionError):
        return BuildError(f"{doing}: permission denied on the Docker socket ({text})",
                          where=host,
                          fix="add yourself to the docker group (sudo usermod -aG docker "
                              "$USER, then log in again), or use --engine wheels")
    if any(sign in text for sign in ("No such file or directory", "Connection refused",
                                      "Connection aborted", "Max retries exceeded")):
        return BuildError(f"{doing}: no Docker daemon answers ({text})", where=host,
                          fix="start Docker (systemctl start docker, or dockerd), check "
                              "DOCKER_HOST, or use --engine wheels / --build remote")
    return BuildError(f"{doing} failed: {text}", where=host,
                      fix="check that the Docker engine works (docker info)")


def _install_failure(request: InstallRequest, main_file: Path, status: int, tail: list[str],
                     log: Callable[[str], None]) -> BuildError:
    """Name the package the installer's output blames, and what would fix it."""
    missing = find_missing(tail, request.installer)
    if missing is not None:
        # Listed with the host's pip and the same index settings (the container shares the
        # host network); no source fix to offer: this build compiles sdists already.
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


def _remove(container: Any) -> None:
    # The run's own outcome matters more than its cleanup.
    with contextlib.suppress(Exception):
        container.remove(force=True)


def _lines(stream: Iterable[bytes]) -> Iterator[str]:
    """Whole lines from docker's log chunks, which split lines anywhere."""
    pending = b""
    for chunk in stream:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace")


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


# -- the image recipe --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Recipe:
    tag: str
    digest: str
    base_image: str
    python_version: str
    pip_version: str
    uv_version: str
    build_args: dict[str, str]

    @classmethod
    def make(cls, dockerfile: Path, target: Target, base_image: str | None,
             packages: tuple[str, ...]) -> _Recipe:
        try:
            text = dockerfile.read_text(encoding="utf-8")
        except OSError as error:
            raise BuildError(f"cannot read the build image recipe: {error.strerror}",
                             where=str(dockerfile),
                             fix="reinstall azpublish from its source tree, or pass "
                                 "--build-image IMAGE") from None
        base = base_image or DEFAULT_BASE.format(version=target.python_version)
        for package in packages:
            if not re.fullmatch(r"[a-z0-9][a-z0-9+.\-:=~]*", package):
                raise BuildError(f"{package!r} is not a Debian package name",
                                 where="--additional-packages",
                                 fix="give Debian package names separated by spaces")
        extra = " ".join(packages)
        digest = hashlib.sha256("\0".join(
            [text, base, target.python_version, target.machine, extra]).encode()).hexdigest()
        return cls(tag=f"{IMAGE_REPOSITORY}:py{target.python_version}-{digest[:16]}",
                   digest=digest, base_image=base, python_version=target.python_version,
                   pip_version=_arg_default(text, "PIP_VERSION"),
                   uv_version=_arg_default(text, "UV_VERSION"),
                   build_args={"PYTHON_VERSION": target.python_version, "BASE_IMAGE": base,
                               "ADDITIONAL_PACKAGES": extra, "DOCKERFILE_SHA256": digest})


def _arg_default(dockerfile_text: str, name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", dockerfile_text, re.MULTILINE)
    if not match:
        raise BuildError(f"ARG {name}=... is missing", where="Dockerfile.build",
                         fix="restore the pinned installer versions in Dockerfile.build")
    return match.group(1)


def _fetch_wheelhouse(folder: Path, recipe: _Recipe, log: Callable[[str], None]) -> None:
    """pip and uv wheels for the image, fetched here with the host's own pip settings, so the
    image build needs no index configuration (and never sees a credential)."""
    folder.mkdir()
    major, minor = recipe.python_version.split(".")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
               "--implementation", "cp", "--python-version", f"{major}.{minor}",
               "--dest", str(folder), f"pip=={recipe.pip_version}", f"uv=={recipe.uv_version}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        # The image then installs them from its default index (ordinary internet access).
        for wheel in folder.iterdir():
            wheel.unlink()
        log("could not fetch pip and uv on this machine; the image build will download them: "
            + redact(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""))


# -- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunPlan:
    source_root: Path  # mounted read-only at /src
    main_file: Path
    output: Path
    working_dir: str
    command: list[str]
    environment: Mapping[str, str] = field(repr=False)
    host_files: Mapping[str, str]  # host path -> path in the container

    @classmethod
    def make(cls, request: InstallRequest) -> _RunPlan:
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

        requirement = str(inside(main))
        environment, host_files = container_index_env(request.index_env, request.installer)
        if request.copies:  # rewritten requirement files, mounted over a layout of their own
            base = Path(os.path.commonpath([str(c.parent) for c in request.copies.values()]))
            for copy in request.copies.values():
                host_files[str(copy)] = str(REQUIREMENTS_MOUNT / copy.relative_to(base).as_posix())
            requirement = host_files[str(request.main_file)]
        if request.installer == "uv":
            installer = ["uv", "pip", "install", "--python", "python", "--target",
                         str(OUTPUT_MOUNT), "--link-mode", "copy", "-r", requirement]
        else:
            installer = ["python", "-m", "pip", "install", "--no-input", "--progress-bar", "off",
                         "--target", str(OUTPUT_MOUNT), "-r", requirement]
        excluded = [*_NOT_COPIED]
        if output.is_relative_to(source_root):
            excluded.append("./" + output.relative_to(source_root).as_posix())
        return cls(source_root=source_root, main_file=main, output=output,
                   working_dir="/", command=_copy_then_run(excluded, inside(main.parent),
                                                            installer),
                   environment=environment, host_files=host_files)


def _copy_then_run(excluded: list[str], working_dir: PurePosixPath,
                   installer: list[str]) -> list[str]:
    """The container's command: copy the read-only source to a scratch folder, then install.

    Building a local path requirement writes into its folder (egg-info, build/), which the
    read-only mount refuses; the copy leaves the user's tree untouched whatever the backend.
    """
    excludes = " ".join(f"--exclude={shlex.quote(pattern)}" for pattern in excluded)
    script = (f"set -e; mkdir -p {SCRATCH}; "
              f"tar -C {SOURCE_MOUNT} {excludes} -cf - . | tar -C {SCRATCH} -xf -; "
              f"cd {shlex.quote(str(working_dir))}; exec \"$@\"")
    return ["sh", "-c", script, "azpublish-install", *installer]


def host_pip_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The host's network-related pip settings as ``PIP_*`` variables: pip's configuration
    files (global, then user, then PIP_CONFIG_FILE), overridden by ``PIP_*`` variables."""
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME", str(Path.home())))
    xdg = environ.get("XDG_CONFIG_HOME", str(home / ".config"))
    files = [Path("/etc/xdg/pip/pip.conf"), Path("/etc/pip.conf"), home / ".pip/pip.conf",
             Path(xdg) / "pip/pip.conf"]
    if environ.get("PIP_CONFIG_FILE"):
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    settings: dict[str, str] = {}
    for path in files:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue  # pip itself would complain; the host settings are a convenience
        for section in ("global", "install"):
            if parser.has_section(section):
                for key in _PIP_KEYS:
                    if parser.has_option(section, key):
                        settings[_variable(key)] = " ".join(parser.get(section, key).split())
    for key in _PIP_KEYS:
        if environ.get(_variable(key)):
            settings[_variable(key)] = environ[_variable(key)]
    return settings


def _variable(key: str) -> str:
    return "PIP_" + key.upper().replace("-", "_")


def container_index_env(index_env: Mapping[str, str], installer: str,
                        host: Mapping[str, str] | None = None,
                        ) -> tuple[dict[str, str], dict[str, str]]:
    """(environment for the installer container, host path -> container path to mount).

    The host's pip settings are the base and ``index_env`` wins. Credentials in URLs are
    registered with the redactor. Local paths are rewritten to ``/host/<path>``; the CA bundle
    is given to every variable pip, requests, uv and OpenSSL read.
    """
    merged = {**(host_pip_settings() if host is None else host), **index_env}
    for value in merged.values():
        register_url_credentials(value)
    for key in ("PIP_PASSWORD", "UV_INDEX_PASSWORD"):
        register_secret(merged.get(key))
    host_files: dict[str, str] = {}

    def mapped(path: str, *, with_parent: bool = False) -> str | None:
        local = Path(unquote(path)).resolve()
        if not local.exists():
            return None
        # A file: index's pages link to files beside it (../../files/...): mount its parent.
        mount = local.parent if with_parent and local.parent != local else local
        host_files[str(mount)] = str(HOST_MOUNT / mount.relative_to("/").as_posix())
        return str(HOST_MOUNT / local.relative_to("/").as_posix())

    def rewrite(value: str) -> str:
        words = []
        for word in value.split():
            parts = urlsplit(word)
            if parts.scheme == "file":
                moved = mapped(parts.path, with_parent=True)
                words.append(f"file://{moved}" if moved else word)
            elif not parts.scheme and word.startswith("/"):
                words.append(mapped(word) or word)
            else:
                words.append(word)
        return " ".join(words)

    env = {key: rewrite(value) if key in _PATH_LIST_KEYS else value
           for key, value in merged.items()}
    ca = next((merged[key] for key in _CA_VARIABLES if merged.get(key)), None)
    for key in _CA_VARIABLES:
        env.pop(key, None)
    if ca and (inside := mapped(ca)):
        env.update(dict.fromkeys(("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"), inside))
    if installer == "uv":
        env.update(_uv_equivalents(env))
    return env, host_files


def _uv_equivalents(env: Mapping[str, str]) -> dict[str, str]:
    """uv does not read PIP_*; it gets the same settings under its own names, and pip's rule of
    picking the best version across all indexes."""
    uv: dict[str, str] = {"UV_INDEX_STRATEGY": "unsafe-best-match", "UV_NO_PROGRESS": "1"}
    names = {"PIP_INDEX_URL": "UV_INDEX_URL", "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
             "PIP_FIND_LINKS": "UV_FIND_LINKS", "PIP_TRUSTED_HOST": "UV_INSECURE_HOST",
             "PIP_NO_INDEX": "UV_NO_INDEX", "PIP_DEFAULT_TIMEOUT": "UV_HTTP_TIMEOUT",
             "PIP_TIMEOUT": "UV_HTTP_TIMEOUT"}
    for pip_name, uv_name in names.items():
        if env.get(pip_name):
            uv[uv_name] = env[pip_name]
    if "UV_FIND_LINKS" in uv:  # uv separates them with commas
        uv["UV_FIND_LINKS"] = ",".join(uv["UV_FIND_LINKS"].split())
    return uv
