"""Where the emulator keeps everything under its state directory, and how it writes files.

Every file is written atomically (temporary file in the same folder, then rename) so a crash or
a concurrent reader never sees half a file; secrets get mode 0600 and live in ``secrets/``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azpublish.errors import UsageError

PRIVATE = 0o600
PUBLIC = 0o644


@dataclass(frozen=True)
class StateLayout:
    root: Path

    @property
    def endpoint_file(self) -> Path:
        return self.root / "endpoint.json"

    @property
    def identity_file(self) -> Path:
        return self.root / "emulator.json"

    @property
    def config_file(self) -> Path:
        return self.root / "config.json"

    @property
    def faults_file(self) -> Path:
        return self.root / "faults.json"

    @property
    def server_lock(self) -> Path:
        return self.root / "server.lock"

    @property
    def edit_lock(self) -> Path:
        return self.root / "edit.lock"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def apps_dir(self) -> Path:
        return self.root / "apps"

    @property
    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def log_file(self) -> Path:
        return self.root / "emulator.log"

    def app_dir(self, app: str) -> Path:
        return self.apps_dir / app

    def site_dir(self, app: str, slot: str | None) -> Path:
        return self.app_dir(app) / "sites" / (f"slot-{slot}" if slot else "production")

    def wwwroot(self, app: str, slot: str | None) -> Path:
        return self.site_dir(app, slot) / "wwwroot"

    def deployments_dir(self, app: str, slot: str | None) -> Path:
        return self.site_dir(app, slot) / "deployments"

    def log_files(self, app: str, slot: str | None) -> Path:
        """The site's /home/LogFiles: what Kudu's log stream tails and its VFS serves."""
        return self.site_dir(app, slot) / "LogFiles"

    def ensure(self) -> None:
        """Create the folders; refuse a path that exists and is not a folder."""
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(
                "the state directory is not a directory",
                where=str(self.root),
                fix="pass --state-dir a folder (it is created when missing)",
            )
        for folder in (self.root, self.apps_dir, self.uploads_dir, self.cache_dir, self.tls_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_bytes_atomic(path: Path, data: bytes, mode: int = PUBLIC) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, value: Any, mode: int = PUBLIC) -> None:
    write_bytes_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode(), mode)


def read_json(path: Path) -> Any:
    """The parsed file; a damaged file is a clear error, not a traceback."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"damaged state file: {exc}",
            where=str(path),
            fix="restore it from a backup or delete the state directory to start afresh",
        ) from exc
