"""The emulator's own secrets, made once per state directory and kept in ``secrets/`` (0600).

- ``admin.key``: authenticates the CLI on ``/_emulator``.
- ``token.key``: signs the JWTs the token endpoint issues.
- ``identity-header``: the ``X-IDENTITY-HEADER`` value the managed-identity endpoint demands.
- ``seal.key``: encrypts secrets at rest (app settings, publishing passwords, function keys), so
  a private index password set as an app setting is in no file in clear text.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from azpublish.emulator.layout import PRIVATE, StateLayout, write_bytes_atomic
from azpublish.errors import UsageError
from azpublish.redact import register_secret


def _load_or_create(path: Path, make: bytes) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    write_bytes_atomic(path, make, PRIVATE)
    return make


@dataclass(frozen=True)
class EmulatorKeys:
    admin_key: str
    token_key: bytes
    identity_header: str
    seal_key: bytes

    @classmethod
    def load(cls, layout: StateLayout) -> EmulatorKeys:
        folder = layout.secrets_dir
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys = cls(
            admin_key=_load_or_create(folder / "admin.key",
                                      secrets.token_urlsafe(32).encode()).decode(),
            token_key=_load_or_create(folder / "token.key", secrets.token_hex(32).encode()),
            identity_header=_load_or_create(folder / "identity-header",
                                            secrets.token_urlsafe(24).encode()).decode(),
            seal_key=_load_or_create(folder / "seal.key", Fernet.generate_key()),
        )
        register_secret(keys.admin_key)
        register_secret(keys.identity_header)
        return keys


class Sealer:
    """Encrypts JSON values for storage; the key never leaves ``secrets/``."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def unseal(self, token: str, *, where: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError) as exc:
            raise UsageError(
                "a sealed value cannot be decrypted with this state directory's key",
                where=where,
                fix="the secrets/ folder does not belong to this state; restore it or start afresh",
            ) from exc
