"""The deployment lifecycle, as Kudu runs it after an upload.

0 Pending (the record exists before the 202 goes out) -> 1 Building (unpack, remote build when
asked) -> 2 Deploying (swap into wwwroot, restart and index the host) -> 4 Success, or 3 Failed
with an empty ``status_text`` and the reason in an error log entry whose details say more.
Each deployment runs in its own thread; the site's deployment lock is released at the end.
"""

from __future__ import annotations

import shutil
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from azpublish.emulator import apphost, funchost, oryx, sitelogs
from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.holds import Hold
from azpublish.emulator.model import (
    BUILDING,
    DEPLOYING,
    ERROR,
    FAILED,
    INFO,
    SUCCESS,
    WARNING,
    App,
    Deployment,
    LogEntry,
    Site,
    utc_now,
)
from azpublish.emulator.unpack import extract
from azpublish.errors import AzPublishError
from azpublish.redact import redact

SUCCESS_MESSAGE = "Deployment successful."
SAVE_EVERY = 0.5  # seconds between writes while a build streams output


class DeploymentFailed(Exception):
    def __init__(self, reason: str, details: Sequence[str]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = list(details)


@dataclass
class DeploymentJob:
    app: App
    site: Site
    deployment: Deployment
    package: Path
    build: bool
    hold: Hold | None = None
    slow_seconds: float = 0.0
    on_done: Callable[[], None] | None = None


class DeploymentLog:
    """Appends redacted entries to a deployment and writes it through (throttled for builds)."""

    def __init__(self, ctx: EmulatorContext, site: Site, deployment: Deployment) -> None:
        self._ctx = ctx
        self._site = site
        self._deployment = deployment
        self._saved = 0.0

    def trace(self, *lines: str) -> None:
        """Also into the site's deployment log file, which Kudu's log stream follows."""
        trace_deployment(self._ctx, self._site, self._deployment, lines)

    def save(self, *, force: bool = True) -> None:
        now = time.monotonic()
        if force or now - self._saved >= SAVE_EVERY:
            self._ctx.store.save_deployment(self._site, self._deployment)
            self._saved = now

    def add(self, message: str, kind: int = INFO, details: Sequence[str] = ()) -> LogEntry:
        entry = LogEntry(redact(message), kind,
                         details=[LogEntry(redact(line), kind) for line in details])
        with self._ctx.store.lock:
            self._deployment.log.append(entry)
            self.save()
        self.trace(message, *details)
        return entry

    def child_writer(self, parent: LogEntry) -> Callable[[str], None]:
        def write(line: str) -> None:
            with self._ctx.store.lock:
                parent.details.append(LogEntry(redact(line)))
                self.save(force=False)
            self.trace(line)

        return write

    def set_status(self, status: int, text: str) -> None:
        with self._ctx.store.lock:
            self._deployment.status = status
            self._deployment.status_text = text
            if status == BUILDING:
                self._deployment.is_temp = False
                self._deployment.start_time = utc_now()
            self.save()


class DeploymentRunner:
    def __init__(self, ctx: EmulatorContext) -> None:
        self._ctx = ctx

    def start(self, job: DeploymentJob) -> None:
        thread = threading.Thread(target=self._run, args=(job,), daemon=True,
                                  name=f"deployment-{job.deployment.id}")
        thread.start()

    def _run(self, job: DeploymentJob) -> None:
        log = DeploymentLog(self._ctx, job.site, job.deployment)
        staging = job.package.with_suffix(".staging")
        try:
            self._lifecycle(job, log, staging)
        except DeploymentFailed as failed:
            self._finish(job, log, failed)
        except Exception as error:  # the record must end either way
            self._ctx.log(redact(f"deployment {job.deployment.id} crashed: "
                                 f"{traceback.format_exc()}"))
            self._finish(job, log, DeploymentFailed(
                f"Deployment Failed. Error: the emulator failed internally: {error}",
                traceback.format_exc().splitlines()[-5:]))
        finally:
            job.package.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
            if job.hold is not None:
                self._ctx.holds.forget(job.app.name, job.site.slot, job.hold)
            self._ctx.store.end_deployment(job.site, job.deployment.id)
            if job.on_done is not None:
                job.on_done()

    def _wait(self, job: DeploymentJob, stage: str) -> None:
        if job.hold is not None:
            job.hold.wait(stage)

    def _lifecycle(self, job: DeploymentJob, log: DeploymentLog, staging: Path) -> None:
        deployment, ctx = job.deployment, self._ctx
        self._wait(job, "pending")
        log.set_status(BUILDING, f"Building and Deploying '{deployment.id}'.")
        log.add("Updating submodules.")
        log.add(f"Preparing deployment for commit id '{deployment.id[:10]}'.")
        size_mb = job.package.stat().st_size / 1024 / 1024
        log.add(f"Cleaning up temp folders from previous zip deployments and extracting pushed "
                f"zip file {job.package.name} ({size_mb:.2f} MB) to {staging}")
        try:
            unpacked = extract(job.package, staging)
        except AzPublishError as error:
            raise DeploymentFailed(f"Deployment Failed. Error: {error.what}",
                                   [error.render()]) from error
        except (OSError, ValueError) as error:
            raise DeploymentFailed("Deployment Failed. Error: the zip package cannot be read.",
                                   [str(error)]) from error
        log.add(f"Extracted {unpacked.files} files ({unpacked.bytes} bytes).")
        with ctx.store.lock:
            deployment.extracted = True
            log.save()
        self._wait(job, "building")
        version = apphost.python_version(job.app, job.site)
        if job.build:
            self._build(job, log, staging, version)
        else:
            if job.slow_seconds:
                time.sleep(job.slow_seconds)
            log.add("Skipping build: the app settings do not ask for a remote build "
                    "(SCM_DO_BUILD_DURING_DEPLOYMENT). Deploying the package as it is.")
        log.set_status(DEPLOYING, f"Deploying '{deployment.id}'.")
        self._wait(job, "deploying")
        wwwroot = ctx.layout.wwwroot(job.app.name, job.site.slot)
        self._swap(staging, wwwroot)
        log.add(f"Copied the package to {wwwroot}.")
        log.add("Triggering recycle (preview mode disabled).")
        self._index(job, log, wwwroot, version)
        with ctx.store.lock:
            deployment.log.append(LogEntry(SUCCESS_MESSAGE))
            deployment.status = SUCCESS
            deployment.status_text = ""
            deployment.complete = True
            deployment.end_time = utc_now()
            deployment.ended_epoch = ctx.clock()
            log.save()
        log.trace(SUCCESS_MESSAGE)

    def _build(self, job: DeploymentJob, log: DeploymentLog, staging: Path, version: str) -> None:
        python = apphost.find_python(version)
        if python is None:
            raise DeploymentFailed(
                f"Deployment Failed. Error: no Python {version} interpreter is available for "
                f"the remote build.",
                [f"The app runs Python {version} (its linuxFxVersion or Flex runtime).",
                 f"Install python{version} on this machine, or point "
                 f"AZPUBLISH_EMULATOR_PYTHON_{version.replace('.', '_')} at one, and restart the "
                 "emulator."])
        settings = job.site.kudu_settings(self._ctx.clock(), self._ctx.settings_delay(job.app.name))
        entry = log.add("Running oryx build...")
        outcome = oryx.run_build(staging, python, settings, log.child_writer(entry),
                                 cache_dir=self._ctx.layout.cache_dir / "pip",
                                 slow_seconds=job.slow_seconds,
                                 timeout=self._ctx.config.build_timeout_seconds)
        log.save()
        if not outcome.ok:
            raise DeploymentFailed(f"Deployment Failed. Error: Oryx build failed: "
                                   f"{outcome.summary}", [outcome.summary])

    @staticmethod
    def _swap(staging: Path, wwwroot: Path) -> None:
        old = wwwroot.with_name(f".old-{staging.stem}")
        if wwwroot.exists():
            wwwroot.rename(old)
        staging.rename(wwwroot)
        shutil.rmtree(old, ignore_errors=True)

    def _index(self, job: DeploymentJob, log: DeploymentLog, wwwroot: Path, version: str) -> None:
        ctx = self._ctx
        python, warning = apphost.host_python(version)
        if warning:
            log.add(warning, WARNING)
        env = apphost.runtime_env(job.app, job.site, ctx.urls, wwwroot)
        result = funchost.index_app(wwwroot, python, env,
                                    timeout=ctx.config.index_timeout_seconds)
        # Kudu's log says nothing of what the host made of the app: that is in the host log.
        ctx.store.set_functions(job.app, job.site, list(result.functions),
                                apphost.route_prefix(wwwroot))
        if ctx.config.quirk("index_lag"):
            job.site.functions_listed_after = ctx.clock() + ctx.config.index_lag_seconds
        names = ", ".join(f.name for f in result.functions) or "none"
        log.add(f"Syncing {len(result.functions)} function triggers ({names}).")
        lines = [*(f"[Warning] {line}" for text in result.warnings for line in text.splitlines()),
                 *(f"[Error] {line}" for text in result.errors for line in text.splitlines())]
        sitelogs.append(ctx.layout, job.app.name, job.site.slot, sitelogs.HOST_LOG, [
            *lines, f"[Information] Host started for deployment {job.deployment.id[:10]}: "
                    f"{len(result.functions)} functions loaded ({names})."])

    def _finish(self, job: DeploymentJob, log: DeploymentLog, failed: DeploymentFailed) -> None:
        deployment = job.deployment
        with self._ctx.store.lock:
            deployment.log.append(LogEntry(redact(failed.reason), ERROR, details=[
                LogEntry(redact(line), ERROR) for line in failed.details or [failed.reason]]))
            deployment.status = FAILED
            deployment.status_text = ""
            deployment.complete = True
            deployment.is_temp = False
            deployment.extracted = True
            deployment.end_time = utc_now()
            deployment.ended_epoch = self._ctx.clock()
            log.save()
        log.trace(failed.reason, *failed.details)


def trace_deployment(ctx: EmulatorContext, site: Site, deployment: Deployment,
                     lines: Sequence[str]) -> None:
    sitelogs.append(ctx.layout, site.app, site.slot, sitelogs.DEPLOYMENT_LOG,
                    [f"[{deployment.id[:10]}] {line}" for line in lines])


def reject(ctx: EmulatorContext, site: Site, deployment: Deployment, reason: str,
           details: Sequence[str]) -> None:
    """Record a deployment that failed before it could start (e.g. not a zip)."""
    deployment.log.append(LogEntry(redact(reason), ERROR,
                                   details=[LogEntry(redact(d), ERROR) for d in details]))
    deployment.status = FAILED
    deployment.complete = True
    deployment.is_temp = False
    deployment.extracted = True
    deployment.end_time = utc_now()
    deployment.ended_epoch = ctx.clock()
    ctx.store.add_deployment(site, deployment)
    trace_deployment(ctx, site, deployment, [reason, *details])
