"""The publish pipeline: discover -> resolve -> build -> filter -> package -> deploy.

Each stage takes plain data and returns plain data; ``stage`` names the step in the report so a
failure says where in the pipeline it happened.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from azpublish import __version__
from azpublish.builders import SITE_PACKAGES, IndexedFunction, make_builder
from azpublish.cleanup import held, removing_file, temporary_folder
from azpublish.errors import AzPublishError, ExitCode, UsageError
from azpublish.ignore import FileEntry, Selection, select_files
from azpublish.listing import ignored_json, json_name, quote_path, rule_text
from azpublish.output_path import check_output_zip, output_excludes
from azpublish.package import PackageMemo, PackageReport, check_selection, write_package
from azpublish.project import Project, discover, find_root
from azpublish.report import Reporter, human_size
from azpublish.requirements import check_buildable, credential_lines, packaged_copies
from azpublish.run_report import (
    BuildFacts,
    DeploymentFacts,
    DryRunFacts,
    FunctionFacts,
    ProjectFacts,
)
from azpublish.runtime import DEFAULT_PYTHON, Target
from azpublish.settings import BuildMode, Settings
from azpublish.staging import stage_entries

if TYPE_CHECKING:  # the deploy stage pulls in the Azure SDKs: imported only when deploying
    from azpublish.deploy.plan import DeployPlan
    from azpublish.deploy.target import DeployTarget

LARGEST_SHOWN = 10
LARGE_FILE = 256 << 20  # a single file this big is more often a mistake than a dependency


@contextmanager
def stage(name: str, report: Reporter) -> Iterator[None]:
    report.run.stage = name
    try:
        yield
    except AzPublishError:
        report.run.failed_stage = name
        raise


def publish(settings: Settings, report: Reporter) -> int:
    if settings.package is not None:
        return publish_prebuilt(settings.package, settings, report)
    listing = settings.list_included_files or settings.list_ignored_files
    with stage("discover", report):
        project = discover(find_root(settings.project_dir))
        describe_project(project, report)
        check_lock(project.root, settings, report)
        if settings.output_zip is not None:
            check_output_zip(settings.output_zip)
    builder = make_builder(settings)
    # The builder's rules, and the package itself when it is written inside the app.
    excludes = (*builder.excludes, *output_excludes(settings.output_zip, project.root))

    if listing:
        with stage("filter", report):
            selection = select_files(project.root, extra_excludes=excludes,
                                     extra_includes=builder.includes)
            check_selection(selection.included)
        print_listing(selection, settings, report)
        if builder.mode == "local" and not project.requirements.empty:
            report.info(f"(the dependencies --build local installs are packaged under "
                        f"{SITE_PACKAGES}/ too; they are built, not listed)")
        return ExitCode.OK

    with stage("discover", report):  # before anything is resolved, built or uploaded
        check_buildable(project.requirements, project.root)
        for line in credential_lines(project.requirements):
            report.warn(f"{line.file.name}:{line.lineno} holds a credential in a URL, and "
                        f"{line.file.name} is packaged with the app, so the credential ships "
                        "inside the package: pass the index with --pip-extra-index-url "
                        "instead, which stays out of it")
    deploy_target = None
    if not settings.no_deploy:
        from azpublish.deploy.plan import check_supported
        from azpublish.deploy.target import resolve_target

        with stage("resolve", report):  # reads only: a dry run may do it too
            deploy_target = resolve_target(settings, report)
            check_supported(deploy_target.site.plan, builder.mode)
    check_dependencies_declared(project)
    python = (deploy_target.python_version if deploy_target
              else settings.python_version or DEFAULT_PYTHON)
    target = Target(python)
    report.run.build = BuildFacts(builder.mode, target.python_version)
    # The run's workspace: what the build produces and the staged wwwroot live here, never in
    # the project, and go when the run ends, however it ends.
    with temporary_folder("azpublish-") as workspace:
        (workspace / "build").mkdir()
        with stage("build", report):
            result = builder.build(project, target, report, workspace / "build")
        with stage("filter", report):
            selection = select_files(project.root, extra_excludes=excludes,
                                     extra_includes=builder.includes, overlays=result.overlays)
            # The server's build reads the packaged requirement files: they go without the
            # lines naming what the platform provides (a build here leaves them out too), and
            # with what they include from outside the app inlined.
            selection = with_copies(selection, packaged_copies(
                project.requirements, project.root, workspace / "requirements"))
            check_selection(selection.included)
            if builder.mode == "remote":
                check_requirements_packaged(project, selection)
            for rule, label in selection.overridden:
                report.warn(f"{rule.describe()} would exclude {rule.pattern.strip('/')}, but "
                            f"{label} packages it anyway: the app needs its dependencies")

        if settings.dry_run:
            describe_dry_run(selection, settings, report)
            if deploy_target:
                from azpublish.deploy.executor import describe_plan

                describe_plan(deploy_plan(deploy_target, builder.mode, "", settings,
                                          known_to_plan(project, target)), report)
            return ExitCode.OK

        destination = settings.output_zip or workspace / "package.zip"
        package, indexed = package_while_checking(selection, destination, project.root,
                                                  result.check, workspace, settings, report)
        describe_package(package, report)
        if indexed:
            describe_indexed(indexed, report)
        if deploy_target:
            with stage("deploy", report):
                deploy(deploy_target, builder.mode, package, settings, report,
                       known_to_plan(project, target, indexed,
                                     import_checked=result.check is not None))
    return ExitCode.OK


@dataclass(frozen=True)
class KnownApp:
    """What reading and building the app told that the deploy plan needs."""

    expected_functions: tuple[str, ...] = ()
    model: str = ""
    import_checked: bool = False
    has_requirements: bool = False


def known_to_plan(project: Project, target: Target, indexed: tuple[IndexedFunction, ...] = (),
                  *, import_checked: bool = False) -> KnownApp:
    return KnownApp(function_names(project) or tuple(f.name for f in indexed), project.model,
                    import_checked, project.requirements.installs_on(target.python_version))


def publish_prebuilt(path: Path, settings: Settings, report: Reporter) -> int:
    """``--package``: the zip's checks, then the same resolve, plan and deployment."""
    from azpublish.deploy.plan import check_supported
    from azpublish.deploy.target import resolve_target
    from azpublish.prebuilt import read_prebuilt

    with stage("discover", report):
        prebuilt = read_prebuilt(path)
    describe_package(prebuilt.package, report)
    report.info("no .python_packages/ in it: the server installs its requirements.txt "
                "(remote build)" if prebuilt.mode == "remote" else
                "deployed as it is: its .python_packages/ (if any) are the dependencies")
    with stage("resolve", report):
        target = resolve_target(settings, report)
        check_supported(target.site.plan, prebuilt.mode)
    report.run.build = BuildFacts(prebuilt.mode, target.python_version)
    known = KnownApp(has_requirements=prebuilt.has_requirements)
    if settings.dry_run:
        from azpublish.deploy.executor import describe_plan

        describe_plan(deploy_plan(target, prebuilt.mode, prebuilt.package.sha256, settings,
                                  known), report)
        return ExitCode.OK
    with stage("deploy", report):
        deploy(target, prebuilt.mode, prebuilt.package, settings, report, known)
    return ExitCode.OK


