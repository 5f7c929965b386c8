"""Resolve the app to publish to: ARM facts, the Kudu client, the target Python."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from azpublish.azure.arm import AppRef, Arm, PlanKind, Site
from azpublish.azure.auth import (
    PublishProfile,
    arm_credential,
    arm_scope,
    ca_bundle,
    kudu_scope,
    read_publish_profile,
    token_provider,
)
from azpublish.azure.kudu import BasicAuth, BearerAuth, KuduAuth, KuduClient
from azpublish.azure.retry import RetryPolicy
from azpublish.errors import UsageError
from azpublish.report import Reporter
from azpublish.settings import Settings


@dataclass(frozen=True)
class DeployTarget:
    site: Site
    arm: Arm | None  # None: a publish profile alone, so only what Kudu can do is done
    kudu: KuduClient
    bearer: BearerAuth | None
    python_version: str

    @property
    def ref(self) -> AppRef:
        return self.site.ref


def resolve_target(settings: Settings, report: Reporter,
                   environ: Mapping[str, str] | None = None) -> DeployTarget:
    environ = os.environ if environ is None else environ
    profile = read_publish_profile(settings.publish_profile) if settings.publish_profile else None
    app = settings.app or (profile.app if profile else None)
    if not app:
        raise UsageError("which app? --app is missing",
                         fix="pass --app NAME (or AZPUBLISH_APP), or --no-deploy to only build")
    subscription = settings.subscription or environ.get("AZURE_SUBSCRIPTION_ID")
    verify = ca_bundle(str(settings.ca_bundle) if settings.ca_bundle else None, environ)
    if profile and not subscription:
        return kudu_only_target(profile, settings, report, verify)
    if not subscription:
        raise UsageError("which subscription? --subscription is missing",
                         fix="pass --subscription ID, or set AZURE_SUBSCRIPTION_ID")
    credential = arm_credential(settings.tenant)
    scope = arm_scope(settings.arm_endpoint, verify=verify)
    arm = Arm(credential, subscription, endpoint=settings.arm_endpoint, ca_bundle=verify,
              scope=scope)
    group = settings.resource_group or arm.find_resource_group(app)
    site = arm.site(AppRef(subscription, group, app, settings.slot))
    check_site(site)
    check_plan(site, settings)
    python_version = target_python(site, settings, report)

    bearer = BearerAuth(token_provider(credential, kudu_scope(scope)))
    auth: KuduAuth = bearer
    scm_url = f"https://{site.scm_host}"
    if profile:
        if arm.scm_basic_auth_allowed(site.ref):
            auth = BasicAuth(profile.user, profile.password)
            scm_url = profile.scm_url
        else:
            report.warn("the app's SCM basic-auth policy is off: using your Azure credential "
                        "instead of the publish profile")
    kudu = KuduClient(scm_url, auth, verify=verify if verify else True,
                      retry=retry_policy(settings, report))
    report.info(f"target: {site.ref} (resource group {group}, {site.plan} plan "
                f"{site.plan_tier}, Python {python_version})")
    return DeployTarget(site, arm, kudu, bearer, python_version)


def retry_policy(settings: Settings, report: Reporter) -> RetryPolicy:
    """Kudu's retries, each said as it happens (a wait must never look like a hang), and no
    single server-asked wait longer than the publish's own --timeout."""
    return RetryPolicy(max_retry_after=min(RetryPolicy.max_retry_after, settings.timeout),
                       on_retry=report.info)


def given_plan(settings: Settings) -> PlanKind | None:
    """--plan, in the plan names azpublish uses (the Action's sku names Flex otherwise)."""
    names: dict[str, PlanKind] = {"dedicated": "dedicated", "premium": "premium",
                                  "flex": "flex", "flexconsumption": "flex",
                                  "consumption": "consumption"}
    return names[settings.plan] if settings.plan else None


def check_plan(site: Site, settings: Settings) -> None:
    """With Resource Manager, --plan may only agree with what it says."""
    given = given_plan(settings)
    if given is not None and given != site.plan:
        raise UsageError(f"--plan {settings.plan} contradicts Resource Manager, which says the "
                         f"app {site.ref} runs on a {site.plan} plan ({site.plan_tier})",
                         where="--plan", fix="drop --plan: it is for a publish profile alone")


def check_site(site: Site) -> None:
    kind = site.kind.lower()
    if "functionapp" not in kind:
        raise UsageError(f"{site.ref.name} is not a function app (kind {site.kind!r})",
                         where=f"app {site.ref}", fix="check --app and --resource-group")
    if "linux" not in kind:
        raise UsageError(f"{site.ref.name} is a Windows function app; Python runs on Linux only",
                         where=f"app {site.ref}",
                         fix="create a Linux function app (Python runtime) to publish to")
    if site.runtime != "python":
        raise UsageError(f"{site.ref.name} runs {site.runtime!r}, not Python",
                         where=f"app {site.ref}",
                         fix="publish to an app created with the Python runtime")


def target_python(site: Site, settings: Settings, report: Reporter) -> str:
    wanted = settings.python_version
    actual = site.python_version
    if actual is None:
        if wanted is None:
            raise UsageError(f"the app {site.ref} does not say which Python it runs",
                             fix="pass --python-version X.Y")
        return wanted
    if wanted and wanted != actual:
        if not settings.force:
            raise UsageError(
                f"the app runs Python {actual}, but --python-version says {wanted}",
                where=f"app {site.ref}",
                fix=f"build for the app's version (drop --python-version or use {actual}), "
                "change the app's Python, or pass --force")
        report.warn(f"building for Python {wanted} while the app runs {actual} (--force)")
        return wanted
    return actual


def kudu_only_target(profile: PublishProfile, settings: Settings, report: Reporter,
                     verify: str | None) -> DeployTarget:
    """A publish profile and no subscription: Basic auth to Kudu, nothing through ARM."""
    if not settings.python_version:
        raise UsageError("with only a publish profile, azpublish cannot read the app's Python "
                         "version (that needs Resource Manager access)",
                         fix="pass --python-version X.Y, or --subscription to use ARM too")
    host = (profile.destination_url or "").removeprefix("https://").removeprefix("http://")
    plan = given_plan(settings)
    if plan is None:
        plan = "dedicated"
        report.info("without Resource Manager the plan is unknown: deploying as to a dedicated "
                    "or Premium plan (pass --plan flex or --plan consumption for those)")
    site = Site(AppRef("", "", profile.app), "functionapp,linux", plan, "unknown",
                settings.python_version, "python", profile.scm_url.removeprefix("https://"),
                host.rstrip("/"))
    kudu = KuduClient(profile.scm_url, BasicAuth(profile.user, profile.password),
                      verify=verify if verify else True, retry=retry_policy(settings, report))
    report.info(f"target: {profile.app} through Kudu only (publish profile, no subscription): "
                "app settings, trigger sync and the function list need Resource Manager and "
                "are skipped")
    return DeployTarget(site, None, kudu, None, settings.python_version)
