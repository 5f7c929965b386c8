"""The target Linux CPython in the installers' own terms: uv's ``--python-platform``, pip's
``--platform`` tags, the PEP 508 marker values and the wheel tags the target accepts."""

from __future__ import annotations

from packaging import tags

from azpublish.errors import BuildError
from azpublish.runtime import Target

# The manylinux levels uv accepts in --python-platform (uv pip install --help).
UV_GLIBC_MINORS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def uv_platform(target: Target) -> str:
    """The newest manylinux level uv knows that the target's glibc still satisfies."""
    major, minor = target.glibc
    usable = [m for m in UV_GLIBC_MINORS if major > 2 or m <= minor]
    if major < 2 or not usable:
        raise BuildError(f"glibc {major}.{minor} is older than any manylinux platform",
                         fix="target glibc 2.17 or newer")
    return f"{target.machine}-manylinux_2_{usable[-1]}"


def pip_platforms(target: Target) -> list[str]:
    """Every manylinux tag the target accepts, newest first: pip takes them literally."""
    major, minor = target.glibc
    top = minor if major == 2 else 40
    platforms: list[str] = []
    for level in range(top, 4, -1):
        platforms.append(f"manylinux_2_{level}_{target.machine}")
        legacy = _LEGACY_MANYLINUX.get(level)
        if legacy and (target.machine == "x86_64" or level >= 17):
            platforms.append(f"{legacy}_{target.machine}")
    return platforms


def target_environment(python_version: str, machine: str = "x86_64") -> dict[str, str]:
    """PEP 508 marker values of CPython X.Y on Linux, as uv assumes them for a target."""
    return {"implementation_name": "cpython", "implementation_version": f"{python_version}.0",
            "os_name": "posix", "platform_machine": machine, "platform_release": "",
            "platform_system": "Linux", "platform_version": "",
            "python_full_version": f"{python_version}.0",
            "platform_python_implementation": "CPython", "python_version": python_version,
            "sys_platform": "linux"}


def target_tags(target: Target) -> frozenset[tags.Tag]:
    """The wheel tags the target accepts: those pip's and uv's target options select."""
    version, platforms = target.python, pip_platforms(target)
    interpreter = f"cp{version[0]}{version[1]}"
    return frozenset([*tags.cpython_tags(version, [interpreter], platforms),
                      *tags.compatible_tags(version, interpreter, platforms)])
