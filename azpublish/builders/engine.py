"""The interface between the local builder and the engines that install dependencies.

An engine fills a folder with the target's site-packages: ``container`` runs the installer in a
Debian container of the target Python; ``wheels`` installs pre-built wheels for the target
platform on the host. Package sources (``toolchain.sources``) are read once per request and
travel only as environment variables of the installer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from azpublish.runtime import Target
from azpublish.toolchain.sources import PackageSources

Installer = Literal["pip", "uv"]


@dataclass(frozen=True)
class InstallRequest:
    project_root: Path
    requirement_files: tuple[Path, ...]  # absolute; requirements.txt first, then its includes
    target: Target
    installer: Installer
    # PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_CERT...: azpublish's own settings, over the
    # machine's pip configuration. They may hold credentials, so they reach the installer only
    # as its environment, never as argv, build args, layers, files or logs.
    index_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    output: Path = Path()  # an empty folder to fill; becomes .python_packages/lib/site-packages
    # Copies of the requirement files (same layout) to install from instead, when lines had to
    # be left out: original -> copy. The originals still decide the cache key and what the
    # installer's working folder is.
    copies: Mapping[Path, Path] = field(default_factory=dict)
    # Read from pip's configuration and ``index_env`` when the request is made (None), so the
    # cache key and the install see the same sources; ``replace`` keeps them.
    package_sources: PackageSources | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.package_sources is None:
            object.__setattr__(self, "package_sources", PackageSources.read(self.index_env))

    @property
    def sources(self) -> PackageSources:
        assert self.package_sources is not None  # set by __post_init__
        return self.package_sources

    @property
    def main_file(self) -> Path:
        """The requirement file the installer reads (its -r)."""
        main = self.requirement_files[0]
        return self.copies.get(main, main)


class Engine(Protocol):
    name: str

    def identity(self, request: InstallRequest) -> Mapping[str, str]:
        """Everything about the engine that decides its output (image id, installer version,
        platform tag), for the cache key. Holds no secrets."""
        ...

    def install(self, request: InstallRequest, log: Callable[[str], None]) -> None:
        """Fill ``request.output`` or raise ``BuildError``; lines given to ``log`` are redacted."""
        ...
