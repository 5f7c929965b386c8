"""Local build: dependencies installed for the target Linux/Python, cached, then audited.

The engine (a Debian container of the target Python, or target wheels on the host) fills a
staging folder inside the cache; the entry is published atomically, then linked into the run's
workspace and packaged from there as ``.python_packages/lib/site-packages``, in place of the
project's own ``.python_packages`` (which is never touched). An unchanged key skips the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from azpublish.builders import (
    PACKAGES_DIR,
    SITE_PACKAGES,
    BuildResult,
    IndexedFunction,
    audit_folder,
    exclude_packages,
)
from azpublish.builders.cache import BuildCache, cache_key, materialize
from azpublish.builders.container import ContainerEngine
from azpublish.builders.engine import Engine, Installer, InstallRequest
from azpublish.builders.wheels import WheelsEngine
from azpublish.cleanup import owned_folder
from azpublish.ignore import Overlay
from azpublish.local_settings import read_local_settings
from azpublish.project import Project
from azpublish.report import Reporter
from azpublish.requirements import mirror_without_left_out
from azpublish.run_report import CacheFacts, PreflightFacts
from azpublish.runtime import Target
from azpublish.toolchain.engine_choice import EngineChoice, choose_engine


@dataclass(frozen=True)
class LocalOptions:
    engine: EngineChoice = "auto"
    installer: Installer | None = None
    base_image: str | None = None
    build_image: str | None = None
    additional_packages: tuple[str, ...] = ()
    pip_extra_index_url: str | None = None
    no_cache: bool = False
    cache_dir: Path | None = None
    preflight: bool = True
    dry_run: bool = False  # say what would be built; write nothing, not even the cache
    preflight_timeout: float = 120.0  # seconds importing the app may take in the import check


def index_environment(options: LocalOptions) -> dict[str, str]:
    """azpublish's own source settings, in pip's names: they win over the machine's pip
    configuration (files and ``PIP_*``), which the toolchain reads itself."""
    if options.pip_extra_index_url:
        return {"PIP_EXTRA_INDEX_URL": options.pip_extra_index_url}
    return {}


class LocalBuilder:
    mode: Literal["local"] = "local"
    # The project's own .python_packages is replaced by what this build installs, which ships
    # whatever .funcignore says (the azd templates list .python_packages there).
    excludes = exclude_packages("--build local (it packages the dependencies it installs)")
    includes: tuple[tuple[str, str], ...] = ()

    def __init__(self, options: LocalOptions) -> None:
        self.options = options

    def build(self, project: Project, target: Target, report: Reporter,
              workspace: Path) -> BuildResult:
        if (project.root / PACKAGES_DIR).exists():
            report.detail(f"the project's {PACKAGES_DIR}/ is left as it is and out of the "
                          "package: the dependencies built now take its place")
        if project.requirements.empty:
            report.info("requirements.txt lists nothing to install: no local build needed")
            return self.result(project, target, report, engine=None)
        if self.options.dry_run:
            report.info(f"dry run: would install requirements.txt for {target.describe()} "
                        "(--build local); nothing was built")
            return BuildResult(self.mode)
        engine = self.choose_engine(report, target)
        installer = self.installer_for(engine, report)
        copies = mirror_without_left_out(project.requirements, workspace / "requirements")
        request = InstallRequest(project.root, project.requirements.files, target, installer,
                                 index_environment(self.options), copies=copies)
        extra = {"additional_packages": " ".join(sorted(self.options.additional_packages))}
        if project.requirements.left_out:
            extra["left_out"] = " ".join(sorted({str(line.name)
                                                for line in project.requirements.left_out}))
        key = cache_key(request, engine.identity(request), extra)
        cache = BuildCache(self.options.cache_dir)
        with cache.locked(key):
            entry = None if self.options.no_cache else cache.lookup(key)
            hit = entry is not None
            if entry is None:
                report.info(f"building dependencies for {target.describe()} with the "
                            f"{engine.name} engine ({installer})")
                # However the build ends, no half-built folder stays (stored, it has moved).
                with owned_folder(lambda: cache.staging_dir(key)) as staging:
                    engine.install(replace(request, output=staging), report.info)
                    audit_folder(staging, SITE_PACKAGES, target, report)
                    entry = cache.store(key, staging)
            # A hit needs no new audit: the entry was audited before it was stored, and the
            # target is part of its key. Linked while the key is locked: a concurrent
            # --no-cache rebuild may replace the entry, never these links to its files.
            site_packages = workspace / "site-packages"
            materialize(entry, site_packages)
        state = "hit" if hit else ("rebuilt (--no-cache)" if self.options.no_cache else "miss")
        report.info(f"dependency cache {state}: {key.digest[:12]}; packaged as "
                    f"{SITE_PACKAGES}")
        report.run.cache = CacheFacts(hit, key.digest, engine.name, installer)
        overlay = Overlay(SITE_PACKAGES, site_packages, "--build local")
        return self.result(project, target, report, engine, (overlay,))

    def result(self, project: Project, target: Target, report: Reporter, engine: Engine | None,
               overlays: tuple[Overlay, ...] = ()) -> BuildResult:
        if not self.options.preflight:
            return BuildResult(self.mode, overlays=overlays)
        return BuildResult(self.mode, overlays=overlays, check=lambda wwwroot: check_imports(
            project, wwwroot, target, report, self.options, engine=engine))

    def choose_engine(self, report: Reporter, target: Target) -> Engine:
        """The container engine with its image ready (built here, with its log shown), or the
        wheels engine: asked for, or what --engine auto falls back to, with a notice."""
        container = choose_engine(
            self.options.engine, lambda: ready_container(self.options, target, report.info),
            notice=report.warn, instead="installing pre-built wheels for the target instead "
            "(--engine wheels; --engine container makes this an error)")
        return WheelsEngine() if container is None else container

    def installer_for(self, engine: Engine, report: Reporter) -> Installer:
        """pip in the container unless told otherwise; the wheels engine installs with uv only
        (pip evaluates markers for the Python running it, not for the target)."""
        if engine.name != "wheels":
            return self.options.installer or "pip"
        if self.options.installer == "pip":
            report.warn("the wheels engine installs with uv: pip cannot evaluate environment "
                        "markers for another Python (--installer pip applies to --engine "
                        "container)")
        return "uv"


def ready_container(options: LocalOptions, target: Target,
                    log: Callable[[str], None]) -> ContainerEngine:
    """A container engine whose build image for ``target`` exists (built now if needed)."""
    engine = ContainerEngine(base_image=options.base_image, build_image=options.build_image,
                             additional_packages=options.additional_packages)
    engine.ensure_image(target, log)
    return engine


def check_imports(project: Project, wwwroot: Path, target: Target, report: Reporter,
                  options: LocalOptions, engine: Engine | None) -> tuple[IndexedFunction, ...]:
    """Import every function from ``wwwroot`` (the staged package) as the Python worker would,
    before anything is uploaded; the functions it indexed (none when the check could not run).

    In the build container when there is one (a custom build asks whether a daemon answers,
    unless --engine wheels), else with a host interpreter of the target version.
    """
    from azpublish.builders.preflight import raise_for_preflight, run_preflight

    image = runner = None
    if isinstance(engine, ContainerEngine):  # the local build just used it: failures are real
        image, runner = engine.ensure_image(target, report.detail), engine.runner
    elif engine is None:  # a custom build: the same engine choice, with its fallback
        container = choose_engine(
            options.engine, lambda: ready_container(options, target, report.detail),
            notice=report.info, instead="the import check uses a host interpreter instead")
        if container is not None:
            image, runner = container.ensure_image(target), container.runner
    scripts = [function.script for function in project.functions]
    result = run_preflight(wwwroot, project.model, scripts, target, image=image, runner=runner,
                           timeout=options.preflight_timeout,
                           app_settings=local_values(project),
                           left_out=modules_left_out(project.root, wwwroot))
    if result.runner.startswith("skipped"):
        report.warn(f"import check {result.runner}")
        return ()
    raise_for_preflight(result)
    if result.network:
        report.warn(f"app code tried the network while being imported ({', '.join(result.network)})"
                    ": the import check allows none, and the app coped; on Azure this runs at "
                    "every cold start, before the first call")
    names = ", ".join(result.functions) or "none listed"
    report.info(f"import check passed ({result.runner}): {names}")
    report.run.preflight = PreflightFacts(result.runner, list(result.functions))
    return tuple(IndexedFunction(name, result.triggers.get(name, ""))
                 for name in result.functions)


def local_values(project: Project) -> dict[str, str]:
    """local.settings.json's Values (none when it is missing or unusable: discovery warned)."""
    settings = read_local_settings(project.root)
    return {} if settings is None or settings.problem else settings.values


def modules_left_out(root: Path, wwwroot: Path) -> frozenset[str]:
    """Top-level modules and packages of the project that the staged package does not hold."""
    names = set()
    for path in root.iterdir():
        if path.suffix == ".py" and path.is_file():
            names.add(path.stem)
        elif path.is_dir() and path.name.isidentifier():
            names.add(path.name)
    return frozenset(n for n in names if not (wwwroot / f"{n}.py").exists()
                     and not (wwwroot / n).is_dir())
