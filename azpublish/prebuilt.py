"""A package built elsewhere (``--package FILE``, ``azpublish deploy FILE``): checked as the
platform will read it, then deployed through the same plan as a package azpublish built.

Build once, promote the same bytes through stages: nothing in the zip is rebuilt or changed.
What it holds decides how it is deployed: with ``.python_packages/`` it is the app as it will
run (no server build); without, the server builds it from its ``requirements.txt``.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from azpublish.archive_paths import check_archive_path
from azpublish.errors import PackageError
from azpublish.package import PackageReport, largest_groups
from azpublish.requirements import is_requirement, logical_lines
from azpublish.settings import BuildMode

PACKAGES_PREFIX = ".python_packages/"
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Prebuilt:
    package: PackageReport
    mode: BuildMode  # "remote" (the server installs requirements.txt) or "custom" (as it is)
    has_requirements: bool  # its requirements.txt names something to install


def read_prebuilt(path: Path) -> Prebuilt:
    """The package at ``path``, refused (exit 2) unless the Functions host can run it."""
    where = str(path)
    if not path.is_file():
        raise PackageError("no such package file", where=where,
                           fix="give the path of a zip built by azpublish --output-zip or "
                               "another tool")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            requirements = (archive.read("requirements.txt").decode("utf-8", "replace")
                            if "requirements.txt" in archive.namelist() else "")
    except (zipfile.BadZipFile, OSError, RuntimeError) as error:  # RuntimeError: encrypted
        raise PackageError(f"not a readable zip: {error}", where=where,
                           fix="deploy the zip a build wrote (azpublish --output-zip)") from None
    names = [info.filename for info in infos]
    for name in names:
        check_archive_path(name)
    duplicate = next((name for name, count in Counter(names).items() if count > 1), None)
    if duplicate is not None:
        raise PackageError(f"the zip holds {duplicate!r} twice: which one the host would read is "
                           "not defined", where=where, fix="rebuild the package")
    if "host.json" not in names:
        nested = next((n for n in names if n.endswith("/host.json")), None)
        hint = (f"; it has {nested}: zip the app folder's contents, not the folder"
                if nested else "")
        raise PackageError(f"host.json is not at the root of the zip{hint}", where=where,
                           fix="the Functions host reads host.json from the package's root")
    built = any(name.startswith(PACKAGES_PREFIX) for name in names)
    wanted = any(is_requirement(line) for _, line in logical_lines(requirements))
    report = PackageReport(
        path=path, size=path.stat().st_size, sha256=file_sha256(path), file_count=len(infos),
        uncompressed_size=sum(i.file_size for i in infos),
        largest=largest_groups((i.filename, i.file_size, i.compress_size) for i in infos))
    return Prebuilt(report, "custom" if built or not wanted else "remote",
                    wanted and not built)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
