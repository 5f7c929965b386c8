"""Who azpublish is when it talks to Azure: an Entra credential for ARM and Kudu, or a publish
profile for Basic auth to Kudu alone, and which CA bundle TLS trusts.

Tokens come from azure-identity's ``DefaultAzureCredential`` (environment service principal,
workload identity, managed identity, Azure CLI, ...), never from an interactive prompt: a CI job
must fail, not wait for a browser. Every token and password is registered with the redactor the
moment it is seen.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
import requests
from azure.core.credentials import (
    AccessToken,
    AccessTokenInfo,
    TokenCredential,
    TokenRequestOptions,
)
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import DefaultAzureCredential
from defusedxml import DefusedXmlException

from azpublish.errors import DeployError, UsageError
from azpublish.redact import register_secret

DEFAULT_ARM_SCOPE = "https://management.azure.com/.default"
# Kudu's, in the public cloud: the v1 resource https://management.core.windows.net/ as a scope.
PUBLIC_KUDU_SCOPE = "https://management.core.windows.net//.default"
PUBLIC_ARM_HOSTS = frozenset({"management.azure.com"})
METADATA_API_VERSION = "2022-09-01"
METADATA_TIMEOUT = 10.0
REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached token is replaced
PUBLISH_PROFILE_ENV = "AZPUBLISH_PUBLISH_PROFILE"
MAX_PROFILE_BYTES = 1 << 20  # real profiles are a few KiB; anything bigger is not one
BUNDLE_PROBE_BYTES = 1 << 20  # enough of a CA bundle to find its first certificate
_TENANT = re.compile(r"^[A-Za-z0-9.-]+$")

LOGIN_FIX = ("sign in with `az login` (add `--tenant` for another directory), or set "
             "AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or "
             "AZURE_FEDERATED_TOKEN_FILE; in GitHub Actions run azure/login first; or deploy "
             "with --publish-profile")


class AuthError(DeployError):
    """No credential in the chain produced a token (exit 4)."""


# -- Entra ID ----------------------------------------------------------------------------------


class TenantCredential:
    """Asks its credential for tokens in one tenant, unless a caller names another.

    ``DefaultAzureCredential`` takes no ``tenant_id``; each member credential honours the
    per-request ``tenant_id`` instead (the CLI as ``--tenant``), so this wrapper adds it.
    """

    def __init__(self, credential: DefaultAzureCredential, tenant: str) -> None:
        self.credential = credential
        self.tenant = tenant

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        return self.credential.get_token(*scopes, claims=claims,
                                         tenant_id=tenant_id or self.tenant,
                                         enable_cae=enable_cae, **kwargs)

    def get_token_info(self, *scopes: str,
                       options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        merged: TokenRequestOptions = {**(options or {})}
        merged.setdefault("tenant_id", self.tenant)
        return self.credential.get_token_info(*scopes, options=merged)

    def close(self) -> None:
        self.credential.close()

    def __enter__(self) -> TenantCredential:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def arm_credential(tenant: str | None = None) -> TokenCredential:
    """``DefaultAzureCredential`` without interactive members, in ``tenant`` when given."""
    options: dict[str, Any] = {
        "exclude_interactive_browser_credential": True,
        # The broker (WAM) can pop up an account picker: the same hang risk as a browser.
        "exclude_broker_credential": True,
    }
    if tenant:
        if not _TENANT.match(tenant):
            raise UsageError(f"{tenant!r} is not a tenant id or domain", where="--tenant",
                             fix="pass the directory's GUID or its domain, e.g. contoso.com")
        options.update(additionally_allowed_tenants=[tenant],
                       workload_identity_tenant_id=tenant, shared_cache_tenant_id=tenant,
                       visual_studio_code_tenant_id=tenant)
    # The chain also logs its failure as a warning; AuthError reports it once, redacted.
    identity_logger = logging.getLogger("azure.identity")
    if identity_logger.level == logging.NOTSET:
        identity_logger.setLevel(logging.ERROR)
    try:
        credential = DefaultAzureCredential(**options)
    except ValueError as error:  # e.g. an unknown AZURE_TOKEN_CREDENTIALS value
        raise UsageError(str(error), where="azure-identity configuration",
                         fix="correct or unset AZURE_TOKEN_CREDENTIALS") from None
    return TenantCredential(credential, tenant) if tenant else credential


def arm_scope(arm_endpoint: str | None, *, verify: str | bool | None = None,
              timeout: float = METADATA_TIMEOUT) -> str:
    """The token scope for ARM at ``arm_endpoint``: what its metadata announces, else public.

    ``verify`` defaults to ``ca_bundle()`` (the environment's choice, else the system store).
    """
    if not arm_endpoint or urlsplit(arm_endpoint).hostname in PUBLIC_ARM_HOSTS:
        return DEFAULT_ARM_SCOPE
    base = arm_endpoint.rstrip("/")
    try:
        response = requests.get(f"{base}/metadata/endpoints",
                                params={"api-version": METADATA_API_VERSION}, timeout=timeout,
                                verify=(ca_bundle() or True) if verify is None else verify)
        response.raise_for_status()
        audience = _audience(response.json(), base)
    except (requests.RequestException, ValueError):
        return DEFAULT_ARM_SCOPE
    if not audience:
        return DEFAULT_ARM_SCOPE
    # Same rule as the Azure CLI: a v1 resource "https://x/" becomes the scope "https://x//.default".
    return f"{audience}/.default"


def kudu_scope(arm_token_scope: str) -> str:
    """The token scope for Kudu: the cloud's management audience, as Microsoft's own clients
    (the Azure CLI, azd) send it, and what Kudu accepts in every cloud.

    For the public cloud that is ``https://management.core.windows.net/`` (not ARM's
    ``management.azure.com``); elsewhere the audience the cloud's metadata announced, which
    ``arm_scope`` already turned into a scope.
    """
    return PUBLIC_KUDU_SCOPE if arm_token_scope == DEFAULT_ARM_SCOPE else arm_token_scope


def _audience(metadata: object, base: str) -> str | None:
    """``authentication.audiences[0]`` of the cloud whose resourceManager is ``base``."""
    clouds = metadata if isinstance(metadata, list) else [metadata]
    dicts = [c for c in clouds if isinstance(c, dict)]
    matching = [c for c in dicts if str(c.get("resourceManager", "")).rstrip("/") == base]
    for cloud in matching or dicts[:1]:
        authentication = cloud.get("authentication")
        audiences = authentication.get("audiences") if isinstance(authentication, dict) else None
        if isinstance(audiences, list) and audiences and isinstance(audiences[0], str):
            audience = audiences[0].strip()
            if audience.startswith("https://"):
                return audience
    return None


class _CachedToken:
    """A token for one scope, fetched again shortly before it expires; thread-safe."""

    def __init__(self, credential: TokenCredential, scope: str,
                 clock: Callable[[], float], margin: float) -> None:
        self._credential = credential
        self._scope = scope
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def __call__(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._refresh_at:
                token = self._fetch()
                register_secret(token.token)
                # A short-lived token is refreshed at half its life, not on every call.
                margin = min(self._margin, max(token.expires_on - now, 0) / 2)
                self._token, self._refresh_at = token.token, token.expires_on - margin
            return self._token

    def _fetch(self) -> AccessToken:
        try:
            return self._credential.get_token(self._scope)
        except AzureError as error:  # CredentialUnavailableError included
            raise token_failure(error, where=f"Entra ID token for {self._scope}") from None

    def __repr__(self) -> str:
        return f"token_provider(scope={self._scope!r})"


# What the credential chain says when a token endpoint (Entra ID, the managed identity's, the
# CLI's) could not be reached: it keeps only its members' messages, not their exceptions.
_UNREACHABLE = re.compile(r"failed to establish a new connection|failed to resolve|name or "
                          r"service not known|connection (?:refused|reset|aborted)|timed? ?out|"
                          r"network is unreachable|no route to host", re.IGNORECASE)


def token_failure(error: AzureError, *, where: str) -> AuthError:
    """Why no token was had, in the user's terms: an endpoint that could not be reached is a
    network problem, not a refused credential, and is told apart from having no credential."""
    causes = [error]
    while (cause := causes[-1].__cause__) is not None and len(causes) < 8:
        causes.append(cause)  # type: ignore[arg-type]
    unreachable = (any(isinstance(c, (ServiceRequestError, ServiceResponseError))
                       for c in causes)
                   or bool(_UNREACHABLE.search(str(error.message))))
    if unreachable:
        return AuthError(f"could not reach the token endpoint: {error.message}", where=where,
                         fix="check the network path (proxy, DNS, firewall) to the identity "
                         "endpoint, then retry; the credential itself was not refused")
    if isinstance(error, ClientAuthenticationError):
        return AuthError(f"no Azure credential could get a token: {error.message}",
                         where=where, fix=LOGIN_FIX)
    return AuthError(f"getting a token failed: {error.message}", where=where,
                     fix="check the network path to the identity endpoint, then " + LOGIN_FIX)


def token_provider(credential: TokenCredential, scope: str, *,
                   clock: Callable[[], float] = time.time,
                   margin: float = REFRESH_MARGIN) -> Callable[[], str]:
    """A callable returning a valid token for ``scope``, cached until ``margin`` before expiry.

    Failures raise ``AuthError`` naming the scope and what to do.
    """
    return _CachedToken(credential, scope, clock, margin)


# -- TLS trust ---------------------------------------------------------------------------------


def ca_bundle(explicit: str | None = None,
              environ: Mapping[str, str] | None = None) -> str | None:
    """The CA bundle to verify against: --ca-bundle, AZPUBLISH_CA_BUNDLE, REQUESTS_CA_BUNDLE.

    ``None`` means the system store. Verification itself is never turned off.
    """
    env = os.environ if environ is None else environ
    for source, value in (("--ca-bundle", explicit),
                          ("AZPUBLISH_CA_BUNDLE", env.get("AZPUBLISH_CA_BUNDLE")),
                          ("REQUESTS_CA_BUNDLE", env.get("REQUESTS_CA_BUNDLE"))):
        if value:
            return _checked_bundle(Path(value).expanduser(), source)
    return None


def _checked_bundle(path: Path, source: str) -> str:
    fix = "point it at a PEM file of CA certificates, or unset it to use the system store"
    if path.is_dir():  # an OpenSSL hashed directory is a valid trust store too
        return str(path.resolve())
    try:
        with path.open("rb") as handle:
            head = handle.read(BUNDLE_PROBE_BYTES)
    except FileNotFoundError:
        raise UsageError(f"CA bundle {path} does not exist", where=source, fix=fix) from None
    except OSError as error:
        raise UsageError(f"cannot read CA bundle {path}: {error.strerror}", where=source,
                         fix=fix) from None
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise UsageError(f"{path} holds no PEM certificate", where=source, fix=fix)
    return str(path.resolve())


# -- publish profiles --------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishProfile:
    """Basic-auth credentials for one app's Kudu, from a ``.PublishSettings`` file."""

    app: str
    scm_url: str
    user: str
    password: str = field(repr=False)
    destination_url: str | None = None

    def __post_init__(self) -> None:
        register_secret(self.password)


