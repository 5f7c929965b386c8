"""Run a deploy plan against ARM and Kudu, or (dry run) only describe it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import requests

from azpublish.azure.arm import Arm
from azpublish.azure.functions_host import Diagnosis, diagnose
from azpublish.azure.kudu import AuthRejected, KuduClient, Started
from azpublish.azure.tracker import track_deployment
from azpublish.cleanup import shielded
from azpublish.deploy.plan import (
    PACKAGE_TAG,
    CheckDependencies,
    CheckUnchanged,
    Cleanup,
    DeployPlan,
    ListFunctions,
    RememberPackage,
    RestoreAppSettings,
    Step,
    SyncTriggers,
    TrackDeployment,
    UpdateAppSettings,
    Upload,
    VerifyUrl,
    WaitForKuduSettings,
)
from azpublish.deploy.target import DeployTarget
from azpublish.errors import AzPublishError, DeployError, VerificationError
from azpublish.redact import redact
from azpublish.report import Reporter
from azpublish.run_report import DeployResult, ListedFunction, VerifyFacts

DEPLOYER = "azpublish"
SETTINGS_POLL_INTERVAL = 5.0
SETTINGS_WAIT = 300.0
INDEX_POLL_INTERVAL = 3.0  # seconds between function lists while the host indexes
INDEX_NOTICE = 15.0  # seconds between "waiting for the host" lines
# The log entry Kudu (KuduLite) writes when it runs the remote build; a zip deploy asked to
# build whose log lacks it was deployed without its dependencies.
BUILD_STEP = "Running oryx build"
# What Oryx logs when it finds no requirements file: the build "succeeds" having installed nothing.
NOTHING_INSTALLED = "Not installing dependencies"
_STAMP = re.compile(r"\b(sha256|build|python|plan)=(\S+)")
_TAGGED_DEPLOYMENT = re.compile(r"\bdeployment=(\S+)")


def _stamped(message: str, stamp: str) -> bool:
    """Whether a deployment message carries the same package, build mode, Python and plan.

    (A message without one of them, from an older azpublish, never matches: uploading again is
    the safe answer.)
    """
    return dict(_STAMP.findall(message)) == dict(_STAMP.findall(stamp))


def _tag_names(tag: str, stamp: str, deployment_id: str) -> bool:
    """Whether the app's package tag says this package went out in ``deployment_id``: the tag
    counts only while that deployment is still the last successful one, so a deployment made
    since by another tool is never mistaken for ours."""
    tagged = _TAGGED_DEPLOYMENT.search(tag)
    return (tagged is not None and tagged.group(1) == deployment_id
            and _stamped(tag, stamp))


def describe_plan(plan: DeployPlan, report: Reporter) -> None:
    report.info("plan:")
    described = plan.describe()
    for number, line in enumerate(described, start=1):
        report.info(f"  {number}. {line}")
    report.run.plan = described


class Executor:
    def __init__(self, target: DeployTarget, report: Reporter, package: Path, message: str, *,
                 force: bool = False, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.report = report
        self.package = package
        self.message = message
        self.force = force
        self.sleep = sleep
        self.clock = clock
        self.result = DeployResult()
        self.kudu: KuduClient = target.kudu
        self.started: Started | None = None
        self.uploaded: Upload | None = None
        self.tracked_log: tuple[str, ...] = ()  # the followed deployment's log lines

    def run(self, plan: DeployPlan) -> DeployResult:
        """The steps, then the cleanup, which runs after a failure or Ctrl-C too."""
        try:
            for step in plan.steps:
                if self.result.skipped and not isinstance(step, (ListFunctions, VerifyUrl)):
                    continue
                self.report.detail(f"step: {step.describe()}")
                self.run_step(step)
        except BaseException as failure:
            with shielded():  # a second Ctrl-C must not leave the settings half put back
                self.clean_up(plan.cleanup, failure)
            raise
        with shielded():
            self.clean_up(plan.cleanup, None)
        return self.result

    def clean_up(self, cleanup: Sequence[Cleanup], failure: BaseException | None) -> None:
        """Undo what the steps did. When undoing fails too, say what is left undone: after a
        failure as a warning (the failure stays the error), after a success as the error."""
        for step in cleanup:
            if not self.result.settings_changed:
                continue  # the steps changed no setting: nothing to put back
            self.report.detail(f"cleanup: {step.describe()}")
            names = ", ".join(sorted(step.previous))
            fix = (f"put them back by hand (az functionapp config appsettings set/delete on "
                   f"{self.target.ref}); they may hold what this publish set, a package "
                   "index URL with its credential included")
            try:
                self.restore_settings(step)
            except KeyboardInterrupt:
                self.report.warn(f"interrupted while putting back app settings {names}: {fix}")
                raise
            except Exception as exc:
                why = exc.what if isinstance(exc, AzPublishError) else type(exc).__name__
                if failure is None:
                    raise DeployError(f"the deployment succeeded, but app settings {names} "
                                      f"could not be put back: {why}", fix=fix) from exc
                self.report.warn(f"app settings {names} could not be put back after the "
                                 f"failure: {why}; {fix}")

    def restore_settings(self, step: RestoreAppSettings) -> None:
        current = self.arm.app_settings(self.target.ref)
        restored = {name: value for name, value in current.items()
                    if step.previous.get(name, value) is not None}
        restored.update({name: value for name, value in step.previous.items()
                         if value is not None})
        self.arm.set_app_settings(self.target.ref, restored)
        self.result.settings_restored = True
        self.report.info("app settings put back as they were before this publish: "
                         + ", ".join(sorted(step.previous)))

    def run_step(self, step: Step) -> None:
        if isinstance(step, CheckUnchanged):
            self.check_unchanged(step)
        elif isinstance(step, UpdateAppSettings):
            self.update_settings(step)
        elif isinstance(step, WaitForKuduSettings):
            self.wait_for_settings(step)
        elif isinstance(step, Upload):
            self.upload(step)
        elif isinstance(step, TrackDeployment):
            self.track(step)
        elif isinstance(step, CheckDependencies):
            self.check_dependencies(step)
        elif isinstance(step, RememberPackage):
            self.remember(step)
        elif isinstance(step, SyncTriggers):
            self.arm.sync_triggers(self.target.ref, on_retry=self.report.info)
            self.report.info("triggers synced")
        elif isinstance(step, ListFunctions):
            self.list_functions(step)
        elif isinstance(step, VerifyUrl):
            self.verify_url(step)
        else:
            _no_handler(step)

    # -- steps ----------------------------------------------------------------------------------

    def check_unchanged(self, step: CheckUnchanged) -> None:
        last = next((d for d in self.with_auth_fallback(self.kudu.deployments)
                     if d.get("status") == 4), None)
        if last is None:
            return
        tag = self.target.site.tags.get(PACKAGE_TAG, "")
        if not (_stamped(str(last.get("message") or ""), step.stamp())
                or _tag_names(tag, step.stamp(), str(last.get("id")))):
            return
        if self.force:
            self.report.info("the package is unchanged since the last deployment; uploading "
                             "anyway (--force)")
            return
        self.report.info(f"the package is unchanged since deployment {last['id']} (same "
                         f"sha256, --build {step.build}, Python {step.python}, plan "
                         f"{step.plan}): skipping the upload; pass --force to deploy anyway")
        self.result.skipped = True
        self.result.status = "unchanged"
        self.result.deployment_id = str(last["id"])

    def update_settings(self, step: UpdateAppSettings) -> None:
        current = self.arm.app_settings(self.target.ref)
        merged = {k: v for k, v in current.items() if k not in step.remove}
        merged.update(step.set)
        self.arm.set_app_settings(self.target.ref, merged)
        self.result.settings_changed = True
        self.report.info(step.describe().replace("update app settings", "updated app settings"))

    def wait_for_settings(self, step: WaitForKuduSettings) -> None:
        deadline = self.clock() + SETTINGS_WAIT
        while True:
            seen = self.with_auth_fallback(self.kudu.settings)
            pending = sorted(name for name, value in step.expected.items()
                             if seen.get(name) != value)
            if not pending:
                return
            if self.clock() >= deadline:
                raise DeployError(
                    f"Kudu still does not show the new app settings after {SETTINGS_WAIT:.0f} s:"
                    f" {', '.join(pending)}",
                    where=self.kudu.url("api/settings"),
                    fix="the app may be restarting slowly; run the publish again")
            self.report.detail(f"waiting for Kudu to see {', '.join(pending)}")
            self.sleep(SETTINGS_POLL_INTERVAL)

    def upload(self, step: Upload) -> None:
        size = self.package.stat().st_size
        with self.report.progress("uploading", size) as advance:
            def send() -> Started:
                if step.endpoint == "onedeploy":
                    return self.kudu.onedeploy(self.package, remote_build=step.remote_build,
                                               deployer=DEPLOYER, message=self.message,
                                               progress=advance, wait_if_busy=step.busy_wait)
                return self.kudu.zipdeploy(self.package, deployer=DEPLOYER,
                                           message=self.message, progress=advance,
                                           wait_if_busy=step.busy_wait)

            self.started = self.with_auth_fallback(send)
        self.uploaded = step
        self.result.deployment_id = self.started.deployment_id
        self.result.status = "uploaded"
        self.report.info(f"uploaded {self.package.name} ({size} bytes); deployment "
                         f"{self.started.deployment_id or '(id pending)'}")

    def track(self, step: TrackDeployment) -> None:
        assert self.started is not None, "the plan uploads before it tracks"
        try:
            outcome = track_deployment(self.kudu, self.started, message=self.message,
                                       timeout=step.timeout, on_line=self.report.info,
                                       sleep=self.sleep, clock=self.clock)
        except DeployError:
            self.result.status = "failed"
            raise
        self.result.deployment_id = outcome.deployment_id
        self.tracked_log = tuple(outcome.log)
        upload = self.uploaded
        if upload is not None and upload.remote_build and upload.endpoint == "zipdeploy" \
                and not any(BUILD_STEP in line for line in outcome.log):
            self.result.status = "not built"
            raise DeployError(
                "it finished without the remote build that was asked for: its log has no "
                f"'{BUILD_STEP}...' step, so requirements.txt was not installed and the app "
                "will not find its dependencies",
                where=f"deployment {outcome.deployment_id}",
                fix="Kudu read the app settings from before the build was switched on; publish "
                    "again with --force (the same package would otherwise be skipped as "
                    "unchanged), and check SCM_DO_BUILD_DURING_DEPLOYMENT and ENABLE_ORYX_BUILD")
        self.result.status = "success"
        self.report.info(f"deployment {outcome.deployment_id} succeeded")

    def check_dependencies(self, step: CheckDependencies) -> None:
        """The build ran, but did it install anything? Oryx says so when it found no
        requirements file, and leaves the folder empty when pip installed nothing."""
        deployment = self.result.deployment_id
        skipped = next((line for line in self.tracked_log if NOTHING_INSTALLED in line), None)
        entries = self.with_auth_fallback(lambda: self.kudu.folder(step.folder))
        if skipped is None and entries:
            self.report.detail(f"the remote build installed {len(entries)} entries in "
                               f"{step.folder}")
            return
        self.result.status = "not built"
        why = (f"the server's build says: {skipped.strip()}" if skipped is not None
               else f"{step.folder} is {'missing' if entries is None else 'empty'} on the app")
        raise DeployError(
            f"it finished, but the remote build installed none of the requirements ({why}), "
            "so the app will not find its dependencies",
            where=f"deployment {deployment}",
            fix="check that requirements.txt is at the app's root and packaged (not excluded "
                "by .funcignore), look at the deployment log, then publish again with --force")

    def remember(self, step: RememberPackage) -> None:
        value = f"{step.stamp()} deployment={self.result.deployment_id}"
        try:
            self.arm.merge_tags(self.target.ref, {PACKAGE_TAG: value})
        except DeployError as exc:
            # The deployment itself succeeded; only the next unchanged-package check is lost.
            self.report.warn(f"could not tag the app with {PACKAGE_TAG} ({exc.what}): the next "
                             "publish cannot tell an unchanged package on plans that keep no "
                             "deployment message (Flex)")
            return
        self.report.detail(f"tagged the app: {PACKAGE_TAG}={value}")

    def list_functions(self, step: ListFunctions) -> None:
        """Wait, bounded by ``step.wait``, until the host lists what the package holds: the
        list stays empty or stale for a while after a deployment on the real service."""
        begin = self.clock()
        said: float | None = None
        wanted = (f"the {len(step.expected)} functions" if step.expected else "the functions")
        while True:
            functions = self.arm.functions(self.target.ref)
            missing = sorted(set(step.expected) - {f.name for f in functions})
            waited = self.clock() - begin
            if functions and not missing:
                break
            if waited >= step.wait:
                diagnosis = self._diagnose(missing)
                self.result.missing = list(missing)
                self.result.load_errors = [e.as_dict() for e in diagnosis.errors]
                if not (step.allow_partial and functions):
                    self._not_indexed(step, functions, missing, diagnosis)
                self.report.warn("\n".join([
                    f"{len(missing)} of the package's {len(step.expected)} functions were not "
                    f"indexed after {step.wait:.0f} s: {', '.join(missing)} (accepted: "
                    "--allow-partial)", *_explained(diagnosis, missing)]))
                break
            if said is None or waited - said >= INDEX_NOTICE:
                said = waited
                self.report.info(f"waiting for the host to index {wanted} ({waited:.0f} s of at "
                                 f"most {step.wait:.0f} s; --index-timeout)")
            self.sleep(max(0.0, min(INDEX_POLL_INTERVAL, step.wait - waited)))
        self.result.functions = [ListedFunction(f.name, f.trigger, f.invoke_url, f.disabled)
                                 for f in functions]
        self.report.info(f"Functions in {self.target.ref.name}:")
        for function in functions:
            self.report.info(f"    {function.name} - [{function.trigger}]")
            if function.invoke_url:
                self.report.info(f"        Invoke url: {function.invoke_url}")

    def _diagnose(self, missing: Sequence[str]) -> Diagnosis:
        """Ask the host why (a few short requests); a diagnosis that fails says so and changes
        nothing else."""
        try:
            key = self.arm.master_key(self.target.ref)
        except AzPublishError as exc:
            return Diagnosis(problem=f"the master key could not be read: {exc.what}")
        except Exception as exc:  # diagnostics must never be why a publish fails
            return Diagnosis(problem=f"the master key could not be read: {type(exc).__name__}")
        if not key:
            return Diagnosis(problem="ARM listed no master key")
        self.report.detail("asking the host why: GET /admin/host/status"
                           + (" and /admin/functions/{name}/status" if missing else ""))
        try:
            found = diagnose(f"https://{self.target.site.default_host}", key, missing,
                             verify=self.kudu.verify)
        except Exception as exc:
            return Diagnosis(problem=f"asking the host failed: {type(exc).__name__}")
        for error in found.errors:
            about = f"function {error.function}" if error.function else "itself"
            self.report.detail(f"what the host says about {about} (the end of it):")
            for line in error.tail():
                self.report.detail(f"    {line}")
        return found

    def _not_indexed(self, step: ListFunctions, functions: Sequence[Any],
                     missing: Sequence[str], diagnosis: Diagnosis) -> NoReturn:
        where = f"app {self.target.ref}"
        explained = "\n".join(_explained(diagnosis, missing))
        tail = f"\n{explained}" if explained else ""
        if diagnosis.errors:
            causes = ("fix what the host reports above (it refuses an invalid function name or "
                      "function.json, and a binding type its extension bundle does not have), "
                      "then publish again")
        else:
            causes = silent_causes(step, bool(functions))
        if not functions:
            raise VerificationError(
                f"the deployment finished but no function was indexed in {self.target.ref} "
                f"after waiting {step.wait:.0f} s{tail}", where=where,
                fix=f"{causes}; a slow host may need a longer --index-timeout")
        listed = ", ".join(sorted(f.name for f in functions))
        raise VerificationError(
            f"{len(missing)} of the package's {len(step.expected)} functions were not indexed "
            f"after {step.wait:.0f} s: {', '.join(missing)} (listed: {listed}){tail}",
            where=where, fix=causes)

    def verify_url(self, step: VerifyUrl) -> None:
        url = f"https://{self.target.site.default_host}/{step.path.lstrip('/')}"
        headers = {}
        key = self.target.arm.host_key(self.target.ref) if self.target.arm else None
        if key:
            headers["x-functions-key"] = key
        try:
            response = requests.get(url, headers=headers, timeout=60, verify=self.kudu.verify)
        except requests.RequestException as exc:
            raise VerificationError(f"could not reach {redact(url)}: {exc}",
                                    fix="check the app's host name and that it is running"
                                    ) from None
        if not 200 <= response.status_code < 300:
            raise VerificationError(f"GET {redact(url)} answered {response.status_code}: "
                                    f"{response.text[:300]}",
                                    fix="look at the function's logs; the deployment itself "
                                    "succeeded")
        self.report.info(f"verified: GET {redact(url)} answered {response.status_code}")
        self.report.run.verify = VerifyFacts(redact(url), response.status_code)

    # -- helpers --------------------------------------------------------------------------------

    @property
    def arm(self) -> Arm:
        assert self.target.arm is not None, "Kudu-only plans have no ARM steps"
        return self.target.arm

    def with_auth_fallback(self, call: Callable[[], Any]) -> Any:
        """Run a Kudu call; if Basic auth is refused, switch to the Azure credential once."""
        try:
            return call()
        except AuthRejected:
            if self.kudu.auth.kind != "basic" or self.target.bearer is None:
                raise
            self.report.warn("Kudu refused the publish profile's credentials (basic auth may be "
                             "disabled for the app): retrying with your Azure credential")
            self.kudu.auth = self.target.bearer
            self.kudu.base_url = f"https://{self.target.site.scm_host}/"
            return call()


def _no_handler(step: NoReturn) -> NoReturn:
    """mypy proves every step type is handled above: a new one without a branch fails lint."""
    raise AssertionError(f"no handler for {step!r}")


def _explained(diagnosis: Diagnosis, missing: Sequence[str]) -> list[str]:
    """Indented lines: what the host said, per missing function and about itself, or why it
    said nothing."""
    lines = [f"  {error.line()}" for error in diagnosis.errors]
    if diagnosis.not_asked:
        lines.append(f"  (not asked about {len(diagnosis.not_asked)} more: "
                     f"{', '.join(diagnosis.not_asked)})")
    if diagnosis.problem:
        lines.append(f"  (the host's errors could not be read: {diagnosis.problem})")
    elif not diagnosis.errors:
        about = "them" if missing else "the app"
        lines.append(f"  (the host's admin API reports no error for {about})")
    return lines


def silent_causes(step: ListFunctions, some_listed: bool) -> str:
    """What to suggest when the host's admin API says nothing: it reports only what the host
    refuses itself, never what the Python worker fails to import."""
    log = "the host's log (Log stream or Application Insights)"
    check = ("" if step.import_checked else
             "; a local build's import check (--build local) finds import errors before the "
             "upload")
    if step.model == "v1":
        # A v1 script that fails to import is listed all the same (and fails when called), so
        # the missing functions are the host's doing, or the host itself did not start.
        unseen = ("" if step.import_checked else
                  ", which a remote build cannot see: a local build's import check "
                  "(--build local) finds it before the upload")
        likely = ("a function name or function.json the host refuses" if some_listed
                  else "host.json not at the package root, or a host that did not start")
        return (f"look in {log}; likely causes: {likely} (not an import error: a v1 function "
                f"whose script fails to import stays listed and answers 500 when called{unseen})")
    where = ("an import error in function_app.py (or in what it imports) is only in " + log +
             ", as 'Worker failed to index functions'")
    also = ("a function the worker no longer registers" if some_listed
            else "host.json not at the package root, a Python version mismatch")
    return f"likely causes: {where}{check}; also {also}"
