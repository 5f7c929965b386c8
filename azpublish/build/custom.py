"""Custom build (``--no-build``): ship the tree as it is, after checking its binaries."""

from __future__ import annotations

from typing import Literal

from azpublish.build import PACKAGES_DIR, SITE_PACKAGES, BuildResult
from azpublish.build.audit import Target, audit_tree, raise_for_findings, warning_summary
from azpublish.project import Project
from azpublish.report import Reporter


class CustomBuilder:
    mode: Literal["custom"] = "custom"
    excludes: tuple[tuple[str, str], ...] = ()

    def build(self, project: Project, target: Target, report: Reporter) -> BuildResult:
        packages = project.root / PACKAGES_DIR
        if not (project.root / SITE_PACKAGES).is_dir():
            if not project.requirements.empty:
                report.warn(f"requirements.txt lists packages but there is no {SITE_PACKAGES}: "
                            "the app will fail to import them (use --build local or --build "
                            "remote to install them)")
            return BuildResult(self.mode)
        findings = audit_tree(packages, target)
        raise_for_findings(findings, packages, target)
        warnings = warning_summary(findings, f"{PACKAGES_DIR}/", target)
        if warnings:
            report.warn(warnings)
        report.detail(f"audited {PACKAGES_DIR}/ for Linux {target.machine}, CPython "
                      f"{target.python_version}, glibc {target.glibc[0]}.{target.glibc[1]}: ok")
        return BuildResult(self.mode)
