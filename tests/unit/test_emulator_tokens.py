"""The emulator's JWTs: Entra-shaped claims, and every reason to refuse one."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from azpublish.emulator.identity import EmulatorIdentity
from azpublish.emulator.tokens import ARM_AUDIENCES, TokenIssuer, TokenRejected

IDENTITY = EmulatorIdentity(tenant_id="t-1", subscription_id="s-1", object_id="o-1",
                            client_id="c-1")


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _claims(token: str) -> dict[str, object]:
    body = token.split(".")[1]
    result: dict[str, object] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return result


def test_claims_look_like_entra_v1_access_tokens() -> None:
    clock = Clock()
    issued = TokenIssuer(b"k" * 32, IDENTITY, lifetime=lambda: 600, clock=clock).issue(
        "https://management.azure.com/")
    claims = _claims(issued.access_token)
    assert claims["aud"] == "https://management.azure.com/"
    assert claims["iss"] == "https://sts.windows.net/t-1/"
    assert (claims["tid"], claims["oid"], claims["appid"]) == ("t-1", "o-1", "c-1")
    assert claims["exp"] == issued.expires_on == int(clock.now) + 600
    assert claims["iat"] == claims["nbf"] == int(clock.now)


def test_verify_accepts_either_trailing_slash_form() -> None:
    issuer = TokenIssuer(b"k" * 32, IDENTITY)
    for resource in ("https://management.azure.com", "https://management.azure.com/",
                     "https://management.core.windows.net/"):
        assert issuer.verify(issuer.issue(resource).access_token, ARM_AUDIENCES)["tid"] == "t-1"


def test_expired_tokens_are_refused_after_the_skew() -> None:
    clock = Clock()
    issuer = TokenIssuer(b"k" * 32, IDENTITY, lifetime=lambda: 60, clock=clock)
    token = issuer.issue("https://management.azure.com").access_token
    clock.now += 60 + 299
    issuer.verify(token, ARM_AUDIENCES)
    clock.now += 2
    with pytest.raises(TokenRejected) as raised:
        issuer.verify(token, ARM_AUDIENCES)
    assert raised.value.code == "ExpiredAuthenticationToken"


def test_another_key_or_a_changed_claim_breaks_the_signature() -> None:
    token = TokenIssuer(b"a" * 32, IDENTITY).issue("https://management.azure.com").access_token
    with pytest.raises(TokenRejected) as other_key:
        TokenIssuer(b"b" * 32, IDENTITY).verify(token, ARM_AUDIENCES)
    assert other_key.value.code == "InvalidAuthenticationToken"
    head, _, signature = token.split(".")
    claims = _claims(token)
    claims["oid"] = "intruder"
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenRejected):
        TokenIssuer(b"a" * 32, IDENTITY).verify(f"{head}.{changed}.{signature}", ARM_AUDIENCES)


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "####.####.####"])
def test_garbage_is_refused_not_crashed_on(garbage: str) -> None:
    with pytest.raises(TokenRejected):
        TokenIssuer(b"a" * 32, IDENTITY).verify(garbage, ARM_AUDIENCES)


def test_wrong_audience_and_wrong_tenant() -> None:
    issuer = TokenIssuer(b"a" * 32, IDENTITY)
    storage = issuer.issue("https://storage.azure.com/").access_token
    with pytest.raises(TokenRejected) as raised:
        issuer.verify(storage, ARM_AUDIENCES)
    assert raised.value.code == "InvalidAuthenticationTokenAudience"
    stranger = EmulatorIdentity(tenant_id="t-2", subscription_id="s-1", object_id="o-1",
                                client_id="c-1")
    foreign = TokenIssuer(b"a" * 32, stranger).issue("https://management.azure.com")
    with pytest.raises(TokenRejected) as tenant:
        issuer.verify(foreign.access_token, ARM_AUDIENCES)
    assert tenant.value.code == "InvalidAuthenticationTokenTenant"


@pytest.mark.parametrize("issuer", ["https://sts.windows.net/another/", "", None])
def test_a_token_signed_with_the_key_but_another_issuer_is_refused(issuer: str | None) -> None:
    key = b"k" * 32
    issuing = TokenIssuer(key, IDENTITY)
    claims = _claims(issuing.issue("https://management.azure.com").access_token)
    if issuer is None:
        del claims["iss"]
    else:
        claims["iss"] = issuer
    forged = jwt.encode(claims, key, algorithm="HS256")  # a valid signature over the change
    with pytest.raises(TokenRejected) as raised:
        issuing.verify(forged, ARM_AUDIENCES)
    assert raised.value.code == "InvalidAuthenticationTokenTenant"
    assert "wrong issuer" in raised.value.message
