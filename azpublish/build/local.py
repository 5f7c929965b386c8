"""Local build: dependencies installed for the target Linux/Python, cached, then audited.

The engine (a Debian container of the target Python, or target wheels on the host) fills a
staging folder inside the cache; the entry is published atomically and then materialised as
the project's ``.python_packages/lib/site-packages``. An unchanged key skips the engine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from azpublish.build import PACKAGES_DIR, SITE_PACKAGES, BuildResult, audit_folder
from azpublish.build.audit import Target
from azpublish.build.cache import BuildCache, cache_key, materialize
from azpublish.build.engine import Engine, Installer, InstallRequest
from azpublish.errors import BuildError
from azpublish.project import Project
from azpublish.redact import register_url_credentials
from azpublish.report import Reporter

EngineChoice = Literal["auto", "container", "wheels"]


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


def index_environment(options: LocalOptions,
                      environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """PIP_* settings for the installer: the caller's environment, then --pip-extra-index-url."""
    environ = os.environ if environ is None else environ
    settings = {k: v for k, v in environ.items() if k.startswith("PIP_") and v}
    if options.pip_extra_index_url:
        settings["PIP_EXTRA_INDEX_URL"] = options.pip_extra_index_url
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        for url in settings.get(name, "").split():
            register_url_credentials(url)
    return settings


class LocalBuilder:
    mode: Literal["local"] = "local"
    excludes: tuple[tuple[str, str], ...] = ()
    # What the build installed ships whatever .funcignore says (the azd templates list it).
    includes: tuple[tuple[str, str], ...] = ((f"{PACKAGES_DIR}/", "--build local"),)

    def __init__(self, options: LocalOptions) -> None:
        self.options = options

    def build(self, project: Project, target: Target, report: Reporter) -> BuildResult:
        destination = project.root / SITE_PACKAGES
        if project.requirements.empty:
            report.info("requirements.txt lists nothing to install: no local build needed")
            return BuildResult(self.mode)
        if self.options.dry_run:
            report.info(f"dry run: would install requirements.txt for {target.describe()} "
                        "(--build local); nothing was built")
            return BuildResult(self.mode)
        engine = self.choose_engine(report, target)
        installer: Installer = self.options.installer or (
            "uv" if engine.name == "wheels" else "pip")
        request = InstallRequest(project.root, project.requirements.files, target, installer,
                                 index_environment(self.options))
        extra = {"additional_packages": " ".join(sorted(self.options.additional_packages))}
        key = cache_key(request, engine.identity(request), extra)
        cache = BuildCache(self.options.cache_dir)
        with cache.locked(key):
            entry = None if self.options.no_cache else cache.lookup(key)
            hit = entry is not None
            if entry is None:
                report.info(f"building dependencies for {target.describe()} with the "
                            f"{engine.name} engine ({installer})")
                staging = cache.staging_dir(key)
                engine.install(replace(request, output=staging), report.info)
                audit_folder(staging, SITE_PACKAGES, target, report)
                entry = cache.store(key, staging)
            # A hit needs no new audit: the entry was audited before it was stored, and the
            # target is part of its key.
            materialize(entry, destination)
        state = "hit" if hit else ("rebuilt (--no-cache)" if self.options.no_cache else "miss")
        report.info(f"dependency cache {state}: {key.digest[:12]}; installed into "
                    f"{SITE_PACKAGES}")
        report.data["cache"] = {"hit": hit, "key": key.digest, "engine": engine.name,
                                "installer": installer}
        if not self.options.preflight:
            return BuildResult(self.mode)
        return BuildResult(self.mode, check=lambda: check_imports(
            project, target, report, self.options, engine=engine))

    def choose_engine(self, report: Reporter, target: Target) -> Engine:
        """The container engine with its image ready (built here, with its log shown), or the
        wheels engine: asked for, or what --engine auto falls back to, with a notice."""
        choice = self.options.engine
        if choice in ("auto", "container"):
            from azpublish.build.container import ContainerEngine, connect

            try:
                connect().close()  # only asks whether a daemon answers
                engine = ContainerEngine(base_image=self.options.base_image,
                                         build_image=self.options.build_image,
                                         additional_packages=self.options.additional_packages)
                engine.ensure_image(target, report.info)
            except BuildError as error:
                if choice == "container":
                    raise
                report.warn(f"the container engine is not usable ({error.what.splitlines()[0]});"
                            " installing pre-built wheels for the target instead (--engine "
                            "wheels; --engine container makes this an error)")
            else:
                return engine
        from azpublish.build.wheels import WheelsEngine

        return WheelsEngine()



def check_imports(project: Project, target: Target, report: Reporter, options: LocalOptions,
                  engine: Engine | None) -> tuple[str, ...]:
    """Import every function as the Python worker would, before anything is uploaded; the
    names of the functions it indexed (none when the check could not run).

    In the build container when there is one (a custom build asks whether a daemon answers,
    unless --engine wheels), else with a host interpreter of the target version.
    """
    from azpublish.build.preflight import raise_for_preflight, run_preflight

    image = None
    container = engine if engine is not None and engine.name == "container" else None
    if container is None and engine is None and options.engine != "wheels":
        from azpublish.build.container import ContainerEngine, connect

        try:
            connect().close()
        except BuildError:
            pass
        else:
            container = ContainerEngine(base_image=options.base_image,
                                        build_image=options.build_image,
                                        additional_packages=options.additional_packages)
    if container is not None:
        from azpublish.build.container import ContainerEngine

        assert isinstance(container, ContainerEngine)
        try:
            image = container.ensure_image(target, report.detail)
        except BuildError as error:
            if engine is not None:  # the local build just used this engine: a real failure
                raise
            report.info(f"import check: no build image ({error.what.splitlines()[0]}); "
                        "using a host interpreter instead")
    scripts = [function.script for function in project.functions]
    result = run_preflight(project.root, project.model, scripts, target, image=image)
    if result.runner.startswith("skipped"):
        report.warn(f"import check {result.runner}")
        return ()
    raise_for_preflight(result)
    names = ", ".join(result.functions) or "none listed"
    report.info(f"import check passed ({result.runner}): {names}")
    report.data["preflight"] = {"runner": result.runner, "functions": list(result.functions)}
    return result.functions
