"""Where packages come from, once, in one typed value; and what each installer is given for it.

``PackageSources`` is read from pip's configuration (``pip_config``) plus azpublish's own flags.
From it come, for pip and for uv alike: the environment, the command-line flags (``--no-index``
for uv: ``uv pip`` reads no variable for it), the host files a container must mount, the secrets
to register with the redactor, and the identity the build cache keys on. Index URLs (which may
carry credentials) travel only as environment variables, never as arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlsplit

from azpublish.errors import BuildError
from azpublish.redact import redact, register_url_credentials
from azpublish.toolchain.pip_config import read_pip_options

InstallerName = Literal["pip", "uv"]
_TRUE = ("1", "true", "yes", "on", "y", "t")
_FALSE = ("0", "false", "no", "off", "n", "f")
# Variables the host may set that neither change an install's result nor name a source.
_KEPT_INSTALLER_VARIABLES = ("PIP_CACHE_DIR", "UV_CACHE_DIR")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True)
class PackageSources:
    index_url: str | None = field(default=None, repr=False)
    extra_index_urls: tuple[str, ...] = field(default=(), repr=False)
    find_links: tuple[str, ...] = field(default=(), repr=False)
    trusted_hosts: tuple[str, ...] = ()
    cert: str | None = None
    client_cert: str | None = None
    no_index: bool = False
    timeout: str | None = None
    retries: str | None = None
    proxy: str | None = field(default=None, repr=False)
    pre: bool = False
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    ignored_uv: tuple[str, ...] = field(default=(), compare=False)

    # -- reading --------------------------------------------------------------------------

    @classmethod
    def read(cls, overrides: Mapping[str, str] | None = None,
             environ: Mapping[str, str] | None = None) -> PackageSources:
        """The sources pip would use here, ``overrides`` (``PIP_*`` names) winning; every
        credential they hold is registered with the redactor before anything can print it."""
        options = read_pip_options(overrides, environ)
        values, origins = options.values, options.origins

        def flag(name: str) -> bool:
            text = values.get(name, "").lower()
            if text and text not in _TRUE + _FALSE:
                raise BuildError(f"{name} = {redact(text)!r} is not a boolean",
                                 where=origins.get(name), fix="write 1/true/yes or 0/false/no")
            return text in _TRUE

        sources = cls(index_url=values.get("index-url"),
                      extra_index_urls=tuple(values.get("extra-index-url", "").split()),
                      find_links=tuple(values.get("find-links", "").split()),
                      trusted_hosts=tuple(values.get("trusted-host", "").split()),
                      cert=values.get("cert"), client_cert=values.get("client-cert"),
                      no_index=flag("no-index"), timeout=values.get("timeout"),
                      retries=values.get("retries"), proxy=values.get("proxy"),
                      pre=flag("pre"), origins=origins, ignored_uv=options.ignored_uv)
        sources.register_secrets()
        return sources

    def register_secrets(self) -> None:
        for url in self.urls():
            register_url_credentials(url)

    def urls(self) -> tuple[str, ...]:
        return tuple(u for u in (self.index_url, *self.extra_index_urls, *self.find_links,
                                 self.proxy) if u)

    def with_find_links(self, *links: str) -> PackageSources:
        return dataclasses.replace(self, find_links=(*self.find_links, *links))

    # -- the cache key --------------------------------------------------------------------

    def identity(self) -> dict[str, str]:
        """Every setting, secret-free (a value with a credential becomes its hash), plus what
        local find-links folders hold: a changed setting or folder changes the key."""
        def safe(value: str) -> str:
            if redact(value) == value:
                return value
            return "sha256:" + hashlib.sha256(value.encode()).hexdigest()

        identity = {
            "index-url": safe(self.index_url or ""),
            "extra-index-url": " ".join(safe(u) for u in self.extra_index_urls),
            "find-links": " ".join(safe(u) for u in self.find_links),
            "trusted-host": " ".join(self.trusted_hosts), "cert": self.cert or "",
            "client-cert": self.client_cert or "", "no-index": str(self.no_index),
            "timeout": self.timeout or "", "retries": self.retries or "",
            "proxy": safe(self.proxy or ""), "pre": str(self.pre)}
        for link in self.find_links:
            folder = _local_path(link)
            if folder is not None and folder.is_dir():
                identity[f"find-links-listing:{folder}"] = _listing_digest(folder)
        return identity

    # -- what the installers are given ----------------------------------------------------

    def environment(self, installer: InstallerName) -> dict[str, str]:
        """The variables that give ``installer`` these sources (and only these)."""
        if installer == "pip":
            return self._pip_environment()
        return self._uv_environment()

    def flags(self, installer: InstallerName) -> list[str]:
        """Command-line flags that no variable can replace: ``uv pip`` ignores UV_NO_INDEX."""
        if installer == "uv":
            return ["--no-index"] if self.no_index else []
        return []

    def installer_environment(self, installer: InstallerName,
                              base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) without any ``PIP_*``/``UV_*`` of its
        own, plus these sources: a host install depends on nothing the cache key lacks."""
        base = os.environ if base is None else base
        env = {k: v for k, v in base.items()
               if not k.startswith(("PIP_", "UV_")) or k in _KEPT_INSTALLER_VARIABLES}
        env.update(self.environment(installer))
        return env

    def _pip_environment(self) -> dict[str, str]:
        # No configuration file: what pip reads is exactly what these variables say.
        env = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
               "PIP_NO_INPUT": "1"}
        values = {"PIP_INDEX_URL": self.index_url,
                  "PIP_EXTRA_INDEX_URL": " ".join(self.extra_index_urls),
                  "PIP_FIND_LINKS": " ".join(self.find_links),
                  "PIP_TRUSTED_HOST": " ".join(self.trusted_hosts), "PIP_CERT": self.cert,
                  "PIP_CLIENT_CERT": self.client_cert, "PIP_TIMEOUT": self.timeout,
                  "PIP_RETRIES": self.retries, "PIP_PROXY": self.proxy,
                  "PIP_NO_INDEX": "1" if self.no_index else None,
                  "PIP_PRE": "1" if self.pre else None}
        env.update({k: v for k, v in values.items() if v})
        if self.cert:
            # requests lets these override pip's --cert: the configured CA must win.
            env.update(dict.fromkeys(CA_VARIABLES, self.cert))
        return env

    def _uv_environment(self) -> dict[str, str]:
        # pip picks the best version across all indexes; uv by default stops at the first index
        # that has the package: matching pip keeps uv's result the same as pip's.
        env = {"UV_INDEX_STRATEGY": "unsafe-best-match", "UV_NO_PROGRESS": "1",
               "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}
        values = {"UV_INDEX_URL": self.index_url,
                  "UV_EXTRA_INDEX_URL": " ".join(self.extra_index_urls),
                  "UV_FIND_LINKS": ",".join(self.find_links),  # uv separates them by commas
                  "UV_INSECURE_HOST": " ".join(self.trusted_hosts),
                  "SSL_CERT_FILE": self.cert, "SSL_CLIENT_CERT": self.client_cert,
                  "UV_HTTP_TIMEOUT": self.timeout, "UV_HTTP_RETRIES": self.retries,
                  "HTTPS_PROXY": self.proxy, "HTTP_PROXY": self.proxy,
                  "UV_PRERELEASE": "allow" if self.pre else None}
        env.update({k: v for k, v in values.items() if v})
        return env

    # -- inside a container ---------------------------------------------------------------

    def in_container(self, host_root: PurePosixPath) -> tuple[PackageSources, dict[str, str]]:
        """These sources as a container sees them, and the host paths to mount read-only there
        (host path -> container path): local find-links, ``file:`` indexes and certificates
        are reached at ``host_root/<host path>``."""
        mounts: dict[str, str] = {}

        def inside(local: Path) -> str:
            return str(host_root / local.relative_to("/").as_posix())

        def moved(value: str) -> str:
            parts = urlsplit(value)
            if parts.scheme == "file":
                local = Path(unquote(parts.path)).resolve()
                if not local.exists():
                    return value
                # A file: index's pages link to files beside it (../../files/...): its parent.
                mount = local.parent if local.parent != local else local
                mounts[str(mount)] = inside(mount)
                return f"file://{inside(local)}"
            local_path = _local_path(value)
            if local_path is None or not local_path.exists():
                return value
            mounts[str(local_path)] = inside(local_path)
            return inside(local_path)

        def maybe(value: str | None) -> str | None:
            return moved(value) if value else None

        moved_sources = dataclasses.replace(
            self, index_url=maybe(self.index_url),
            extra_index_urls=tuple(moved(u) for u in self.extra_index_urls),
            find_links=tuple(moved(u) for u in self.find_links),
            cert=maybe(self.cert), client_cert=maybe(self.client_cert))
        return moved_sources, mounts


def _local_path(value: str) -> Path | None:
    """The host path a find-links or certificate value names, or None for a URL."""
    if "://" in value:
        parts = urlsplit(value)
        return Path(unquote(parts.path)).resolve() if parts.scheme == "file" else None
    return Path(value).resolve() if value.startswith("/") else None


def _listing_digest(folder: Path) -> str:
    """Names and sizes of a find-links folder's files: what the installers choose from."""
    digest = hashlib.sha256()
    try:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file():
                digest.update(f"{entry.name}\0{entry.stat().st_size}\n".encode())
    except OSError:
        return "unreadable"
    return digest.hexdigest()
