"""The deploy plan: what will be done to the app, as data.

``plan_deploy`` is pure: from the app's plan, the build mode and the current app settings it
decides the steps of reference section 6, and the cleanup that undoes them (run whatever
happens). The executor runs them; ``--dry-run`` prints them.
Settings values never appear in a step's description (they may be secrets): only names do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from azpublish.azure.arm import PlanKind
from azpublish.errors import UsageError
from azpublish.settings import BuildMode

TRUE_VALUES = {"1", "true", "yes"}
# Where a remote build needs these, they must be on; an explicit "false" is a conflict to report.
REMOTE_BUILD_REQUIRED = {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true", "ENABLE_ORYX_BUILD": "true"}
# What Core Tools adds for a remote build, only where the user has not set it.
REMOTE_BUILD_DEFAULTS = {"BUILD_FLAGS": "UseExpressBuild", "XDG_CACHE_HOME": "/tmp/.cache"}  # noqa: S108
RUN_FROM_PACKAGE = "WEBSITE_RUN_FROM_PACKAGE"
PIP_EXTRA_INDEX_URL = "PIP_EXTRA_INDEX_URL"
PACKAGE_TAG = "azpublish-package"  # the ARM tag that remembers the deployed package
BUSY_WAIT = 300.0  # seconds an upload may wait for another deployment (never beyond --timeout)


@dataclass(frozen=True)
class PackageFacts:
    """What makes two packages "the same": content, build mode, target Python and plan."""

    sha256: str
    build: str = ""
    python: str = ""
    plan: str = ""

    def stamp(self) -> str:
        return package_stamp(self.sha256, self.build, self.python, self.plan)


@dataclass(frozen=True)
class CheckUnchanged(PackageFacts):
    """The same package, built the same way for the same Python, is not uploaded again."""

    def describe(self) -> str:
        which = f"sha256 {self.sha256[:12]}..." if self.sha256 else "this package's sha256"
        return (f"skip the upload if the last successful deployment has {which}, build "
                f"{self.build or '?'}, Python {self.python or '?'} and plan {self.plan or '?'} "
                "(unless --force)")


@dataclass(frozen=True)
class RememberPackage(PackageFacts):
    """Tag the app with what was deployed: real Flex keeps no deployment message, so the tag
    is how the next publish recognises an unchanged package there."""

    def describe(self) -> str:
        return (f"tag the app with {PACKAGE_TAG} (this package's sha256, build, Python and "
                "plan, and the deployment id)")


def package_stamp(sha256: str, build: str, python: str, plan: str) -> str:
    """What the deployment message carries, so a later publish can tell the same package built
    the same way for the same Python and plan."""
    return f"sha256={sha256} build={build} python={python} plan={plan}"


@dataclass(frozen=True)
class UpdateAppSettings:
    set: Mapping[str, str] = field(repr=False)  # values may be secrets (an index credential)
    remove: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.set:
            parts.append("set " + ", ".join(sorted(self.set)))
        if self.remove:
            parts.append("remove " + ", ".join(sorted(self.remove)))
        return "update app settings: " + "; ".join(parts) + " (restarts the app)"


@dataclass(frozen=True)
class WaitForKuduSettings:
    expected: Mapping[str, str | None] = field(repr=False)  # None: must be absent; secrets

    def describe(self) -> str:
        return "wait until Kudu's /api/settings shows " + ", ".join(sorted(self.expected))


@dataclass(frozen=True)
class Upload:
    endpoint: Literal["zipdeploy", "onedeploy"]
    remote_build: bool
    busy_wait: float = BUSY_WAIT  # how long a deployment already running may hold us back

    def describe(self) -> str:
        call = ("POST /api/zipdeploy?isAsync=true" if self.endpoint == "zipdeploy"
                else f"POST /api/publish?type=zip&RemoteBuild={str(self.remote_build).lower()}")
        build = "the server builds dependencies" if self.remote_build else "no server build"
        return (f"upload the package: {call} ({build}; waiting at most {self.busy_wait:.0f} s "
                "for a deployment already running)")


@dataclass(frozen=True)
class TrackDeployment:
    timeout: float

    def describe(self) -> str:
        return f"follow the deployment started by the upload (at most {self.timeout:.0f} s)"


@dataclass(frozen=True)
class CheckDependencies:
    """After a remote build of an app with requirements: the server really installed them
    (Kudu skips a build it reads stale settings for, and Oryx installs nothing when it finds no
    requirements file). Only where Kudu serves the built wwwroot: dedicated and Premium."""

    folder: str = "site/wwwroot/.python_packages/lib/site-packages"

    def describe(self) -> str:
        return f"check that the remote build installed the dependencies ({self.folder})"


@dataclass(frozen=True)
class SyncTriggers:
    def describe(self) -> str:
        return "sync function triggers"


@dataclass(frozen=True)
class ListFunctions:
    """The host lists functions late after a deployment: wait, bounded, for what the package
    holds (``expected``: names known before upload), or for any function when none is known."""

    wait: float = 120.0
    expected: tuple[str, ...] = ()
    allow_partial: bool = False  # some of ``expected`` listed is a warning, not a failure
    model: str = ""  # "v1" or "v2" (empty: not known), for what a failure message suggests
    import_checked: bool = False  # the build's import check ran on the package

    def describe(self) -> str:
        wanted = (f"the {len(self.expected)} functions of the package" if self.expected
                  else "at least one function")
        otherwise = ("a warning if only some are listed (--allow-partial), a failure (exit 5) "
                     "if none is" if self.allow_partial else "otherwise a failure (exit 5)")
        return f"wait (at most {self.wait:.0f} s) until the host lists {wanted}; {otherwise}"


@dataclass(frozen=True)
class VerifyUrl:
    path: str

    def describe(self) -> str:
        return f"GET {self.path} on the app and require a 2xx answer"


@dataclass(frozen=True)
class RestoreAppSettings:
    """Undo what ``UpdateAppSettings`` changed, and only that: each setting it touched gets its
    earlier value back (None: it was absent, so it goes). Values may be secrets: never shown."""

    previous: Mapping[str, str | None] = field(repr=False)

    def describe(self) -> str:
        return ("put back the app settings this publish changed ("
                + ", ".join(sorted(self.previous)) + "), whatever happens")


Step = (CheckUnchanged | UpdateAppSettings | WaitForKuduSettings | Upload | TrackDeployment
        | CheckDependencies | RememberPackage | SyncTriggers | ListFunctions | VerifyUrl)
Cleanup = RestoreAppSettings


@dataclass(frozen=True)
class DeployPlan:
    """The steps, in order, and what undoes them: the cleanup runs after the steps however
    they end (success, failure or Ctrl-C), for what the steps did."""

    steps: tuple[Step, ...]
    cleanup: tuple[Cleanup, ...] = ()

    def describe(self) -> list[str]:
        return [step.describe() for step in (*self.steps, *self.cleanup)]


@dataclass(frozen=True)
class DeployOptions:
    mode: BuildMode
    sha256: str
    timeout: float
    pip_extra_index_url: str | None = field(default=None, repr=False)
    restore_settings: bool = False
    verify_url: str | None = None
    index_timeout: float = 120.0
    expected_functions: tuple[str, ...] = ()
    python: str = ""
    allow_partial: bool = False  # the target Python, part of what makes a package "unchanged"
    model: str = ""  # the app's programming model, "v1" or "v2"
    import_checked: bool = False
    has_requirements: bool = False  # requirements.txt names something to install


def plan_deploy(plan: PlanKind, current: Mapping[str, str], options: DeployOptions,
                *, arm_access: bool = True) -> DeployPlan:
    wanted: dict[str, str] = {}
    remove: list[str] = []
    busy = min(BUSY_WAIT, options.timeout)
    if options.pip_extra_index_url and current.get(PIP_EXTRA_INDEX_URL) != \
            options.pip_extra_index_url and options.mode == "remote":
        wanted[PIP_EXTRA_INDEX_URL] = options.pip_extra_index_url

    if plan == "flex":
        upload = Upload("onedeploy", options.mode == "remote", busy)
    elif options.mode == "remote":
        wanted.update(remote_build_settings(current))
        if RUN_FROM_PACKAGE in current:
            remove.append(RUN_FROM_PACKAGE)
        upload = Upload("zipdeploy", True, busy)
    else:
        check_supported(plan, options.mode)
        if current.get(RUN_FROM_PACKAGE) != "1":
            wanted[RUN_FROM_PACKAGE] = "1"
        upload = Upload("zipdeploy", False, busy)

    if not arm_access:
        return kudu_only_plan(wanted, remove, upload, options, plan)
    steps: list[Step] = [CheckUnchanged(options.sha256, options.mode, options.python, plan)]
    if wanted or remove:
        steps.append(UpdateAppSettings(wanted, tuple(remove)))
        steps.append(WaitForKuduSettings({**wanted, **dict.fromkeys(remove)}))
    steps += [upload, TrackDeployment(options.timeout), *dependency_check(plan, options),
              RememberPackage(options.sha256, options.mode, options.python, plan),
              SyncTriggers(),
              ListFunctions(options.index_timeout, options.expected_functions,
                            options.allow_partial, options.model, options.import_checked)]
    if options.verify_url:
        steps.append(VerifyUrl(options.verify_url))
    cleanup: tuple[Cleanup, ...] = ()
    if options.restore_settings and (wanted or remove):
        cleanup = (RestoreAppSettings({name: current.get(name) for name in (*wanted, *remove)}),)
    return DeployPlan(tuple(steps), cleanup)


def dependency_check(plan: PlanKind, options: DeployOptions) -> tuple[Step, ...]:
    """Consumption keeps the built app in a package Kudu does not serve, and Flex builds apart
    from Kudu: there the build log is all there is, and the tracker reads it."""
    wanted = options.mode == "remote" and options.has_requirements
    return (CheckDependencies(),) if wanted and plan in ("dedicated", "premium") else ()


def check_supported(plan: PlanKind, mode: BuildMode) -> None:
    """Refuse, before anything is built, a publish this version cannot deploy."""
    if plan == "consumption" and mode != "remote":
        raise UsageError(
            f"--build {mode} on a Linux Consumption app needs the blob-storage upload "
            "path, which this version of azpublish does not have",
            fix="use --build remote for this app, or move it to a Flex Consumption or "
            "Premium plan")


def remote_build_settings(current: Mapping[str, str]) -> dict[str, str]:
    """The settings a remote build needs, merged without overriding the user's own values."""
    wanted: dict[str, str] = {}
    for name, value in REMOTE_BUILD_REQUIRED.items():
        if name not in current:
            wanted[name] = value
        elif current[name].strip().lower() not in TRUE_VALUES:
            raise UsageError(
                f"app setting {name}={current[name]!r} turns the remote build off, but "
                "--build remote was asked for",
                where=f"app setting {name}",
                fix="remove the setting or set it to true, or publish with --build local")
    for name, value in REMOTE_BUILD_DEFAULTS.items():
        if name not in current:
            wanted[name] = value
    return wanted


def kudu_only_plan(wanted: Mapping[str, str], remove: list[str], upload: Upload,
                   options: DeployOptions, plan: PlanKind) -> DeployPlan:
    """Without Resource Manager: no settings changes, trigger sync or function list.

    Kudu syncs triggers itself after a successful ZIP deploy, so only the listing is lost.
    """
    if wanted or remove:
        changes = [f"{name}={'<set>' if name == PIP_EXTRA_INDEX_URL else value}"
                   for name, value in sorted(wanted.items())]
        changes += [f"remove {name}" for name in remove]
        raise UsageError(
            "this publish needs app setting changes, which a publish profile alone cannot make: "
            + ", ".join(changes),
            fix="make them in the portal (or az functionapp config appsettings set), or give "
            "azpublish Resource Manager access with --subscription and a credential")
    steps: list[Step] = [CheckUnchanged(options.sha256, options.mode, options.python, plan),
                         upload,
                         TrackDeployment(options.timeout), *dependency_check(plan, options)]
    if options.verify_url:
        steps.append(VerifyUrl(options.verify_url))
    return DeployPlan(tuple(steps))
