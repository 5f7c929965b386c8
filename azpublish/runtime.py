"""The platform a function app runs on, as azpublish models it: the runtime Pythons, the
target a package must load on, and what the Python worker provides besides the app's own
packages.

The client owns this model (the build, the import check and the lock use it); the emulator
imports it to behave the same, never the other way round.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path, PurePosixPath

from azpublish.cleanup import temporary_folder
from azpublish.distributions import dependency_closure
from azpublish.errors import UsageError

__all__ = ["DEFAULT_PYTHON", "FUNCTIONS_LIBRARY", "PYTHON_OVERRIDE", "SUPPORTED_PYTHONS",
           "Target", "find_python", "functions_library", "interpreter_version",
           "override_variable"]

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")  # the Functions runtime's
DEFAULT_PYTHON = "3.11"
FUNCTIONS_LIBRARY = "azure-functions"  # the worker's own copy serves apps that do not install it
PYTHON_OVERRIDE = "AZPUBLISH_PYTHON"  # AZPUBLISH_PYTHON_3_11=/path/to/python3.11
_TARGET_MACHINES = ("x86_64", "aarch64")
_VERSION = re.compile(r"^\d+\.\d+$")
_PROBE = "import sys; sys.stdout.write('%d.%d %s' % (sys.version_info[:2] + (sys.executable,)))"
# Per user: code in here runs inside every app, so nobody else may have written it.
_CACHE_ROOT = Path(tempfile.gettempdir()) / f"azpublish-platform-{os.getuid()}"


@dataclass(frozen=True)
class Target:
    """The runtime the files must load on."""

    python_version: str  # "3.11"
    machine: str = "x86_64"
    glibc: tuple[int, int] = (2, 36)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"3\.\d+", self.python_version):
            raise UsageError(f"target Python {self.python_version!r} is not a CPython 3.X version",
                             fix="give the version as MAJOR.MINOR, e.g. 3.11")
        if self.machine not in _TARGET_MACHINES:
            raise UsageError(f"target machine {self.machine!r} is not supported",
                             fix=f"use one of {', '.join(_TARGET_MACHINES)}")

    @property
    def python(self) -> tuple[int, int]:
        major, minor = self.python_version.split(".")
        return int(major), int(minor)

    @property
    def multiarch(self) -> str:
        """The platform part CPython puts in extension suffixes: ``x86_64-linux-gnu``."""
        return f"{self.machine}-linux-gnu"

    def describe(self) -> str:
        return (f"Linux {self.machine}, CPython {self.python_version}, "
                f"glibc {self.glibc[0]}.{self.glibc[1]}")



# -- the interpreters of this machine ----------------------------------------------------------


@lru_cache(maxsize=64)
def _probe(candidate: str) -> tuple[str, Path] | None:
    """(``X.Y``, the real executable) of an interpreter, or None when it does not run."""
    try:
        done = subprocess.run([candidate, "-E", "-c", _PROBE], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    version, _, executable = done.stdout.partition(" ")
    if done.returncode != 0 or not _VERSION.match(version) or not executable:
        return None
    return version, Path(executable)  # a pyenv shim resolves to the interpreter it runs


def interpreter_version(python: str) -> str | None:
    """``X.Y`` of the interpreter at ``python``, or None when it does not run."""
    probed = _probe(python)
    return probed[0] if probed else None


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in folder.name.split("."))


def _candidates(version: str, environ: Mapping[str, str], override_prefix: str) -> list[str]:
    found: list[str] = []
    override = environ.get(override_variable(version, override_prefix))
    if override:
        found.append(override)
    on_path = shutil.which(f"python{version}", path=environ.get("PATH", os.defpath))
    if on_path:
        found.append(on_path)
    home = environ.get("HOME") or str(Path.home())
    for root in (environ.get("PYENV_ROOT"), str(Path(home, ".pyenv"))):
        if root:
            installs = sorted(Path(root, "versions").glob(f"{version}.*"), key=_version_key,
                              reverse=True)
            found.extend(str(i / "bin" / f"python{version}") for i in installs)
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        found.append(sys.executable)
    return found


def override_variable(version: str, prefix: str = PYTHON_OVERRIDE) -> str:
    """``AZPUBLISH_PYTHON_3_11``: the variable naming the interpreter of ``version``."""
    return f"{prefix}_{version.replace('.', '_')}"


def find_python(version: str, environ: Mapping[str, str] | None = None, *,
                override_prefix: str = PYTHON_OVERRIDE) -> Path | None:
    """An interpreter of exactly ``version`` ("3.11") on this machine, or None.

    Order: the override (``AZPUBLISH_PYTHON_3_11``; the emulator has its own prefix),
    ``python3.11`` on PATH, pyenv installs (newest patch first), the running interpreter. Each
    candidate is run once to check what it is; one that is not ``version`` (a wrong override, a
    pyenv shim for an inactive version) is skipped.
    """
    if not _VERSION.match(version):
        return None
    environ = os.environ if environ is None else environ
    for candidate in _candidates(version, environ, override_prefix):
        probed = _probe(candidate)
        if probed is not None and probed[0] == version:
            return probed[1]
    return None


# -- what the worker provides -------------------------------------------------------------------


def _import_roots(dist: metadata.Distribution) -> set[PurePosixPath]:
    """Top-level packages, modules and metadata of a distribution; namespaces one level down."""
    files = [PurePosixPath(str(f)) for f in dist.files or []]
    names = {str(f) for f in files}
    roots: set[PurePosixPath] = set()
    for file in files:
        top = file.parts[0] if file.parts else ".."
        if top in ("..", "__pycache__") or top.endswith(".egg-info"):
            continue
        if len(file.parts) == 1:
            if file.suffix in (".py", ".so"):
                roots.add(file)
        elif top.endswith(".dist-info") or f"{top}/__init__.py" in names:
            roots.add(PurePosixPath(top))
        else:  # a namespace package such as azure/: share only our part of it
            roots.add(PurePosixPath(top, file.parts[1]))
    return roots


def _sources() -> list[tuple[PurePosixPath, Path]]:
    pairs = []
    for dist in dependency_closure(FUNCTIONS_LIBRARY)[0]:
        for root in _import_roots(dist):
            pairs.append((root, Path(str(dist.locate_file(str(root))))))
    return sorted(pairs)


@lru_cache(maxsize=1)
def _library_copy() -> Path:
    """A private copy of azure-functions and its dependencies, made once per installation.

    A copy, not the venv's folder: an app must not see azpublish's other packages, and
    compiling for another Python must not write into the venv.
    """
    sources = _sources()
    digest = hashlib.sha256()
    for root, source in sources:
        digest.update(f"{root}={source}@{source.stat().st_mtime_ns}\n".encode())
    target = _CACHE_ROOT / f"funclib-{digest.hexdigest()[:16]}"
    _CACHE_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _CACHE_ROOT.is_symlink() or _CACHE_ROOT.stat().st_uid != os.getuid():
        raise PermissionError(f"{_CACHE_ROOT} belongs to another user; remove it")
    if target.is_dir():
        return target
    with temporary_folder("funclib-", _CACHE_ROOT) as staging:
        for root, source in sources:
            destination = staging / root
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination)
            else:
                shutil.copy2(source, destination)
        # Another process may have finished first (its copy is identical): ours then goes.
        with contextlib.suppress(OSError):
            staging.rename(target)
    return target


def functions_library(python: Path) -> Path:
    """What the Python worker appends to ``sys.path`` after the app's own packages (azure-functions
    and its dependencies), as a folder byte-compiled once for ``python``'s version."""
    library = _library_copy()
    _compile_for(library, str(python))
    return library


@lru_cache(maxsize=32)
def _compile_for(library: Path, python: str) -> None:
    # Workers run with -B (app code must never meet stale bytecode), so the library's own
    # bytecode is written here once: without it every call would recompile ~1 MB of source.
    marker = library / f".compiled-{hashlib.sha256(python.encode()).hexdigest()[:16]}"
    if marker.exists():
        return
    try:
        done = subprocess.run([python, "-I", "-S", "-m", "compileall", "-q", str(library)],
                              capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError):
        return  # no bytecode only costs time; a missing interpreter is reported by the caller
    if done.returncode == 0:
        marker.touch()
