"""Build strategies behind one protocol, chosen in one factory.

A builder decides what the package must contain for its mode: ``remote`` leaves dependencies to
the server (Oryx) and so keeps a local ``.python_packages`` out; ``custom`` ships the user's own
``.python_packages`` after auditing it; ``local`` installs them into the run's workspace and
adds them to the package as an overlay, in place of the project's own. No builder writes into
the project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from azpublish.builders.audit import audit_tree, raise_for_findings, warning_summary
from azpublish.ignore import Overlay
from azpublish.project import Project
from azpublish.report import Reporter
from azpublish.runtime import Target
from azpublish.settings import BuildMode, Settings

PACKAGES_DIR = ".python_packages"
SITE_PACKAGES = f"{PACKAGES_DIR}/lib/site-packages"


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    trigger: str  # the trigger binding's type, e.g. "httpTrigger"; "" when unknown


@dataclass(frozen=True)
class BuildResult:
    mode: BuildMode
    # A check of the staged wwwroot (the files the package holds, laid out as the host sees
    # them) that the pipeline runs while it packages; the package is only put in place once it
    # has passed. It answers the functions it indexed, which the host must then list too.
    check: Callable[[Path], tuple[IndexedFunction, ...]] | None = None
    # What the build produced outside the project, packaged under a prefix.
    overlays: tuple[Overlay, ...] = ()


class Builder(Protocol):
    @property
    def mode(self) -> BuildMode: ...

    @property
    def excludes(self) -> tuple[tuple[str, str], ...]:
        """(gitignore pattern, reason) pairs the filter applies on top of .funcignore."""
        ...

    @property
    def includes(self) -> tuple[tuple[str, str], ...]:
        """(root folder, reason) pairs packaged whatever .funcignore says."""
        ...

    def build(self, project: Project, target: Target, report: Reporter,
              workspace: Path) -> BuildResult:
        """Build into ``workspace`` (an empty folder of this run, removed after it)."""
        ...


def make_builder(settings: Settings) -> Builder:
    from azpublish.builders.custom import CustomBuilder
    from azpublish.builders.local import LocalBuilder, LocalOptions
    from azpublish.builders.remote import RemoteBuilder

    options = LocalOptions(
        settings.engine, settings.installer, settings.base_image, settings.build_image,
        tuple((settings.additional_packages or "").split()), settings.pip_extra_index_url,
        settings.no_cache, preflight=not settings.no_preflight and not settings.dry_run,
        dry_run=settings.dry_run, preflight_timeout=settings.preflight_timeout)
    builders: dict[str, Callable[[], Builder]] = {
        "remote": RemoteBuilder,
        "custom": lambda: CustomBuilder(options),
        "local": lambda: LocalBuilder(options),
    }
    return builders[settings.build]()


def audit_folder(folder: Path, label: str, target: Target, report: Reporter) -> None:
    """Fail on binaries that cannot load on the target; report the harmless foreign ones."""
    findings = audit_tree(folder, target)
    raise_for_findings(findings, folder, target)
    warnings = warning_summary(findings, label, target)
    if warnings:
        report.warn(warnings)
    report.detail(f"audited {label} for {target.describe()}: ok")


def exclude_packages(reason: str) -> tuple[tuple[str, str], ...]:
    return ((f"/{PACKAGES_DIR}/", reason),)
