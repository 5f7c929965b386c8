"""Where ``--output-zip`` may write, checked before anything is built: the package replaces
the file at that path (a temporary file renamed over it), so what is there must be a file
azpublish may replace, and a package written inside the app must never be packaged again."""

from __future__ import annotations

import stat
from pathlib import Path

from azpublish.archive_paths import file_kind
from azpublish.errors import UsageError

__all__ = ["OUTPUT_LABEL", "check_output_zip", "output_excludes"]

OUTPUT_LABEL = "--output-zip"
_ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")  # a local header, or the end of an empty zip
_GLOB_SPECIAL = frozenset("*?[\\")


def check_output_zip(path: Path) -> None:
    """Refuse a path whose current occupant must not be replaced by a package."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"cannot look at the output path: {exc.strerror or exc}",
                         where=str(path), fix="give a writable path for the package") from exc
    if stat.S_ISDIR(info.st_mode):
        raise UsageError("the output path is a folder", where=str(path),
                         fix="give a file name, such as app.zip")
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(f"the output path is a symbolic link (to {path.readlink()}): writing "
                         "the package would replace the link", where=str(path),
                         fix="give the path it points to, or another path")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"the output path is a {file_kind(info.st_mode)}, not a file: writing "
                         "the package would replace it", where=str(path),
                         fix="give the path of a new or existing .zip file")
    if info.st_size and not _looks_like_zip(path):
        raise UsageError("the output path holds a file that is not a zip: writing the package "
                         "would replace it", where=str(path),
                         fix="give the path of a new or existing .zip file (or remove this one)")


def output_excludes(output: Path | None, root: Path) -> tuple[tuple[str, str], ...]:
    """A rule leaving the package (and its temporary siblings) out of the app's own package
    when it is written inside the app: the next run must not package the previous one."""
    if output is None:
        return ()
    try:
        relative = output.resolve().relative_to(root.resolve())
    except ValueError:
        return ()
    name = relative.as_posix()
    folder, _, base = name.rpartition("/")
    at = f"/{_literal(folder)}/" if folder else "/"
    # The zip itself, the packager's ".NAME.*.tmp" and the import check's ".NAME.*.pending".
    return ((f"{at}{_literal(base)}", OUTPUT_LABEL),
            (f"{at}.{_literal(base)}.*", OUTPUT_LABEL))


def _literal(text: str) -> str:
    """``text`` as a gitignore pattern matching just itself."""
    escaped = "".join(f"\\{char}" if char in _GLOB_SPECIAL else char for char in text)
    if escaped.startswith(("!", "#")):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def _looks_like_zip(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(4) in _ZIP_STARTS
    except OSError:
        return False
