"""azpublish.azure.auth against the emulator: the real credential chain, scopes from cloud
metadata, cached tokens, --tenant, publish-profile Basic auth, and CA bundle selection."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken, TokenCredential
from azure.mgmt.web import WebSiteManagementClient

from azpublish.azure.auth import (
    DEFAULT_ARM_SCOPE,
    AuthError,
    arm_credential,
    arm_scope,
    ca_bundle,
    read_publish_profile,
    token_provider,
)
from azpublish.errors import DeployError, ExitCode, UsageError
from azpublish.redact import redact
from tests.integration.conftest import RunningEmulator

integration = pytest.mark.integration
EMULATOR_SCOPE = "https://management.core.windows.net//.default"  # its metadata's audiences[0]


class CountingCredential:
    """The real credential, with a count of the tokens asked of it."""

    def __init__(self, inner: TokenCredential) -> None:
        self.inner = inner
        self.calls = 0

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return self.inner.get_token(*scopes, claims=claims, tenant_id=tenant_id,
                                    enable_cae=enable_cae, **kwargs)


def _arm_get(emulator: RunningEmulator, token: str, path: str) -> requests.Response:
    return requests.get(f"{emulator.arm_endpoint}{path}", params={"api-version": "2024-04-01"},
                        headers={"Authorization": f"Bearer {token}"},
                        verify=emulator.ca_bundle, timeout=30)


def _jwt_body(token: str) -> bytes:
    body = token.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


# -- the credential chain ----------------------------------------------------------------------


@integration
def test_default_credential_gets_a_managed_identity_token_arm_accepts(
        emulator_env: RunningEmulator) -> None:
    scope = arm_scope(emulator_env.arm_endpoint)
    assert scope == EMULATOR_SCOPE
    token = token_provider(arm_credential(), scope)()
    assert _arm_get(emulator_env, token, "/subscriptions").status_code == 200
    assert redact(f"Bearer {token} and {token}") == "Bearer *** and ***"


@integration
def test_the_sdk_reads_an_app_with_the_tenant_credential(emulator_env: RunningEmulator) -> None:
    app = emulator_env.create_app()
    credential = arm_credential(tenant=emulator_env.info["tenant_id"])
    client = WebSiteManagementClient(
        credential, emulator_env.subscription_id, base_url=emulator_env.arm_endpoint,
        connection_verify=ca_bundle(), credential_scopes=[arm_scope(emulator_env.arm_endpoint)])
    with client:
        site = client.web_apps.get(emulator_env.resource_group, app)
    assert site.name == app


@integration
def test_tokens_are_cached_until_shortly_before_expiry(emulator_env: RunningEmulator) -> None:
    counting = CountingCredential(arm_credential())
    now = [time.time()]
    provider = token_provider(counting, DEFAULT_ARM_SCOPE, clock=lambda: now[0])
    first = provider()
    expires = json.loads(_jwt_body(first))["exp"]
    assert [provider(), provider()] == [first, first]
    now[0] = expires - 301
    provider()
    assert counting.calls == 1
    now[0] = expires - 299
    provider()
    assert counting.calls == 2


@integration
def test_short_lived_tokens_are_refreshed_at_half_life(emulator_env: RunningEmulator) -> None:
    with emulator_env.configured(token_lifetime_seconds=120):
        counting = CountingCredential(arm_credential())
        start = time.time()
        now = [start]
        provider = token_provider(counting, DEFAULT_ARM_SCOPE, clock=lambda: now[0])
        token = provider()
    lifetime = json.loads(_jwt_body(token))["exp"] - start
    assert 100 < lifetime <= 121
    now[0] = start + lifetime / 2 - 2
    provider()
    assert counting.calls == 1
    now[0] = start + lifetime / 2 + 2
    provider()
    assert counting.calls == 2


@integration
def test_a_refused_identity_becomes_an_auth_error(emulator_env: RunningEmulator,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "managedidentitycredential")
    provider = token_provider(arm_credential(), DEFAULT_ARM_SCOPE)
    with pytest.raises(AuthError) as caught:
        provider()
    assert isinstance(caught.value, DeployError)
    assert caught.value.exit_code == ExitCode.DEPLOY
    assert caught.value.where == f"Entra ID token for {DEFAULT_ARM_SCOPE}"
    assert caught.value.fix is not None and "az login" in caught.value.fix
    assert "azure/login" in caught.value.render()


def test_an_unreachable_token_endpoint_is_not_called_a_refused_credential(
        monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{unused_tcp_port}/msi")
    monkeypatch.setenv("IDENTITY_HEADER", "header")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "managedidentitycredential")
    with pytest.raises(AuthError) as caught:
        token_provider(arm_credential(), DEFAULT_ARM_SCOPE)()
    assert "could not reach the token endpoint" in caught.value.what
    assert caught.value.fix is not None and "network path" in caught.value.fix
    assert "refused the credential" not in caught.value.render()


@integration
def test_arm_without_a_reachable_token_endpoint_says_so(
        emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    from azpublish.azure.arm import Arm

    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{unused_tcp_port}/msi")
    monkeypatch.setenv("IDENTITY_HEADER", "header")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "managedidentitycredential")
    arm = Arm(arm_credential(), "00000000-0000-0000-0000-000000000000",
              endpoint=emulator.arm_endpoint, ca_bundle=emulator.ca_bundle,
              scope=EMULATOR_SCOPE)
    with pytest.raises(AuthError) as caught:
        arm.find_resource_group("any-app")
    assert "could not reach the token endpoint" in caught.value.what
    assert caught.value.where is not None and emulator.arm_endpoint in caught.value.where


def test_no_credential_at_all_becomes_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
                 "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "environmentcredential")
    with pytest.raises(AuthError, match="no Azure credential could get a token"):
        token_provider(arm_credential(), DEFAULT_ARM_SCOPE)()


def test_a_bad_credential_selection_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "carrier-pigeon")
    with pytest.raises(UsageError, match="AZURE_TOKEN_CREDENTIALS"):
        arm_credential()


def test_a_malformed_tenant_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        arm_credential(tenant="contoso.com; rm -rf /")
    assert caught.value.where == "--tenant"


# -- --tenant through the Azure CLI member of the chain ------------------------------------------

FAKE_AZ = '''#!{python}
"""Stands in for `az account get-access-token`: records its arguments, then answers with a
token from the emulator's managed-identity endpoint, in the CLI's output shape."""
import json, os, sys, urllib.parse, urllib.request

with open({record!r}, "a") as record:
    record.write(json.dumps(sys.argv[1:]) + "\\n")
resource = sys.argv[sys.argv.index("--resource") + 1]
query = urllib.parse.urlencode({{"api-version": "2019-08-01", "resource": resource}})
request = urllib.request.Request(os.environ["IDENTITY_ENDPOINT"] + "?" + query,
                                 headers={{"X-IDENTITY-HEADER": os.environ["IDENTITY_HEADER"]}})
body = json.load(urllib.request.urlopen(request, timeout=10))
print(json.dumps({{"accessToken": body["access_token"], "expires_on": int(body["expires_on"]),
                  "tokenType": "Bearer"}}))
'''


@pytest.fixture
def fake_az(emulator_env: RunningEmulator, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `az` on PATH, and a chain narrowed to the Azure CLI credential."""
    record = tmp_path / "az-calls.jsonl"
    script = tmp_path / "bin" / "az"
    script.parent.mkdir()
    script.write_text(FAKE_AZ.format(python=sys.executable, record=str(record)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "azureclicredential")
    return record


def _calls(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


@integration
def test_tenant_reaches_the_azure_cli(fake_az: Path, emulator_env: RunningEmulator) -> None:
    scope = arm_scope(emulator_env.arm_endpoint)
    token = token_provider(arm_credential(tenant="contoso.example"), scope)()
    assert _arm_get(emulator_env, token, "/subscriptions").status_code == 200
    (call,) = _calls(fake_az)
    assert call[:2] == ["account", "get-access-token"]
    assert call[call.index("--tenant") + 1] == "contoso.example"
    assert call[call.index("--resource") + 1] == "https://management.core.windows.net/"


@integration
def test_without_tenant_the_cli_uses_its_default(fake_az: Path,
                                                 emulator_env: RunningEmulator) -> None:
    token_provider(arm_credential(), DEFAULT_ARM_SCOPE)()
    (call,) = _calls(fake_az)
    assert "--tenant" not in call
    assert call[call.index("--resource") + 1] == "https://management.azure.com"


# -- the ARM scope -------------------------------------------------------------------------------


def test_the_public_cloud_needs_no_metadata() -> None:
    # verify= a missing file would make any request raise OSError: none is made.
    for endpoint in (None, "", "https://management.azure.com", "https://management.azure.com/"):
        assert arm_scope(endpoint, verify="/nonexistent/ca.pem") == DEFAULT_ARM_SCOPE


@integration
def test_the_scope_falls_back_when_metadata_is_unavailable(emulator: RunningEmulator) -> None:
    assert arm_scope(f"{emulator.arm_endpoint}/nothing-here",
                     verify=emulator.ca_bundle) == DEFAULT_ARM_SCOPE  # 404
    assert arm_scope("https://127.0.0.1:1", timeout=2) == DEFAULT_ARM_SCOPE  # refused
    assert arm_scope(emulator.arm_endpoint, verify=True) == DEFAULT_ARM_SCOPE  # untrusted
    assert arm_scope(emulator.arm_endpoint, verify=emulator.ca_bundle) == EMULATOR_SCOPE


# -- publish profiles against Kudu ---------------------------------------------------------------


@integration
def test_a_publish_profile_opens_kudu_with_basic_auth(emulator: RunningEmulator,
                                                      tmp_path: Path) -> None:
    app = emulator.create_app()
    site = emulator.arm("GET", emulator.site_path(app)).json()["properties"]
    scm_host = next(s["name"] for s in site["hostNameSslStates"] if s["hostType"] == "Repository")
    credentials = emulator.arm(
        "POST", f"{emulator.site_path(app)}/config/publishingcredentials/list").json()
    user = credentials["properties"]["publishingUserName"]
    password = credentials["properties"]["publishingPassword"]
    profile = tmp_path / f"{app}.PublishSettings"
    profile.write_text(
        f'<publishData><publishProfile profileName="{app} - Zip Deploy" publishMethod="ZipDeploy"'
        f' publishUrl="{scm_host}" userName="{user}" userPWD="{password}"'
        f' destinationAppUrl="https://{site["defaultHostName"]}"/></publishData>')
    parsed = read_publish_profile(str(profile))
    assert parsed.scm_url == emulator.scm_url(app)
    assert (parsed.app, parsed.user) == (app, user)
    answer = requests.get(f"{parsed.scm_url}/api/deployments", auth=(parsed.user, parsed.password),
                          verify=emulator.ca_bundle, timeout=30)
    assert answer.status_code == 200
    wrong = requests.get(f"{parsed.scm_url}/api/deployments", auth=(parsed.user, "nope"),
                         verify=emulator.ca_bundle, timeout=30)
    assert wrong.status_code == 401


# -- CA bundles ----------------------------------------------------------------------------------

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def bundles(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / f"{name}.pem" for name in ("flag", "azpublish", "requests")}
    for path in paths.values():
        path.write_text(PEM)
    return paths


def test_ca_bundle_precedence(bundles: dict[str, Path]) -> None:
    env = {"AZPUBLISH_CA_BUNDLE": str(bundles["azpublish"]),
           "REQUESTS_CA_BUNDLE": str(bundles["requests"])}
    assert ca_bundle(str(bundles["flag"]), env) == str(bundles["flag"])
    assert ca_bundle(None, env) == str(bundles["azpublish"])
    assert ca_bundle("", {**env, "AZPUBLISH_CA_BUNDLE": ""}) == str(bundles["requests"])
    assert ca_bundle(None, {}) is None


def test_ca_bundle_reads_the_process_environment(bundles: dict[str, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZPUBLISH_CA_BUNDLE", str(bundles["azpublish"]))
    assert ca_bundle() == str(bundles["azpublish"])


def test_a_missing_or_wrong_ca_bundle_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist") as missing:
        ca_bundle(None, {"AZPUBLISH_CA_BUNDLE": str(tmp_path / "gone.pem")})
    assert missing.value.where == "AZPUBLISH_CA_BUNDLE"
    not_pem = tmp_path / "key.txt"
    not_pem.write_text("hello")
    with pytest.raises(UsageError, match="no PEM certificate") as wrong:
        ca_bundle(str(not_pem), {})
    assert wrong.value.where == "--ca-bundle"
    assert wrong.value.exit_code == ExitCode.USAGE


def test_a_hashed_certificate_directory_is_accepted(tmp_path: Path) -> None:
    assert ca_bundle(None, {"REQUESTS_CA_BUNDLE": str(tmp_path)}) == str(tmp_path.resolve())
