"""The installers' command lines (pip, uv, pip-tools) and how to find them and their versions.

Every command here is a subprocess of a documented interface; none imports pip. Sources are not
part of these lines: they come from ``PackageSources.environment``/``flags``, so an index URL
with its credential never reaches an argument list.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata

from azpublish.errors import BuildError
from azpublish.runtime import Target
from azpublish.toolchain.platform_tags import pip_platforms, uv_platform

_PIP_QUIET = ["--no-input", "--disable-pip-version-check", "--progress-bar", "off"]
# No version equals this, so listing a project's files never downloads one of them.
NO_VERSION = "===azpublish-lists-files-only"


@functools.cache
def find_uv() -> str | None:
    """The uv binary of the ``uv`` wheel installed with azpublish, else one on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def require_uv(where: str) -> str:
    uv = find_uv()
    if uv is None:
        raise BuildError("uv is not installed", where=where,
                         fix="install it (pip install uv), or use --engine container")
    return uv


@functools.cache
def uv_version(uv: str) -> str:
    result = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"{uv} --version failed: {result.stderr.strip()}",
                         fix="reinstall uv (pip install --force-reinstall uv)")
    words = result.stdout.split()
    return words[1] if len(words) > 1 else result.stdout.strip()


@functools.cache
def pip_version(python: str = sys.executable) -> str:
    if python == sys.executable:
        return metadata.version("pip")
    result = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise BuildError(f"pip is not available for {python}", fix="install pip for it")
    return result.stdout.split()[1]


# -- installing into a --target folder ---------------------------------------------------------


def uv_install(uv: str, *, python: str, target_dir: str, requirement: str,
               flags: Sequence[str], target: Target | None = None) -> list[str]:
    """``uv pip install --target``; with ``target``, wheels and markers for that platform and
    Python (the host form), else for ``python`` itself (inside the target's container)."""
    command = [uv, "pip", "install", *flags, "--target", target_dir, "--python", python]
    if target is not None:
        command += ["--python-platform", uv_platform(target),
                    "--python-version", target.python_version, "--only-binary", ":all:"]
    else:
        command += ["--link-mode", "copy"]
    return [*command, "--no-progress", "-r", requirement]


def pip_install(python: str, *, target_dir: str, requirement: str) -> list[str]:
    """``pip install --target`` run by the target's own interpreter (in its container)."""
    return [python, "-m", "pip", "install", *_PIP_QUIET, "--target", target_dir,
            "-r", requirement]


def pip_target_flags(target: Target) -> list[str]:
    """pip's documented options that select wheels for another platform and Python."""
    version = target.python_version
    platforms = [arg for tag in pip_platforms(target) for arg in ("--platform", tag)]
    return [*platforms, "--implementation", "cp", "--python-version", version,
            "--abi", f"cp{version.replace('.', '')}", "--abi", "abi3", "--abi", "none",
            "--only-binary=:all:"]


# -- helpers of the wheels engine and the image build -------------------------------------------


def pip_wheel_from_source(python: str, name: str, spec: str, wheel_dir: str) -> list[str]:
    """Build one project's wheel from its sdist (no dependencies), with this host's pip."""
    return [python, "-m", "pip", "wheel", "--no-deps", *_PIP_QUIET, f"--no-binary={name}",
            "--wheel-dir", wheel_dir, spec]


def pip_list_files(python: str, name: str, scratch: str) -> list[str]:
    """pip's verbose download of a version that cannot exist: it lists every file it saw."""
    return [python, "-m", "pip", "download", "-vv", "--no-deps", *_PIP_QUIET, "--dest", scratch,
            name + NO_VERSION]


def pip_download_installers(python: str, target: Target, dest: str,
                            pins: Sequence[str]) -> list[str]:
    """The pip and uv wheels of the build image, for its Python and platform."""
    return [python, "-m", "pip", "download", "--quiet", "--no-deps", *_PIP_QUIET,
            "--dest", dest, *pip_target_flags(target), *pins]


# -- resolving a lock ------------------------------------------------------------------------------


def uv_compile(uv: str, *, source: str, output: str, python: str, target: Target,
               flags: Sequence[str], resolution: Sequence[str]) -> list[str]:
    # --python: this interpreter builds any sdist's metadata; without it uv searches (and may
    # try to download) one of the target version, while --python-version alone decides markers.
    return [uv, "pip", "compile", source, "--output-file", output, "--python", python, *flags,
            "--python-platform", uv_platform(target), "--python-version", target.python_version,
            "--generate-hashes", "--no-header", "--no-progress", "--quiet", *resolution]


def piptools_compile(python: str, *, source: str, output: str,
                     resolution: Sequence[str]) -> list[str]:
    """pip-compile, writing no index URL, trusted host or find-links into the lock."""
    return [python, "-m", "piptools", "compile", "--generate-hashes", "--resolver=backtracking",
            "--strip-extras", "--allow-unsafe", "--no-header", "--no-emit-index-url",
            "--no-emit-trusted-host", "--no-emit-find-links", "--no-emit-options", "--quiet",
            *resolution, "--output-file", output, source]
