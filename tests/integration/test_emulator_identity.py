"""TLS with the emulator's own CA, the managed-identity endpoint, and ARM's token checks."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.request
from typing import Any

import pytest
import requests
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from tests.integration.conftest import RunningEmulator

pytestmark = pytest.mark.integration

ARM_SCOPE = "https://management.azure.com/.default"


def _claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return result


def test_https_is_trusted_with_the_emulators_ca_only(emulator: RunningEmulator) -> None:
    url = f"{emulator.arm_endpoint}/metadata/endpoints?api-version=2022-09-01"
    assert requests.get(url, verify=emulator.ca_bundle, timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, verify=True, timeout=10)
    context = ssl.create_default_context(cafile=emulator.ca_bundle)
    with urllib.request.urlopen(url, context=context, timeout=10) as answer:  # noqa: S310
        assert json.load(answer)["resourceManager"] == emulator.arm_endpoint + "/"
    localhost = url.replace("127.0.0.1", "localhost")
    assert requests.get(localhost, verify=emulator.ca_bundle, timeout=10).status_code == 200


def test_plain_http_is_not_served_on_the_https_port(emulator: RunningEmulator) -> None:
    plain = emulator.arm_endpoint.replace("https://", "http://") + "/metadata/endpoints"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain, timeout=10)


def test_identity_endpoint_issues_entra_shaped_tokens(emulator: RunningEmulator) -> None:
    before = time.time()
    answer = requests.get(emulator.identity_endpoint,
                          params={"api-version": "2019-08-01",
                                  "resource": "https://management.azure.com/"},
                          headers={"X-IDENTITY-HEADER": emulator.identity_header}, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["resource"] == "https://management.azure.com/"
    assert int(body["expires_on"]) > before + 3000
    claims = _claims(body["access_token"])
    assert claims["aud"] == "https://management.azure.com/"
    assert claims["tid"] == emulator.info["tenant_id"]
    assert claims["iss"] == f"https://sts.windows.net/{emulator.info['tenant_id']}/"
    assert claims["oid"] and claims["appid"] == body["client_id"]
    assert claims["exp"] == int(body["expires_on"])


def test_identity_endpoint_demands_the_header(emulator: RunningEmulator) -> None:
    params = {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    missing = requests.get(emulator.identity_endpoint, params=params, timeout=10)
    wrong = requests.get(emulator.identity_endpoint, params=params,
                         headers={"X-IDENTITY-HEADER": "guess"}, timeout=10)
    no_resource = requests.get(emulator.identity_endpoint, params={"api-version": "2019-08-01"},
                               headers={"X-IDENTITY-HEADER": emulator.identity_header},
                               timeout=10)
    assert (missing.status_code, wrong.status_code, no_resource.status_code) == (401, 401, 400)
    assert "access_token" not in missing.json()


@pytest.mark.usefixtures("emulator_env")
def test_managed_identity_credential_gets_a_token_that_arm_accepts(
        emulator: RunningEmulator) -> None:
    credential = ManagedIdentityCredential()
    token = credential.get_token(ARM_SCOPE)
    assert token.expires_on > time.time() + 3000
    assert _claims(token.token)["aud"].rstrip("/") == "https://management.azure.com"
    answer = requests.get(f"{emulator.arm_endpoint}/subscriptions",
                          params={"api-version": "2022-12-01"},
                          headers={"Authorization": f"Bearer {token.token}"},
                          verify=emulator.ca_bundle, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["value"][0]["subscriptionId"] == emulator.subscription_id


@pytest.mark.usefixtures("emulator_env")
def test_default_credential_chain_reaches_the_emulator(emulator: RunningEmulator) -> None:
    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    token = credential.get_token(ARM_SCOPE)
    assert _claims(token.token)["tid"] == emulator.info["tenant_id"]


def _forged(emulator: RunningEmulator) -> str:
    header = emulator.token().split(".")[0]
    claims = _claims(emulator.token())
    claims["oid"] = "someone-else"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged_body}.{base64.urlsafe_b64encode(b'x' * 32).decode().rstrip('=')}"


@pytest.mark.parametrize("authorization, code", [
    (None, "AuthenticationFailed"),
    ("Basic dXNlcjpwYXNz", "AuthenticationFailed"),
    ("Bearer not-a-jwt", "InvalidAuthenticationToken"),
    ("forged", "InvalidAuthenticationToken"),
    ("storage", "InvalidAuthenticationTokenAudience"),
])
def test_arm_refuses_without_a_valid_token(emulator: RunningEmulator, authorization: str | None,
                                           code: str) -> None:
    headers = {}
    if authorization == "forged":
        headers["Authorization"] = f"Bearer {_forged(emulator)}"
    elif authorization == "storage":
        headers["Authorization"] = f"Bearer {emulator.token('https://storage.azure.com/')}"
    elif authorization:
        headers["Authorization"] = authorization
    answer = emulator.arm("GET", "/subscriptions", auth=False, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == code
    assert answer.headers["x-ms-request-id"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")


def test_metadata_endpoints_answers_like_arm(emulator: RunningEmulator) -> None:
    url = f"{emulator.arm_endpoint}/metadata/endpoints"
    single = requests.get(url, params={"api-version": "2022-09-01"}, verify=emulator.ca_bundle,
                          timeout=10).json()
    listed = requests.get(url, params={"api-version": "2019-05-01"}, verify=emulator.ca_bundle,
                          timeout=10).json()
    assert single["resourceManager"] == emulator.arm_endpoint + "/"
    assert "https://management.azure.com/" in single["authentication"]["audiences"]
    assert single["authentication"]["loginEndpoint"].startswith("https://")
    assert single["appServiceResourceId"] == "https://appservice.azure.com"
    assert single["suffixes"]["storage"] == "core.windows.net"
    assert isinstance(listed, list) and listed[0]["name"] == single["name"]
