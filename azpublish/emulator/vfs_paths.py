"""Where a Kudu VFS path lives on disk: ``/api/vfs/{path}`` is rooted at the site's ``/home``.

The emulator keeps no whole ``/home``, only the parts deployment clients use: ``site/wwwroot``
(the deployed app) and ``LogFiles``; ``/home`` and ``/home/site`` are listed as folders holding
them. Anything else is refused, and so is every path that could leave those folders: ``.``
and ``..`` segments, backslashes, NUL, and symbolic links that resolve outside.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

HOME = PurePosixPath("/home")
WWWROOT = ("site", "wwwroot")
LOG_FILES = ("LogFiles",)


class VfsRefused(Exception):
    """A path the emulator will not serve: ``status`` (400, 403 or 404) and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class SiteRoots:
    """The real folders behind the mapped parts of one site's ``/home``."""

    wwwroot: Path
    log_files: Path

    def mapped(self) -> dict[tuple[str, ...], Path]:
        return {WWWROOT: self.wwwroot, LOG_FILES: self.log_files}


@dataclass(frozen=True)
class VfsTarget:
    virtual: PurePosixPath  # e.g. /home/site/wwwroot/host.json, as Kudu's "path" shows it
    relative: str  # the path after /api/vfs/, without a trailing slash
    slash: bool  # the request ended in "/": a directory is meant
    real: Path | None  # None for a folder the emulator only lists (/home, /home/site)
    root: Path | None  # the mapped folder ``real`` lies in
    children: tuple[str, ...] = ()  # what a listed-only folder holds

    @property
    def is_root(self) -> bool:
        """The mapped folder itself (or a listed-only one): never deleted or replaced."""
        return self.real is None or self.real == self.root

    @property
    def in_wwwroot(self) -> bool:
        return self.relative.split("/")[:2] == list(WWWROOT)


def path_segments(raw: str) -> list[str]:
    """The segments of a path under /home; VfsRefused (400) for any that could leave it."""
    if "\\" in raw or "\x00" in raw:
        raise VfsRefused(400, "VFS paths may not contain backslashes or NUL characters.")
    parts = [p for p in raw.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise VfsRefused(400, "VFS paths may not contain '.' or '..' segments; the path must "
                              "stay under /home.")
    return parts


def inside(path: Path, root: Path) -> bool:
    """Whether ``path``, symbolic links resolved, is ``root`` or lies in it."""
    real, top = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return real == top or real.is_relative_to(top)


def resolve(roots: SiteRoots, raw: str, *, writing: bool = False) -> VfsTarget:
    """The target of ``raw`` (the path after ``/api/vfs``); VfsRefused when it is not served
    (404 to read a folder the emulator does not keep, 403 to write there)."""
    parts = path_segments(raw)
    slash = raw.endswith("/") or not parts
    virtual = HOME.joinpath(*parts)
    relative = "/".join(parts)
    for prefix, root in roots.mapped().items():
        if tuple(parts[:len(prefix)]) != prefix:
            continue
        real = root.joinpath(*parts[len(prefix):])
        if not inside(real, root):
            raise VfsRefused(403, f"'{virtual}' resolves outside the site's files (a symbolic "
                                  "link); the emulator does not follow it.")
        return VfsTarget(virtual, relative, slash, real, root)
    below = {prefix[len(parts)] for prefix in roots.mapped()
             if len(prefix) > len(parts) and tuple(prefix[:len(parts)]) == tuple(parts)}
    if below:
        return VfsTarget(virtual, relative, slash, None, None, tuple(sorted(below)))
    served = ", ".join(str(HOME.joinpath(*p)) for p in roots.mapped())
    raise VfsRefused(403 if writing else 404, f"'{virtual}' is not kept by the emulator: its "
                                              f"VFS serves only {served}.")