def deploy_plan(target: DeployTarget, mode: BuildMode, sha256: str, settings: Settings,
                known: KnownApp) -> DeployPlan:
    from azpublish.deploy.plan import DeployOptions, plan_deploy

    options = DeployOptions(mode, sha256, settings.timeout, settings.pip_extra_index_url,
                            settings.restore_settings, settings.verify_url,
                            settings.index_timeout, known.expected_functions,
                            target.python_version, settings.allow_partial, known.model,
                            known.import_checked, known.has_requirements)
    if target.arm is None:
        return plan_deploy(target.site.plan, target.kudu.settings(), options, arm_access=False)
    return plan_deploy(target.site.plan, target.arm.app_settings(target.ref), options)


def function_names(project: Project) -> tuple[str, ...]:
    """The functions the host should list after the deployment, when known before it: model v1
    names them in folders; a v2 app's are known once the import check has imported it (and
    without one, any function listed will do)."""
    return tuple(sorted(f.name for f in project.functions)) if project.model == "v1" else ()


def deploy(target: DeployTarget, mode: BuildMode, package: PackageReport, settings: Settings,
           report: Reporter, known: KnownApp) -> None:
    from azpublish.deploy.executor import Executor
    from azpublish.deploy.plan import CheckUnchanged

    plan = deploy_plan(target, mode, package.sha256, settings, known)
    # The message carries the same stamp the plan checks against (one place computes it).
    stamp = next(s.stamp() for s in plan.steps if isinstance(s, CheckUnchanged))
    message = f"azpublish {__version__} {stamp} id={uuid.uuid4()}"
    executor = Executor(target, report, package.path, message, force=settings.force)
    # The record is the executor's own, so the report shows how far it got however it ends.
    report.run.deployment = DeploymentFacts(str(target.ref), f"https://{target.site.default_host}",
                                            executor.result)
    executor.run(plan)


