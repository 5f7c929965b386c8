"""Access tokens: JWTs shaped like Entra ID's, signed (HS256) with the state directory's key.

Real clients decode tokens without verifying them (to read ``tid``, ``oid``, ``exp``), so the
claims follow Entra's v1 access tokens; the emulator itself verifies signature, time window and
audience on every ARM and Kudu request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from azpublish.emulator.identity import EmulatorIdentity

ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
APP_SERVICE_AUDIENCE = "https://appservice.azure.com"
CLOCK_SKEW = 300  # seconds of leeway, as Entra-validating services allow


class TokenRejected(Exception):
    """Why a token is refused, as ARM's error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_on: int
    resource: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def normalize_audience(value: str) -> str:
    return value.strip().rstrip("/").lower()


class TokenIssuer:
    def __init__(
        self,
        key: bytes,
        identity: EmulatorIdentity,
        *,
        lifetime: Callable[[], int] = lambda: 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._identity = identity
        self._lifetime = lifetime
        self._clock = clock
        self._kid = hashlib.sha256(key).hexdigest()[:16]

    def issue(self, resource: str) -> IssuedToken:
        now = int(self._clock())
        expires = now + self._lifetime()
        ident = self._identity
        claims = {
            "aud": resource,
            "iss": ident.issuer,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "aio": _b64(secrets.token_bytes(12)),
            "appid": ident.client_id,
            "appidacr": "2",
            "idp": ident.issuer,
            "idtyp": "app",
            "oid": ident.object_id,
            "rh": _b64(secrets.token_bytes(12)),
            "sub": ident.object_id,
            "tid": ident.tenant_id,
            "uti": _b64(secrets.token_bytes(12)),
            "ver": "1.0",
            "xms_mirid": ident.identity_resource_id,
        }
        token = self._sign({"typ": "JWT", "alg": "HS256", "kid": self._kid}, claims)
        return IssuedToken(token, expires, resource)

    def _sign(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self._key, algorithm="HS256", headers=dict(header))

    def verify(self, token: str, audiences: Iterable[str]) -> dict[str, Any]:
        """The token's claims; ``TokenRejected`` with ARM's code when it is not acceptable."""
        try:
            # PyJWT checks the signature; times are checked below against the emulator's own
            # clock (which tests move), audiences as ARM compares them (case, trailing "/").
            claims: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=["HS256"],
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                         "verify_aud": False})
        except jwt.InvalidTokenError:
            raise TokenRejected("InvalidAuthenticationToken",
                                "The access token is invalid: its signature does not verify."
                                ) from None
        now = self._clock()
        try:
            expires, not_before = float(claims.get("exp", 0)), float(claims.get("nbf", 0))
        except (TypeError, ValueError):
            raise TokenRejected("InvalidAuthenticationToken",
                                "The access token has malformed time claims.") from None
        if expires + CLOCK_SKEW < now:
            raise TokenRejected(
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.")
        if not_before - CLOCK_SKEW > now:
            raise TokenRejected("InvalidAuthenticationToken",
                                "The access token is not yet valid.")
        wanted = {normalize_audience(a) for a in audiences}
        if normalize_audience(str(claims.get("aud", ""))) not in wanted:
            raise TokenRejected(
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource "
                f"'{claims.get('aud')}'. It should exactly match with one of the allowed "
                f"audiences {sorted(wanted)}.",
            )
        if claims.get("tid") != self._identity.tenant_id \
                or claims.get("iss") != self._identity.issuer:
            raise TokenRejected("InvalidAuthenticationTokenTenant",
                                "The access token is from the wrong issuer.")
        return claims