def read_publish_profile(value: str, *, source: str | None = None) -> PublishProfile:
    """Parse a publish profile given as XML text or as the path of its file.

    ``source`` names where ``value`` came from in errors; by default the file's path, or
    AZPUBLISH_PUBLISH_PROFILE for XML text. Picks the ZipDeploy profile, else MSDeploy.
    """
    text = value.lstrip("\ufeff").strip()
    if "<" in text:  # XML, even if something precedes it: never quote it back as a "path"
        data, where = text.encode(), source or PUBLISH_PROFILE_ENV
    elif text:
        data, where = _read_profile_file(Path(text).expanduser(), source)
    else:
        raise UsageError("the publish profile is empty", where=source or PUBLISH_PROFILE_ENV,
                         fix=_PROFILE_FIX)
    try:
        root = safe_xml.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                   forbid_external=True)
    except DefusedXmlException:
        raise UsageError("the publish profile declares a DTD or entities, which are refused",
                         where=where, fix=_PROFILE_FIX) from None
    except ParseError as error:
        raise UsageError(f"the publish profile is not valid XML ({error})", where=where,
                         fix=_PROFILE_FIX) from None
    return _profile_from(root, where)


_PROFILE_FIX = ("download it again: Azure portal > the function app > Get publish profile, or "
                "`az functionapp deployment list-publishing-profiles --xml -n APP -g GROUP`")


