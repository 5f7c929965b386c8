"""The publish pipeline: discover -> build -> filter -> package (-> deploy, in a later stage).

Each stage takes plain data and returns plain data; ``stage`` names the step in the report so a
failure says where in the pipeline it happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from azpublish.build import make_builder
from azpublish.build.audit import Target
from azpublish.errors import AzPublishError, ExitCode, UsageError
from azpublish.ignore import Selection, select_files
from azpublish.package import PackageReport, write_package
from azpublish.project import Project, discover, find_root
from azpublish.report import Reporter, human_size
from azpublish.settings import DEFAULT_PYTHON, Settings

LARGEST_SHOWN = 10


@contextmanager
def stage(name: str, report: Reporter) -> Iterator[None]:
    report.data["stage"] = name
    try:
        yield
    except AzPublishError:
        report.data["failed_stage"] = name
        raise


def publish(settings: Settings, report: Reporter) -> int:
    listing = settings.list_included_files or settings.list_ignored_files
    if not (listing or settings.dry_run or settings.no_deploy):
        raise UsageError(
            "deploying to Azure is not available in this version of azpublish",
            fix="build the package with --no-deploy --output-zip app.zip, or look with --dry-run")

    with stage("discover", report):
        project = discover(find_root(settings.project_dir))
        describe_project(project, report)
    builder = make_builder(settings.build)

    if listing:
        with stage("filter", report):
            selection = select_files(project.root, extra_excludes=builder.excludes)
        print_listing(selection, settings, report)
        return ExitCode.OK

    target = Target(settings.python_version or DEFAULT_PYTHON)
    report.data["build"] = {"mode": builder.mode, "python_version": target.python_version}
    with stage("build", report):
        result = builder.build(project, target, report)
        for note in result.notes:
            report.info(note)
    with stage("filter", report):
        selection = select_files(project.root, extra_excludes=builder.excludes)

    if settings.dry_run:
        describe_dry_run(selection, settings, report)
        return ExitCode.OK

    assert settings.output_zip is not None  # checked with the settings
    with stage("package", report):
        package = package_selection(selection, settings.output_zip, settings, report)
    describe_package(package, report)
    return ExitCode.OK


def describe_project(project: Project, report: Reporter) -> None:
    for warning in project.warnings:
        report.warn(warning)
    report.data["project"] = {
        "root": str(project.root),
        "model": project.model,
        "functions": [{"name": f.name, "trigger": f.trigger, "script": f.script}
                      for f in project.functions],
        "requirement_files": [str(p) for p in project.requirements.files],
    }
    names = ", ".join(f.name for f in project.functions) or "found when the host indexes the app"
    report.detail(f"function app {project.root} (model {project.model}); functions: {names}")


def print_listing(selection: Selection, settings: Settings, report: Reporter) -> None:
    if settings.list_included_files:
        for entry in selection.included:
            report.line(entry.archive_path)
    else:
        for ignored in selection.ignored:
            report.line(f"{ignored.path}\t{ignored.rule.describe()}")


def describe_dry_run(selection: Selection, settings: Settings, report: Reporter) -> None:
    total = sum(entry.size for entry in selection.included)
    destination = settings.output_zip or Path("<temporary file>")
    report.info(f"dry run: would package {len(selection.included)} files "
                f"({human_size(total)} uncompressed) into {destination}; nothing was written")
    report.data["dry_run"] = {"file_count": len(selection.included), "uncompressed_size": total,
                              "files": [entry.archive_path for entry in selection.included]}


def package_selection(selection: Selection, dest: Path, settings: Settings,
                      report: Reporter) -> PackageReport:
    total = sum(entry.size for entry in selection.included)
    with report.progress("packaging", total) as advance:
        return write_package(selection.included, dest, max_size=settings.max_package_size,
                             progress=advance)


def describe_package(package: PackageReport, report: Reporter) -> None:
    report.info(f"packaged {package.file_count} files into {package.path}: "
                f"{human_size(package.size)} ({human_size(package.uncompressed_size)} "
                "uncompressed)")
    report.info(f"sha256 {package.sha256}")
    rows = [(e.name, human_size(e.uncompressed), human_size(e.compressed))
            for e in package.largest[:LARGEST_SHOWN]]
    report.table("largest entries", ("entry", "size", "compressed"), rows)
    report.data["package"] = {**asdict(package), "path": str(package.path)}
