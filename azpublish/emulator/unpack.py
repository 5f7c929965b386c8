"""Unpacking an uploaded zip into a fresh folder, safely.

Entries that would land outside the folder (absolute paths, drive letters, ``..``: "zip slip")
refuse the whole package, as do archives that expand beyond a bound (zip bombs). Unix modes are
kept so scripts stay executable; symlink entries become plain files, as ``zipfile`` makes them.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from azpublish.errors import PackageError, UnsafePathError

MAX_EXPANDED = 16 * 1024**3
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Unpacked:
    files: int
    bytes: int


def is_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return True


def _safe_parts(name: str) -> tuple[str, ...]:
    clean = name.replace("\\", "/")
    path = PurePosixPath(clean)
    parts = tuple(p for p in path.parts if p not in ("", "."))
    if clean.startswith("/") or (parts and parts[0].endswith(":")) or ".." in parts:
        raise UnsafePathError(f"the package entry {name!r} would be written outside wwwroot",
                              where="zip package", fix="build the zip with relative paths")
    return parts


def extract(archive_path: Path, target: Path, *, max_expanded: int = MAX_EXPANDED) -> Unpacked:
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    files = total = 0
    with zipfile.ZipFile(archive_path) as archive:
        infos = archive.infolist()
        if sum(i.file_size for i in infos) > max_expanded:
            raise PackageError(f"the package expands to more than {max_expanded} bytes",
                               where="zip package")
        for info in infos:
            parts = _safe_parts(info.filename)
            if not parts:
                continue
            destination = root.joinpath(*parts)
            if not destination.resolve().is_relative_to(root):
                raise UnsafePathError(f"the package entry {info.filename!r} escapes wwwroot",
                                      where="zip package")
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink, _CHUNK)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not stat.S_ISLNK(info.external_attr >> 16):
                destination.chmod(mode | stat.S_IRUSR | stat.S_IWUSR)
            files += 1
            total += info.file_size
    return Unpacked(files, total)
