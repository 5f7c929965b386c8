"""Remote build: the server runs pip (Oryx) after upload, so only app code is packaged."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from azpublish.builders import PACKAGES_DIR, BuildResult, exclude_packages
from azpublish.project import Project
from azpublish.report import Reporter
from azpublish.runtime import Target


class RemoteBuilder:
    mode: Literal["remote"] = "remote"
    excludes = exclude_packages("--build remote")
    includes: tuple[tuple[str, str], ...] = ()

    def build(self, project: Project, target: Target, report: Reporter,
              workspace: Path) -> BuildResult:
        if (project.root / PACKAGES_DIR).exists():
            report.detail(f"{PACKAGES_DIR}/ is left out: the server builds dependencies")
        if project.requirements.empty:
            report.detail("requirements.txt lists nothing: the server will install no packages")
        return BuildResult(self.mode)