def check_lock(root: Path, settings: Settings, report: Reporter) -> None:
    """requirements.txt generated by `azpublish lock` from an input that has changed since."""
    lock_file = root / "requirements.txt"
    if not (root / "requirements.in").is_file() or not lock_file.is_file():
        return  # the common case, decided without loading the lock machinery
    from azpublish.lock import INPUT_FILE, input_digest, recorded_digest

    recorded = recorded_digest(lock_file.read_text(encoding="utf-8", errors="replace"))
    if recorded is None or recorded == input_digest(root):
        return
    message = (f"requirements.txt is stale: {INPUT_FILE} changed since `azpublish lock` "
               "generated it")
    if settings.strict_lock:
        raise UsageError(message, where=str(lock_file),
                         fix="run `azpublish lock` and commit the result")
    report.warn(f"{message}; run `azpublish lock` (--strict-lock makes this an error)")


def check_dependencies_declared(project: Project) -> None:
    """Dependencies only in pyproject.toml: no Functions build reads them (the server's and
    Core Tools' install requirements.txt), so the app would deploy without them."""
    pyproject = project.root / "pyproject.toml"
    if project.requirements.files or not pyproject.is_file():
        return
    from azpublish.lock import read_project_table

    dependencies = read_project_table(pyproject).get("dependencies")
    if dependencies:
        raise UsageError(
            f"pyproject.toml lists {len(dependencies)} dependencies, but there is no "
            "requirements.txt: the Functions build installs only requirements.txt, so the app "
            "would be deployed without them", where=str(pyproject),
            fix="run `azpublish lock` to write requirements.txt from [project] dependencies "
            "(pinned, for the app's Python), and commit it")


def describe_project(project: Project, report: Reporter) -> None:
    for warning in project.warnings:
        report.warn(warning)
    report.run.project = ProjectFacts(
        str(project.root), project.model,
        [FunctionFacts(f.name, f.trigger, f.script) for f in project.functions],
        [str(p) for p in project.requirements.files])
    names = ", ".join(f.name for f in project.functions) or "found when the host indexes the app"
    report.detail(f"function app {project.root} (model {project.model}); functions: {names}")


def print_listing(selection: Selection, settings: Settings, report: Reporter) -> None:
    """One form per consumer (see azpublish.listing): quoted lines for people, NUL-terminated
    raw names with -z, and with --json the listing in the report (nothing else on stdout)."""
    if settings.list_included_files:
        paths = [entry.archive_path for entry in selection.included]
        if settings.json:
            report.run.listing = [json_name(path) for path in paths]
        elif settings.null:
            report.null_records((path,) for path in paths)
        else:
            for path in paths:
                report.line(quote_path(path))
    elif settings.json:
        report.run.listing = [ignored_json(ignored) for ignored in selection.ignored]
    elif settings.null:  # like `git check-ignore -z -v`: a NUL between fields, and after each
        report.null_records((ignored.path, rule_text(ignored.rule))
                            for ignored in selection.ignored)
    else:
        for ignored in selection.ignored:
            report.line(f"{quote_path(ignored.path)}\t{quote_path(rule_text(ignored.rule))}")


