"""Keeping secrets out of everything azpublish prints or writes.

Two layers: credentials inside URLs (``https://user:token@host/simple``) are recognised by shape,
and values registered with ``register_secret`` (tokens, publishing passwords) are recognised
verbatim and in their percent-encoded form. Every output path (errors, logs, JSON, CI
annotations) calls ``redact``.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote, unquote

MASK = "***"

# scheme://userinfo@ — userinfo may hold a token alone or user:password; mask all of it.
# The lookbehind anchors a scheme at the start of its word, keeping the scan linear on long text.
_URL_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]+)@")
_AUTH_HEADER = re.compile(
    r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer)\s+)[^\s\"',}]+")

_lock = threading.Lock()
_secrets: set[str] = set()

# Shorter values would mask innocent text (and are not credentials worth the name).
_MIN_SECRET_LENGTH = 4


def register_secret(value: str | None) -> None:
    """Remember a secret so that ``redact`` masks it wherever it later appears."""
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), unquote(value)}
    with _lock:
        _secrets.update(f for f in forms if len(f) >= _MIN_SECRET_LENGTH)


def register_url_credentials(url: str | None) -> None:
    """Register the password (and a token used as user name) embedded in a URL."""
    if not url:
        return
    for match in _URL_USERINFO.finditer(url):
        user, _, password = match.group("userinfo").partition(":")
        register_secret(password or user)


def forget_secrets() -> None:
    """For tests that need a clean slate between independent runs."""
    with _lock:
        _secrets.clear()


def redact(text: str) -> str:
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{MASK}", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def secrets_snapshot() -> frozenset[str]:
    """The registered secrets, for CI integrations that must mask them with the runner too."""
    with _lock:
        return frozenset(_secrets)