def _read_profile_file(path: Path, source: str | None) -> tuple[bytes, str]:
    where = source or str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PROFILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"publish profile {path} does not exist", where=where,
                         fix=_PROFILE_FIX) from None
    except OSError as error:
        raise UsageError(f"cannot read publish profile {path}: {error.strerror}", where=where,
                         fix=_PROFILE_FIX) from None
    if len(data) > MAX_PROFILE_BYTES:
        raise UsageError(f"publish profile {path} is larger than {MAX_PROFILE_BYTES} bytes",
                         where=where, fix=_PROFILE_FIX)
    return data, where


def _profile_from(root: Element, where: str) -> PublishProfile:
    profiles = [e for e in root.iter() if e.tag == "publishProfile"]
    by_method = {e.get("publishMethod", "").lower(): e for e in reversed(profiles)}
    # Not `a or b`: an Element without children is falsy.
    chosen = by_method.get("zipdeploy", by_method.get("msdeploy"))
    if chosen is None:
        found = sorted({e.get("publishMethod", "?") for e in profiles}) or ["none"]
        raise UsageError(
            f"no ZipDeploy or MSDeploy publishProfile in it (found: {', '.join(found)})",
            where=where, fix=_PROFILE_FIX)
    method = chosen.get("publishMethod", "")
    missing = [name for name in ("publishUrl", "userName", "userPWD") if not chosen.get(name)]
    if missing:
        raise UsageError(f"the {method} profile lacks {', '.join(missing)}", where=where,
                         fix=_PROFILE_FIX)
    password = chosen.get("userPWD", "")
    register_secret(password)  # before anything below can quote it
    user = chosen.get("userName", "")
    return PublishProfile(
        app=_app_name(chosen, profiles, user),
        scm_url=_scm_url(chosen.get("publishUrl", ""), method, where),
        user=user,
        password=password,
        destination_url=chosen.get("destinationAppUrl") or None,
    )


def _app_name(chosen: Element, profiles: list[Element], user: str) -> str:
    """msdeploySite names the site (ZipDeploy profiles lack it); else the user "$app"."""
    for element in (chosen, *profiles):
        site = element.get("msdeploySite")
        if site:
            return site
    return user.rpartition("\\")[2].lstrip("$")


def _scm_url(publish_url: str, method: str, where: str) -> str:
    url = publish_url.strip()
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if "@" in parts.netloc:  # never quote it: whatever precedes "@" may be a credential
        raise UsageError(f"the {method} profile's publishUrl carries credentials", where=where,
                         fix=_PROFILE_FIX)
    if (parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment
            or any(c.isspace() for c in url)):
        raise UsageError(f"the {method} profile's publishUrl {publish_url!r} is not an https "
                         "host", where=where, fix=_PROFILE_FIX)
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"
