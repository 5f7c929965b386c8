"""Build strategies behind one protocol, chosen in one factory.

A builder decides what the package must contain for its mode: ``remote`` leaves dependencies to
the server (Oryx) and so keeps a local ``.python_packages`` out; ``custom`` ships the user's own
``.python_packages`` after auditing it; ``local`` (container build) arrives with its own module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from azpublish.build.audit import Target
from azpublish.errors import UsageError
from azpublish.project import Project
from azpublish.report import Reporter
from azpublish.settings import BuildMode

PACKAGES_DIR = ".python_packages"
SITE_PACKAGES = f"{PACKAGES_DIR}/lib/site-packages"


@dataclass(frozen=True)
class BuildResult:
    mode: BuildMode
    notes: tuple[str, ...] = ()


class Builder(Protocol):
    @property
    def mode(self) -> BuildMode: ...

    @property
    def excludes(self) -> tuple[tuple[str, str], ...]:
        """(gitignore pattern, reason) pairs the filter applies on top of .funcignore."""
        ...

    def build(self, project: Project, target: Target, report: Reporter) -> BuildResult: ...


def make_builder(mode: BuildMode) -> Builder:
    from azpublish.build.custom import CustomBuilder
    from azpublish.build.remote import RemoteBuilder

    builders: dict[str, Callable[[], Builder]] = {"remote": RemoteBuilder,
                                                  "custom": CustomBuilder}
    if mode not in builders:
        raise UsageError(f"--build {mode} is not available in this version of azpublish",
                         fix="use --build remote (the server installs dependencies) or "
                         "--build custom (ship your own .python_packages)")
    return builders[mode]()


def exclude_packages(reason: str) -> tuple[tuple[str, str], ...]:
    return ((f"/{PACKAGES_DIR}/", reason),)
