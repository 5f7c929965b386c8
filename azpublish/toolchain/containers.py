"""The one way azpublish runs a container: connect (with a probe that says what is wrong), create
with explicit mounts, environment, user and network, stream or collect the output redacted,
and always remove the container, which takes the environment (and any credential) with it."""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from azpublish.cleanup import held, shielded
from azpublish.errors import BuildError
from azpublish.redact import redact

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PROBE_TIMEOUT = 10.0  # seconds
OUTPUT_TAIL_LINES = 40
# The installers' caches (PIP_CACHE_DIR and UV_CACHE_DIR point here in Dockerfile.build), kept
# in a named volume per uid so that the cached files belong to whoever runs the installer.
CACHE_MOUNT = "/var/cache/azpublish"
# The app's folder, mounted read-only, and the writable copy of it a command runs in (paths
# inside the container, not on this host).
SOURCE_MOUNT = PurePosixPath("/src")
SCRATCH = PurePosixPath("/tmp/azpublish-src")  # noqa: S108
HOST_MOUNT = PurePosixPath("/host")  # host files the package sources name, at /host/<path>
# Never needed by an install or a resolution, often large: left out of the scratch copy.
NOT_COPIED = (".git", ".venv", "venv", ".python_packages", "node_modules", "__pycache__",
              ".mypy_cache", ".pytest_cache", ".tox", ".nox")


@dataclass(frozen=True)
class Mount:
    target: str  # the path inside the container
    source: str  # a host path (bind) or a volume name
    read_only: bool = True
    volume: bool = False


@dataclass(frozen=True)
class ContainerRun:
    image: str
    command: Sequence[str]
    role: str  # the org.azpublish.role label: install, lock, preflight
    doing: str  # for messages: "running the installer container"
    mounts: Sequence[Mount] = ()
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    user: tuple[int, int] = field(default_factory=lambda: (os.getuid(), os.getgid()))
    working_dir: str = "/"
    network: Literal["host", "none"] = "host"  # no bridge on these machines
    installer_cache: bool = False  # mount the uid's cache volume at CACHE_MOUNT
    timeout: float | None = None  # only without streaming: then the container is killed


@dataclass(frozen=True)
class RunOutcome:
    status: int  # -1 when it timed out
    tail: tuple[str, ...] = ()  # streamed runs: the last lines, redacted
    stdout: bytes = b""  # collected runs
    stderr: bytes = b""
    timed_out: bool = False


class ContainerRunner:
    """Holds one docker client (connected on first use) for every run and image of a build."""

    def __init__(self, client_factory: Callable[[], Any] | None = None) -> None:
        self._factory = client_factory
        self._client: Any = None
        self.last_container_id: str | None = None  # for tests and diagnostics

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self._factory)
        return self._client

    def run(self, spec: ContainerRun, log: Callable[[str], None] | None = None) -> RunOutcome:
        """Run ``spec`` to its end. With ``log``, output is streamed to it (stdout and stderr
        together, redacted); without, it is collected apart, and ``spec.timeout`` applies."""
        from docker.types import Mount as DockerMount

        self.last_container_id = None
        mounts = [DockerMount(m.target, m.source, type="volume" if m.volume else "bind",
                              read_only=m.read_only)
                  for m in sorted(spec.mounts, key=lambda m: m.target)]
        if spec.installer_cache:
            mounts.append(DockerMount(CACHE_MOUNT, f"azpublish-cache-{spec.user[0]}",
                                      type="volume"))
        try:
            with contextlib.ExitStack() as stack:
                # The container holds the credential: no signal between creating and holding it.
                with shielded():
                    container = self.client.containers.create(
                        spec.image, command=list(spec.command),
                        environment=dict(spec.environment), working_dir=spec.working_dir,
                        user="{}:{}".format(*spec.user), mounts=mounts,
                        network_mode=spec.network, labels={"org.azpublish.role": spec.role})
                    self.last_container_id = str(container.id)
                    stack.enter_context(held(f"removing the {spec.role} container "
                                             f"{short_id(container.id)}", removing(container)))
                container.start()
                if log is not None:
                    return self._streamed(container, log)
                return self._collected(container, spec.timeout)
        except docker_errors() as error:
            raise docker_failure(error, spec.doing) from None

    @staticmethod
    def _streamed(container: Any, log: Callable[[str], None]) -> RunOutcome:
        tail: list[str] = []
        for line in log_lines(container.logs(stream=True, follow=True)):
            safe = redact(line)
            tail = [*tail[-(OUTPUT_TAIL_LINES - 1):], safe]
            log(safe)
        return RunOutcome(int(container.wait().get("StatusCode", 1)), tuple(tail))

    @staticmethod
    def _collected(container: Any, timeout: float | None) -> RunOutcome:
        import requests

        try:
            status, timed_out = int(container.wait(timeout=timeout).get("StatusCode", 1)), False
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            with contextlib.suppress(Exception):
                container.kill()
            status, timed_out = -1, True
        return RunOutcome(status, stdout=container.logs(stdout=True, stderr=False),
                          stderr=container.logs(stdout=False, stderr=True), timed_out=timed_out)


def removing(container: Any) -> Callable[[], None]:
    """The undo for a container: killed if it runs, then removed with its environment."""

    def remove() -> None:
        with contextlib.suppress(Exception):  # the run's outcome matters more
            container.remove(force=True)

    return remove


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
    except docker_errors() as error:
        # A client whose ping failed may still pool a connection, and nobody else will ever
        # see this client: close it here.
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        raise docker_failure(error, "connecting to Docker") from None
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


def docker_errors() -> tuple[type[BaseException], ...]:
    """What docker-py raises when the daemon or the connection fails."""
    import docker.errors
    import requests

    return (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def docker_failure(error: BaseException, doing: str) -> BuildError:
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


def log_lines(stream: Iterable[bytes]) -> Iterator[str]:
    """Whole lines from docker's log chunks, which split lines anywhere."""
    pending = b""
    for chunk in stream:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace")


def copy_source_then(command: Sequence[str], working_dir: PurePosixPath,
                     excluded: Sequence[str] = ()) -> list[str]:
    """A container command: copy the read-only ``SOURCE_MOUNT`` to ``SCRATCH``, then run
    ``command`` in ``working_dir``. Building a local path requirement writes into its folder
    (egg-info, build/), which the read-only mount refuses; the copy leaves the user's tree
    untouched whatever the build backend."""
    excludes = " ".join(f"--exclude={shlex.quote(pattern)}"
                        for pattern in (*NOT_COPIED, *excluded))
    script = (f"set -e; mkdir -p {SCRATCH}; "
              f"tar -C {SOURCE_MOUNT} {excludes} -cf - . | tar -C {SCRATCH} -xf -; "
              f"cd {shlex.quote(str(working_dir))}; exec \"$@\"")
    return ["sh", "-c", script, "azpublish", *command]


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12] if image_id.startswith("sha256:") else image_id
