"""A package index on loopback holding every distribution the tests install: no test reaches
the internet for a package.

``python -m tests.package_mirror populate`` (run by ``scripts/test-setup.sh``, which may use the
machine's package-index clients) downloads the distributions named below into
``.cache/test-index/packages`` with the machine's pip; it is cached by a digest of this list
and skipped when nothing changed. During the session, ``conftest`` serves that folder with
pypiserver (plain http on 127.0.0.1, no fallback to any other index) and points
``PIP_INDEX_URL`` at it, so pip, uv (through azpublish's pip-to-uv mapping), the emulator's
remote builds and the containers of the local builds (host network) all install from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO / ".cache" / "test-index"
PACKAGES = MIRROR / "packages"
STAMP = MIRROR / "populated.json"
TARGET_PYTHONS = ("3.11", "3.13")


@dataclass(frozen=True)
class Group:
    """One ``pip download``: the same resolution pip or uv does when a test installs them."""

    why: str
    specs: tuple[str, ...]
    for_targets: bool = False  # once per target Python, binary wheels for the Linux runtime
    no_deps: bool = False


GROUPS = (
    Group("installing azpublish itself (the GitHub Action's install step) and building it",
          (".", "setuptools>=77", "wheel", "pip==26.3", "uv==0.13.8")),
    Group("what the tests' apps require, built for the target Linux Python",
          ("six==1.17.0", "charset-normalizer", "cffi", "pycparser", "cryptography",
           "azure-functions", "packaging==24.0", "markupsafe", "werkzeug",
           "azure-functions-durable"), for_targets=True),
    Group("an older pin that the cache-key tests switch to", ("six==1.16.0",), no_deps=True),
)


def digest() -> str:
    """Changes whenever what populate would download changes."""
    described = [[g.why, list(g.specs), g.for_targets, g.no_deps] for g in GROUPS]
    described.append(list(TARGET_PYTHONS))
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def is_populated() -> bool:
    try:
        return bool(json.loads(STAMP.read_text()).get("digest") == digest())
    except (OSError, ValueError):
        return False


def _download(group: Group, python: str | None) -> list[str]:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(PACKAGES)]
    if group.no_deps:
        command.append("--no-deps")
    if python is not None:
        from azpublish.runtime import Target
        from azpublish.toolchain.platform_tags import pip_platforms

        command += ["--only-binary=:all:", "--python-version", python, "--implementation", "cp",
                    "--abi", f"cp{python.replace('.', '')}", "--abi", "abi3", "--abi", "none"]
        for platform in pip_platforms(Target(python)):
            command += ["--platform", platform]
        command += ["--platform", "any"]
    return command + list(group.specs)


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes] | None = None
    state: Path | None = None  # the server's port file and log

    def stop(self) -> None:
        if self.process is not None:
            from tests.integration.pypi_index import stop_server

            stop_server(self.process)
            self.process = None
        if self.state is not None:
            shutil.rmtree(self.state, ignore_errors=True)
            self.state = None


def serve(*, start: bool = True) -> Served:
    """pypiserver on the populated folder; unpopulated (or not ``start``), an index URL nothing
    answers on, so an install fails on loopback, naming what to do in the URL."""
    if not start:
        return Served("http://127.0.0.1:9/no-package-mirror-in-this-run/simple/")
    if not is_populated():
        return Served("http://127.0.0.1:9/run-scripts-test-setup.sh-first/simple/")
    from tests.integration.pypi_index import launch_pypiserver

    state = Path(tempfile.mkdtemp(prefix="azpublish-test-mirror-"))
    try:
        port, process = launch_pypiserver(PACKAGES, state)
    except BaseException:
        shutil.rmtree(state, ignore_errors=True)
        raise
    return Served(f"http://127.0.0.1:{port}/simple/", process, state)


def populate() -> int:
    if is_populated():
        print(f"package mirror: {len(list(PACKAGES.iterdir()))} distributions, up to date")
        return 0
    shutil.rmtree(MIRROR, ignore_errors=True)
    PACKAGES.mkdir(parents=True)
    for group in GROUPS:
        for python in (TARGET_PYTHONS if group.for_targets else (None,)):
            done = subprocess.run(_download(group, python), cwd=REPO, check=False)
            if done.returncode != 0:
                print(f"package mirror: downloading failed for {group.why}"
                      + (f" (CPython {python})" if python else ""), file=sys.stderr)
                return 1
    for leftover in PACKAGES.glob("azpublish-*"):  # the checkout itself is never served
        leftover.unlink()
    STAMP.write_text(json.dumps({"digest": digest()}))
    print(f"package mirror: {len(list(PACKAGES.iterdir()))} distributions in {PACKAGES}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["populate"]:
        sys.exit("usage: python -m tests.package_mirror populate")
    os.chdir(REPO)
    sys.exit(populate())
