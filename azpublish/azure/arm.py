"""ARM through ``azure-mgmt-web``: the facts about an app and the few changes azpublish makes.

A thin facade: it picks the ``_slot`` variant of each SDK method, turns SDK exceptions into
``DeployError`` with the server's message and request id, and returns plain data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.mgmt.web import WebSiteManagementClient

from azpublish.azure.auth import AuthError, token_failure
from azpublish.azure.error_body import error_text
from azpublish.errors import DeployError, UsageError
from azpublish.redact import register_secret

PlanKind = Literal["dedicated", "premium", "flex", "consumption"]
DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
# syncfunctiontriggers fails intermittently right after a deployment: 5 tries, waiting 2, 4, 8
# and 16 s between them (30 s at most), as Core Tools does.
SYNC_TRIES = 5
SYNC_BACKOFF = 2.0  # seconds before the second try; doubled each time
TAGS_API_VERSION = "2021-04-01"  # Microsoft.Resources tags at a resource's scope
T = TypeVar("T")


@dataclass(frozen=True)
class AppRef:
    subscription: str
    resource_group: str
    name: str
    slot: str | None = None

    def __str__(self) -> str:
        return f"{self.name}/slots/{self.slot}" if self.slot else self.name


@dataclass(frozen=True)
class Site:
    ref: AppRef
    kind: str
    plan: PlanKind
    plan_tier: str
    python_version: str | None
    runtime: str  # "python", or what the app runs instead
    scm_host: str
    default_host: str
    tags: Mapping[str, str] = field(default_factory=dict)  # the resource's ARM tags


@dataclass(frozen=True)
class DeployedFunction:
    name: str
    trigger: str
    invoke_url: str | None
    disabled: bool


def plan_kind(tier: str) -> PlanKind:
    tier = tier.lower()
    if tier == "dynamic":
        return "consumption"
    if tier == "elasticpremium":
        return "premium"
    if tier == "flexconsumption":
        return "flex"
    return "dedicated"


class Arm:
    def __init__(self, credential: TokenCredential, subscription: str, *,
                 endpoint: str | None = None, ca_bundle: str | None = None,
                 scope: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.subscription = subscription
        self.sleep = sleep
        self.endpoint = (endpoint or DEFAULT_ARM_ENDPOINT).rstrip("/")
        kwargs: dict[str, Any] = {"base_url": self.endpoint}
        if scope:
            kwargs["credential_scopes"] = [scope]
        if ca_bundle:
            kwargs["connection_verify"] = ca_bundle
        self.client = WebSiteManagementClient(credential, subscription, **kwargs)

    def _call(self, what: str, ref: AppRef | None, action: Callable[[], T], *,
              named_by_user: bool = False) -> T:
        """``action`` with Azure's errors as azpublish's; ``named_by_user``: a 404 means the
        app or slot the user named does not exist (a usage error, exit 2)."""
        try:
            return action()
        except ClientAuthenticationError as exc:
            if exc.response is None:  # no token to send: ARM was never asked
                raise token_failure(exc, where=f"{self._where(ref)}: {what}") from None
            raise AuthError(f"{what}: ARM refused the credential ({exc.status_code}): "
                            f"{exc.message}", where=self._where(ref),
                            fix="sign in (az login, or azure/login in CI), check AZURE_* "
                            "variables, or your role on the app") from None
        except ResourceNotFoundError as exc:
            error = UsageError if named_by_user else DeployError
            subject = (f"no slot {ref.slot!r} on the app {ref.name!r}" if ref and ref.slot
                       else f"{what}: not found") if named_by_user else f"{what}: not found"
            raise error(f"{subject} ({exc.message})", where=self._where(ref),
                        fix="check --app, --resource-group, --slot and --subscription"
                        ) from None
        except HttpResponseError as exc:
            response = getattr(exc, "response", None)
            headers = getattr(response, "headers", None) or {}
            request_id = headers.get("x-ms-request-id")
            detail = f" (request id {request_id})" if request_id else ""
            said = server_error(response) or str(exc.message)
            status = exc.status_code or 0
            fix = ("the service failed: retry later" if status >= 500 or status == 429
                   else "check your role on the app (Website Contributor or more)"
                   if status == 403 else "see the server's message")
            raise DeployError(f"{what}: ARM answered {exc.status_code}: {said}{detail}",
                              where=self._where(ref), fix=fix) from None
        except AzureError as exc:
            raise DeployError(f"{what}: {type(exc).__name__}: {exc}", where=self._where(ref),
                              fix="check the network, the ARM endpoint and your credential"
                              ) from None

    def _where(self, ref: AppRef | None) -> str:
        return f"{self.endpoint} app {ref}" if ref else self.endpoint

    def _method(self, name: str, ref: AppRef) -> Callable[..., Any]:
        operations = self.client.web_apps
        if ref.slot:
            method = getattr(operations, f"{name}_slot")
            return lambda *args: method(ref.resource_group, ref.name, ref.slot, *args)
        method = getattr(operations, name)
        return lambda *args: method(ref.resource_group, ref.name, *args)

    # -- reading --------------------------------------------------------------------------------

    def find_resource_group(self, name: str) -> str:
        sites = self._call("listing the subscription's apps", None,
                           lambda: list(self.client.web_apps.list()))
        groups = sorted({str(s.resource_group) for s in sites
                         if str(s.name).lower() == name.lower()})
        if not groups:
            raise UsageError(f"no app named {name!r} in subscription {self.subscription}",
                             fix="check --app and --subscription, or pass --resource-group")
        if len(groups) > 1:
            raise UsageError(f"apps named {name!r} exist in several resource groups: "
                             f"{', '.join(groups)}", fix="pass --resource-group")
        return groups[0]

    def site(self, ref: AppRef) -> Site:
        site = self._call("reading the app", ref, lambda: self._method("get", ref)(),
                          named_by_user=True)
        config = self._call("reading the app's configuration", ref,
                            lambda: self._method("get_configuration", ref)())
        plan_id = str(site.server_farm_id or "")
        tier = self._plan_tier(ref, plan_id, site)
        kind = str(site.kind or "")
        runtime, version = runtime_of(str(config.linux_fx_version or ""), site)
        scm_host = next((str(h.name) for h in site.host_name_ssl_states or []
                         if enum_text(h.host_type) == "repository"), "")
        if not scm_host:
            raise DeployError("the app has no SCM (Kudu) host name", where=self._where(ref),
                              fix="is the SCM site disabled for this app?")
        tags = {str(k): str(v) for k, v in (site.tags or {}).items()}
        return Site(ref, kind, plan_kind(tier), tier, version, runtime, scm_host,
                    str(site.default_host_name or ""), tags)

    def _plan_tier(self, ref: AppRef, plan_id: str, site: Any) -> str:
        sku = getattr(site, "sku", None)
        if isinstance(sku, str) and sku:
            return sku
        parts = plan_id.split("/")
        if "resourceGroups" not in parts or "serverfarms" not in parts:
            raise DeployError(f"the app's plan id {plan_id!r} is not a serverfarm resource id",
                              where=self._where(ref))
        group = parts[parts.index("resourceGroups") + 1]
        name = parts[parts.index("serverfarms") + 1]
        plan = self._call("reading the app's plan", ref,
                          lambda: self.client.app_service_plans.get(group, name))
        return str(plan.sku.tier if plan.sku else "")

    def app_settings(self, ref: AppRef) -> dict[str, str]:
        result = self._call("reading app settings", ref,
                            lambda: self._method("list_application_settings", ref)())
        settings = {str(k): str(v) for k, v in (result.properties or {}).items()}
        for name, value in settings.items():
            if looks_secret(name):
                register_secret(value)
        return settings

    def set_app_settings(self, ref: AppRef, settings: Mapping[str, str]) -> None:
        """Full replacement, as ARM does: pass every setting the app should keep."""
        from azure.mgmt.web.models import StringDictionary

        body = StringDictionary(properties=dict(settings))
        self._call("updating app settings", ref,
                   lambda: self._method("update_application_settings", ref)(body))

    def publishing_credentials(self, ref: AppRef) -> tuple[str, str]:
        user = self._call("reading publishing credentials", ref,
                          lambda: self._method("begin_list_publishing_credentials", ref)()
                          .result())
        password = str(user.publishing_password or "")
        register_secret(password)
        return str(user.publishing_user_name or ""), password

    def scm_basic_auth_allowed(self, ref: AppRef) -> bool:
        policy = self._call("reading the SCM basic-auth policy", ref,
                            lambda: self._method("get_scm_allowed", ref)())
        return bool(policy.allow)

    def sync_triggers(self, ref: AppRef, on_retry: Callable[[str], None] | None = None) -> None:
        """Sync, retrying what the service answers intermittently (``SYNC_TRIES`` in all).

        The service often answers ``400 "Encountered an error (InternalServerError) from host
        runtime."`` while the host restarts after a deployment (Core Tools retries it too).
        """
        delay = SYNC_BACKOFF

        def sync() -> None:
            nonlocal delay
            for attempt in range(1, SYNC_TRIES + 1):
                try:
                    self._method("sync_function_triggers", ref)()
                    return
                except HttpResponseError as exc:
                    if exc.status_code == 200:  # the service answers 200; the SDK wants 204
                        return
                    retried = exc.status_code in (400, 429) or (exc.status_code or 0) >= 500
                    if not retried or attempt == SYNC_TRIES:
                        raise
                    if on_retry is not None:
                        on_retry(f"trigger sync answered {exc.status_code} (try {attempt} of "
                                 f"{SYNC_TRIES}); again in {delay:g} s")
                    self.sleep(delay)
                    delay *= 2

        self._call("syncing triggers", ref, sync)

    def functions(self, ref: AppRef) -> list[DeployedFunction]:
        name = "list_instance_functions" if ref.slot else "list_functions"
        listed = self._call("listing functions", ref, lambda: list(self._method(name, ref)()))
        functions = []
        for envelope in listed:
            config = envelope.config if isinstance(envelope.config, dict) else {}
            bindings = config.get("bindings", []) if isinstance(config, dict) else []
            trigger = next((str(b.get("type")) for b in bindings if isinstance(b, dict)
                            and str(b.get("type", "")).lower().endswith("trigger")), "unknown")
            short = str(envelope.name or "").rsplit("/", 1)[-1]
            functions.append(DeployedFunction(short, trigger, envelope.invoke_url_template,
                                              bool(envelope.is_disabled)))
        return functions

    def merge_tags(self, ref: AppRef, tags: Mapping[str, str]) -> None:
        """Add or change tags on the site (or slot) through the Microsoft.Resources tags API.

        A ``Merge`` there writes no site property, so the app does not restart, and other tags
        are kept without a read-modify-write race.
        """
        from azure.core.rest import HttpRequest

        url = (f"{resource_id(ref)}/providers/Microsoft.Resources/tags/default"
               f"?api-version={TAGS_API_VERSION}")
        body = {"operation": "Merge", "properties": {"tags": dict(tags)}}

        def merge() -> None:
            self.client.send_request(HttpRequest("PATCH", url, json=body)).raise_for_status()

        self._call("tagging the app", ref, merge)

    def host_key(self, ref: AppRef) -> str | None:
        keys = self._call("reading host keys", ref, lambda: self._method("list_host_keys", ref)())
        key = (keys.function_keys or {}).get("default") or keys.master_key
        register_secret(key)
        return str(key) if key else None

    def master_key(self, ref: AppRef) -> str | None:
        """The host's master key (``POST .../host/default/listkeys``): its admin API takes no
        other."""
        keys = self._call("reading the master key", ref,
                          lambda: self._method("list_host_keys", ref)())
        register_secret(keys.master_key)
        return str(keys.master_key) if keys.master_key else None


def resource_id(ref: AppRef) -> str:
    site = (f"/subscriptions/{ref.subscription}/resourceGroups/{ref.resource_group}"
            f"/providers/Microsoft.Web/sites/{ref.name}")
    return f"{site}/slots/{ref.slot}" if ref.slot else site


def server_error(response: Any) -> str | None:
    """What an azure-core error response's body says, in either shape ARM answers."""
    try:
        return error_text(json.loads(response.text())) if response is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def enum_text(value: object) -> str:
    """The SDK's str-enums print as ``HostType.REPOSITORY``; compare their values instead."""
    return str(getattr(value, "value", value) or "").lower()


def looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in ("PASSWORD", "SECRET", "TOKEN", "KEY", "CONNECTION",
                                          "STORAGE", "INDEX_URL"))


def runtime_of(linux_fx_version: str, site: Any) -> tuple[str, str | None]:
    """("python", "3.11") from ``Python|3.11`` or a flex app's functionAppConfig.runtime."""
    if linux_fx_version:
        name, _, version = linux_fx_version.partition("|")
        return name.lower(), version or None
    runtime = getattr(getattr(site, "function_app_config", None), "runtime", None)
    if runtime is not None and runtime.name:
        return enum_text(runtime.name), str(runtime.version) if runtime.version else None
    return "unknown", None
