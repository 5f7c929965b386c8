"""Custom build (``--no-build``): ship the tree as it is, after checking its binaries."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from azpublish.builders import PACKAGES_DIR, SITE_PACKAGES, BuildResult, audit_folder
from azpublish.builders.local import LocalOptions, check_imports
from azpublish.project import Project
from azpublish.report import Reporter
from azpublish.runtime import Target


class CustomBuilder:
    mode: Literal["custom"] = "custom"
    excludes: tuple[tuple[str, str], ...] = ()
    # The app's own packages ship whatever .funcignore says, as Core Tools does.
    includes: tuple[tuple[str, str], ...] = ((f"{PACKAGES_DIR}/", "--build custom"),)

    def __init__(self, options: LocalOptions | None = None) -> None:
        self.options = options or LocalOptions(preflight=False)

    def build(self, project: Project, target: Target, report: Reporter,
              workspace: Path) -> BuildResult:
        packages = project.root / PACKAGES_DIR
        if not (project.root / SITE_PACKAGES).is_dir():
            if not project.requirements.empty:
                report.warn(f"requirements.txt lists packages but there is no {SITE_PACKAGES}: "
                            "the app will fail to import them (use --build local or --build "
                            "remote to install them)")
        else:
            audit_folder(packages, f"{PACKAGES_DIR}/", target, report)
        if not self.options.preflight:
            return BuildResult(self.mode)
        # Even without dependencies the app's own code is imported: a broken import must stop
        # the publish before the upload.
        return BuildResult(self.mode, check=lambda wwwroot: check_imports(
            project, wwwroot, target, report, self.options, engine=None))