def warn_large_files(selection: Selection, report: Reporter) -> int:
    """Say which files are large enough to be a mistake (a dataset, a core dump, a sparse
    image that takes little on disk and its full size in the package); the total size."""
    total = 0
    for entry in selection.included:
        total += entry.size
        if entry.size >= LARGE_FILE:
            on_disk = entry.stat().st_blocks * 512
            sparse = (f"; it is sparse, only {human_size(on_disk)} on disk, but the package "
                      "holds all of it" if on_disk < entry.size // 2 else "")
            report.warn(f"{entry.archive_path} is {human_size(entry.size)}{sparse}: it goes "
                        "into the package and the upload (exclude it in .funcignore if the app "
                        "does not need it)")
    return total


def describe_dry_run(selection: Selection, settings: Settings, report: Reporter) -> None:
    total = warn_large_files(selection, report)
    destination = settings.output_zip or Path("<temporary file>")
    report.info(f"dry run: would package {len(selection.included)} files "
                f"({human_size(total)} uncompressed) into {destination}; nothing was written")
    limit = settings.max_package_size
    if limit is not None and total > limit:
        # The limit is on the zip, known only once compressed: say so rather than guess.
        report.warn(f"the files are {human_size(total)} uncompressed, over --max-package-size "
                    f"{human_size(limit)}: packaging fails unless they compress below it")
    report.run.dry_run = DryRunFacts(len(selection.included), total,
                                     [entry.archive_path for entry in selection.included])


def package_while_checking(selection: Selection, destination: Path, root: Path,
                           check: Callable[[Path], tuple[IndexedFunction, ...]] | None,
                           workspace: Path, settings: Settings, report: Reporter
                           ) -> tuple[PackageReport, tuple[IndexedFunction, ...]]:
    """Package while the build's check (the import preflight) runs in a thread on a staged
    wwwroot of exactly the selected files; the package replaces ``destination`` only once both
    have succeeded. Also the functions the check indexed."""
    if check is None:
        with stage("package", report):
            return package_selection(selection, destination, root, settings, report), ()
    pending = destination.with_name(f".{destination.name}.{os.getpid()}.pending")
    wwwroot = workspace / "wwwroot"

    def staged_check() -> tuple[IndexedFunction, ...]:
        stage_entries(selection.included, wwwroot)
        return check(wwwroot)

    with held(f"removing the pending package {pending}", removing_file(pending)), \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="azpublish-check") as pool:
        checked = pool.submit(staged_check)
        try:
            with stage("package", report):
                package = package_selection(selection, pending, root, settings, report)
            with stage("build", report):
                indexed = checked.result()
        except BaseException:
            checked.cancel()
            raise
        pending.replace(destination)
    return replace(package, path=destination), indexed


def package_selection(selection: Selection, dest: Path, root: Path, settings: Settings,
                      report: Reporter) -> PackageReport:
    total = warn_large_files(selection, report)
    # The previous package of this app: unchanged files are copied compressed, not recompressed.
    memo = None if settings.no_cache else PackageMemo.for_app(root)
    with report.progress("packaging", total) as advance:
        return write_package(selection.included, dest, max_size=settings.max_package_size,
                             progress=advance, reuse=memo)


def check_requirements_packaged(project: Project, selection: Selection) -> None:
    """The server's build reads the requirement files from the package: one left out by
    .funcignore would make it install nothing (or fail on a missing -r include)."""
    if project.requirements.empty:
        return
    root = project.root.resolve()
    packaged = {entry.archive_path for entry in selection.included}
    for path in project.requirements.files:
        if not path.is_relative_to(root):
            continue  # outside the app: inlined into the packaged copy
        name = path.relative_to(root).as_posix()
        if name in packaged:
            continue
        rule = next((i.rule for i in selection.ignored
                     if i.path == name or (i.path.endswith("/") and name.startswith(i.path))),
                    None)
        why = rule.describe() if rule is not None else "the file selection"
        raise UsageError(f"{name} is left out of the package by {why}, but --build remote "
                         "installs what the packaged requirement files name: the server "
                         "would install nothing", where=str(path),
                         fix=f"remove that rule from .funcignore (or add !{name}), or build "
                         "with --build local")


def with_copies(selection: Selection, copies: Mapping[Path, Path]) -> Selection:
    """``selection`` with each file that has a copy in ``copies`` packaged from that copy."""
    if not copies:
        return selection
    included = []
    for entry in selection.included:
        copy = copies.get(entry.source.resolve())
        included.append(entry if copy is None else
                        FileEntry(entry.archive_path, copy, executable=entry.executable))
    return replace(selection, included=tuple(included))


def describe_indexed(indexed: tuple[IndexedFunction, ...], report: Reporter) -> None:
    """The functions as the import check found them: what discovery cannot see by reading
    (blueprints, schedules, MCP tools, re-exported entry points) is listed too."""
    described = report.run.project
    assert described is not None, "the project is described before it is built"
    scripts = {f.name: f.script for f in described.functions}
    described.functions = [FunctionFacts(f.name, f.trigger, scripts.get(f.name))
                           for f in indexed]
    report.detail(f"the import check indexed {len(indexed)} functions:")
    for function in indexed:
        report.detail(f"    {function.name} - [{function.trigger or 'trigger unknown'}]")


def describe_package(package: PackageReport, report: Reporter) -> None:
    report.info(f"packaged {package.file_count} files into {package.path}: "
                f"{human_size(package.size)} ({human_size(package.uncompressed_size)} "
                "uncompressed)")
    report.info(f"sha256 {package.sha256}")
    rows = [(e.name, human_size(e.uncompressed), human_size(e.compressed))
            for e in package.largest[:LARGEST_SHOWN]]
    report.table("largest entries", ("entry", "size", "compressed"), rows)
    report.run.package = package
