"""Kudu, the SCM site: deployments (zipdeploy, OneDeploy), their records and logs; settings
(``kudu_settings``), files (``kudu_vfs``) and the log stream (``kudu_logstream``).

Served under ``/scm/{app}/api/...`` (slots: ``/scm/{app}/slots/{slot}/api/...``). Paths and query
keys are case-insensitive, as on Kudu (file paths excepted). See ``deployments`` for what happens
after an upload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from azpublish.emulator import oryx
from azpublish.emulator.auth import check_kudu
from azpublish.emulator.context import EmulatorContext, context_of
from azpublish.emulator.deployments import DeploymentJob, DeploymentRunner, reject
from azpublish.emulator.holds import Hold
from azpublish.emulator.kudu_logstream import logstream_endpoint
from azpublish.emulator.kudu_settings import kudu_settings, settings_endpoint
from azpublish.emulator.kudu_vfs import vfs_endpoint
from azpublish.emulator.model import App, Deployment, LogEntry, Site, new_id
from azpublish.emulator.responses import lower_query, text, truthy
from azpublish.emulator.store import NotFound
from azpublish.emulator.unpack import is_zip
from azpublish.emulator.uploads import UploadBroken, UploadTooLarge, receive_upload

IN_PROGRESS = "There is a deployment currently in progress. Please try again when it completes."
REMOTE_PACKAGE = ("Run-From-Zip is set to a remote URL using WEBSITE_RUN_FROM_PACKAGE or "
                  "WEBSITE_USE_ZIP app setting. Deployment is not supported in this configuration.")
NOT_A_ZIP = "The uploaded content is not a valid zip archive."
# OneDeploy's artifact types; a Python function app takes only a zip.
ARTIFACT_TYPES = ("war", "jar", "ear", "lib", "startup", "static", "script", "zip")


def _runner(request: Request) -> DeploymentRunner:
    runner = request.app.state.runner
    assert isinstance(runner, DeploymentRunner)
    return runner


async def kudu_endpoint(request: Request) -> Response:
    ctx = context_of(request)
    name = request.path_params["app"]
    slot = request.path_params.get("slot")
    try:
        app, site = ctx.store.get_site(name, slot)
    except NotFound:
        return text(f"The site '{name}' does not exist on this emulator.", 404)
    refusal = check_kudu(request, ctx, site)
    if refusal is not None:
        return refusal
    rest = request.path_params.get("rest", "")
    parts = [p for p in rest.lower().split("/") if p]
    method = request.method
    if method == "POST" and parts == ["zipdeploy"]:
        return await _deploy(request, ctx, app, site, "zipdeploy")
    if method in ("POST", "PUT") and parts == ["publish"]:
        return await _deploy(request, ctx, app, site, "publish")
    if method == "GET" and parts[:1] == ["deployments"]:
        return _deployments(request, ctx, app, site, rest.split("/")[1:])
    if parts[:1] == ["settings"]:
        return await settings_endpoint(request, ctx, app, site,
                                       [p for p in rest.split("/")[1:] if p])
    if parts[:1] == ["vfs"]:
        return await vfs_endpoint(request, ctx, app, site, rest.lstrip("/")[len("vfs"):])
    if parts[:1] == ["logstream"]:
        return logstream_endpoint(request, ctx, app, site, rest.lstrip("/")[len("logstream"):])
    if method == "GET" and parts == ["isdeploying"]:
        return JSONResponse({"value": "True" if ctx.store.is_deploying(site) else "False"})
    return text(f"No route registered for '/api/{request.path_params.get('rest', '')}'", 404)


async def kudu_home(request: Request) -> Response:
    ctx = context_of(request)
    try:
        _, site = ctx.store.get_site(request.path_params["app"], request.path_params.get("slot"))
    except NotFound:
        return text("The site does not exist on this emulator.", 404)
    refusal = check_kudu(request, ctx, site)
    return refusal or text(f"Kudu (azpublish emulator) for {site.label}\n")


# -- deploying ----------------------------------------------------------------------------------


def _location(ctx: EmulatorContext, app: App, site: Site, deployer: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d_%H-%M-%SZ")
    return (f"{ctx.urls.scm_url(app.name, site.slot)}/api/deployments/latest"
            f"?deployer={deployer}&time={stamp}")


def _wants_build(kind: str, app: App, settings: dict[str, str], query: dict[str, str]) -> bool:
    if kind == "publish":
        remote = query.get("remotebuild")
        if remote is not None:
            return truthy(remote)
        return app.plan != "flex" and oryx.build_requested(settings)
    return oryx.build_requested(settings)


async def _deploy(request: Request, ctx: EmulatorContext, app: App, site: Site,
                  kind: str) -> Response:
    query = lower_query(request)
    if kind == "zipdeploy" and app.plan == "flex":
        return text("Zip deploy is not available on Flex Consumption apps; deploy with "
                    "POST /api/publish (OneDeploy).", ctx.config.flex_zipdeploy_status)
    refused = _artifact_refusal(app, kind, query.get("type"))
    if refused is not None:
        return refused
    settings = kudu_settings(ctx, app, site)
    package_setting = settings.get("WEBSITE_RUN_FROM_PACKAGE", "").strip().lower()
    if package_setting.startswith(("http://", "https://")):
        return text(REMOTE_PACKAGE, 409)
    deployment_id = new_id()
    if not ctx.store.try_begin_deployment(site, deployment_id):
        return text(IN_PROGRESS, 409)
    started = False
    package = ctx.layout.uploads_dir / f"{deployment_id}.zip"
    try:
        response, job = await _receive(request, ctx, app, site, kind, query, deployment_id,
                                       package, settings)
        if job is None:
            return response
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()

        def on_done() -> None:
            loop.call_soon_threadsafe(finished.set)

        job.on_done = on_done
        _runner(request).start(job)
        started = True
        if response.status_code != 202:  # synchronous: answer when the deployment has ended
            await finished.wait()
        return response
    finally:
        if not started:
            package.unlink(missing_ok=True)
            ctx.store.end_deployment(site, deployment_id)


def _artifact_refusal(app: App, kind: str, artifact: str | None) -> Response | None:
    """Linux Kudu's OneDeploy needs ?type= (400 without it); Flex's takes a zip without one."""
    if kind != "publish" or (app.plan == "flex" and not artifact):
        return None
    wanted = (artifact or "").lower()
    if wanted not in ARTIFACT_TYPES:
        return text(f"OneDeploy does not know the artifact type '{artifact or ''}': pass "
                    f"?type= one of {', '.join(ARTIFACT_TYPES)}.", 400)
    if wanted != "zip":
        return text(f"type={wanted} does not suit a Python function app (the emulator deploys "
                    "type=zip).", 400)
    return None


async def _receive(request: Request, ctx: EmulatorContext, app: App, site: Site, kind: str,
                   query: dict[str, str], deployment_id: str, package: Path,
                   settings: dict[str, str]) -> tuple[Response, DeploymentJob | None]:
    drop = ctx.faults.take_drop(app.name)
    try:
        await receive_upload(request, package, limit=ctx.config.max_upload_bytes,
                             drop_after=drop.after_bytes if drop else None,
                             idle_timeout=ctx.config.upload_idle_timeout_seconds,
                             pause=ctx.faults.take_slow_upload(app.name))
    except UploadTooLarge as too_large:
        return text(f"Request Entity Too Large: {too_large}", 413), None
    except UploadBroken as broken:
        ctx.log(f"{site.label}: upload abandoned: {broken}")
        return text(f"The upload did not complete: {broken}", 400), None
    legion = app.plan == "flex" and ctx.config.quirk("flex_onedeploy")
    if legion:  # Flex keeps none of the caller's deployer, message or author
        deployment = Deployment(id=deployment_id, kind=kind, deployer="LegionOneDeploy",
                                message="", author=None, author_email="", site_name=app.name)
    else:
        default_deployer = "ZipDeploy" if kind == "zipdeploy" else "OneDeploy"
        deployment = Deployment(
            id=deployment_id, kind=kind, deployer=query.get("deployer") or default_deployer,
            message=query.get("message") or "Created via a push deployment",
            author=query.get("author") or "N/A",
            author_email=query.get("author_email") or "N/A", site_name=app.name,
        )
    deployment.remote_build = _wants_build(kind, app, settings, query)
    if not await to_thread.run_sync(is_zip, package):
        await to_thread.run_sync(reject, ctx, site, deployment, f"Deployment Failed. Error: "
                                 f"{NOT_A_ZIP}", [f"{package.stat().st_size} bytes received; "
                                                  "send the package as a zip file."])
        return text(NOT_A_ZIP, 400), None
    await to_thread.run_sync(ctx.store.add_deployment, site, deployment)
    hold_fault = ctx.faults.take_hold(app.name)
    hold = None
    if hold_fault is not None:
        hold = Hold(hold_fault.stages, ctx.config.hold_timeout_seconds)
        ctx.holds.register(app.name, site.slot, hold)
    job = DeploymentJob(app=app, site=site, deployment=deployment, package=package,
                        build=deployment.remote_build, hold=hold,
                        slow_seconds=ctx.faults.take_slow_build(app.name))
    headers = {}
    is_async = truthy(query.get("isasync") if kind == "zipdeploy" else query.get("async"))
    if legion:
        # As recorded: 202 even without async=true (Flex OneDeploy always runs in the
        # background), the id as the body and in Location, and no SCM-DEPLOYMENT-ID.
        headers["Location"] = (f"{ctx.urls.scm_url(app.name, site.slot)}/api/deployments/"
                               f"{deployment_id}")
        return JSONResponse(deployment_id, status_code=202, headers=headers), job
    # Linux Kudu names the deployment on every async zipdeploy (as recorded), and on any
    # deploy when asked to track it; Flex never does.
    if not legion and (truthy(query.get("trackdeploymentprogress"))
                       or (kind == "zipdeploy" and is_async)):
        headers["SCM-DEPLOYMENT-ID"] = deployment_id
    if is_async:
        headers["Location"] = _location(ctx, app, site, deployment.deployer)
        return Response(status_code=202, headers=headers), job
    return Response(status_code=200, headers=headers), job


# -- deployment records -------------------------------------------------------------------------


def _entry_body(ctx: EmulatorContext, app: App, site: Site, deployment: Deployment,
                entry: LogEntry) -> dict[str, Any]:
    details = None
    if entry.details:
        details = (f"{ctx.urls.scm_url(app.name, site.slot)}/api/deployments/{deployment.id}"
                   f"/log/{entry.id}")
    return {"log_time": entry.log_time, "id": entry.id, "message": entry.message,
            "type": entry.type, "details_url": details}


def deployment_body(ctx: EmulatorContext, app: App, site: Site, deployment: Deployment,
                    *, force_pending: bool = False) -> dict[str, Any]:
    scm = ctx.urls.scm_url(app.name, site.slot)
    last = site.last_success()
    temporary = _late(ctx, app, deployment)
    shown = deployment.temp_id if temporary else deployment.id
    flex = app.plan == "flex"
    body: dict[str, Any] = {
        "id": shown,
        "status": 0 if force_pending else deployment.status,
        "status_text": deployment.status_text,
        "author_email": deployment.author_email,
        "author": deployment.author,
        "deployer": deployment.deployer,
        "message": deployment.message,
        "progress": deployment.progress,
        "received_time": deployment.received_time,
        "start_time": deployment.start_time,
        "end_time": deployment.end_time,
        "last_success_end_time": last.end_time if last else None,
        "complete": deployment.complete,
        "active": last is deployment,
        "is_temp": deployment.is_temp or temporary,
        "is_readonly": deployment.is_readonly,
        "url": f"{scm}/api/deployments/{shown}",
        "log_url": f"{scm}/api/deployments/{shown}/log",
        "site_name": app.name,
        # As recorded: null on Flex, empty lists on Linux Kudu.
        "build_summary": None if flex else {"errors": [], "warnings": []},
    }
    if flex:
        body["remoteBuild"] = deployment.remote_build  # a Flex record's own key
    return body


def _deployments(request: Request, ctx: EmulatorContext, app: App, site: Site,
                 rest: list[str]) -> Response:
    rest = [p for p in rest if p]
    with ctx.store.lock:
        if not rest:
            return JSONResponse([deployment_body(ctx, app, site, d)
                                 for d in site.newest_deployments()])
        wanted = rest[0]
        if wanted.lower() == "latest" and len(rest) == 1:
            return _latest(ctx, app, site)
        deployment = _find(ctx, app, site, wanted)
        if deployment is None and wanted.lower() == "latest":
            newest = site.newest_deployments()
            deployment = newest[0] if newest else None
        if deployment is None:
            return text(f"Deployment '{wanted}' not found.", 404)
        if len(rest) == 1:
            return _record(ctx, app, site, deployment)
        if len(rest) == 2 and rest[1].lower() == "log":
            return JSONResponse([_entry_body(ctx, app, site, deployment, e)
                                 for e in deployment.log])
        if len(rest) == 3 and rest[1].lower() == "log":
            entry = next((e for e in deployment.log if e.id == rest[2]), None)
            if entry is None:
                return text(f"Log entry '{rest[2]}' not found.", 404)
            return JSONResponse([_entry_body(ctx, app, site, deployment, d)
                                 for d in entry.details])
    return text(f"No route registered for '/api/deployments/{'/'.join(rest)}'", 404)


def _late(ctx: EmulatorContext, app: App, deployment: Deployment) -> bool:
    """late_record: Linux Kudu shows only a temporary record until the zip is extracted."""
    return (app.plan != "flex" and not deployment.extracted and not deployment.complete
            and ctx.config.quirk("late_record"))


def _find(ctx: EmulatorContext, app: App, site: Site, wanted: str) -> Deployment | None:
    """The record ``wanted`` names, as the service would let it be seen right now."""
    for deployment in site.deployments:
        if _late(ctx, app, deployment):
            if wanted.lower() == deployment.temp_id:
                return deployment
            continue  # under its real id it does not exist yet
        if deployment.id.lower() == wanted.lower():
            if app.plan == "flex" and _recycled(ctx, deployment):
                return None
            return deployment
    return None


def _recycled(ctx: EmulatorContext, deployment: Deployment) -> bool:
    """flex_not_found: Flex loses a deployment for a while after the 202 and after it ended."""
    if not ctx.config.quirk("flex_not_found"):
        return False
    now = ctx.clock()
    if now < deployment.sequence + ctx.config.flex_not_found_seconds:
        return True
    ended = deployment.ended_epoch
    return ended is not None and ended <= now < ended + ctx.config.flex_recycled_not_found_seconds


def _record(ctx: EmulatorContext, app: App, site: Site, deployment: Deployment) -> Response:
    body = deployment_body(ctx, app, site, deployment)
    if deployment.complete:
        return JSONResponse(body)
    if app.plan == "flex":
        return JSONResponse(body)  # Flex answers 200 while in progress too
    if ctx.config.quirk("in_progress_200"):
        body["status"] = 0  # status forced to 0, as Kudu does for a running deployment
        return JSONResponse(body)
    return JSONResponse(body, status_code=202)


def _latest(ctx: EmulatorContext, app: App, site: Site) -> Response:
    """202 with status 0 while anything is in progress; else the newest finished deployment."""
    if site.deploying is not None:
        running = site.find_deployment(site.deploying) or Deployment(
            id=site.deploying, kind="zipdeploy", site_name=app.name)
        return JSONResponse(deployment_body(ctx, app, site, running, force_pending=True),
                            status_code=202)
    finished = [d for d in site.newest_deployments() if d.complete]
    if not finished:
        return text("Deployment 'latest' not found: this site has no deployments yet.", 404)
    return JSONResponse(deployment_body(ctx, app, site, finished[0]))
