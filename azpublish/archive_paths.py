"""What makes a name safe to carry in the package: one rule for the selection (and so for the
listings and the dry run) and for the package writer, so they never disagree."""

from __future__ import annotations

import re
import stat

from azpublish.errors import UnsafePathError

__all__ = ["MAX_NAME_BYTES", "archive_path_problem", "check_archive_path", "file_kind",
           "looks_safe"]

MAX_NAME_BYTES = 0xFFFF  # a zip entry name's length is a 16-bit field

# The common case, decided by one regex: ASCII components separated by single slashes, none
# "." or "..", no backslash, no NUL, no Windows drive ("c:...").
_NAME = r"[\x01-\x2e\x30-\x5b\x5d-\x7f]+"
_PLAIN = re.compile(rf"(?![A-Za-z]:)(?:(?!\.\.?/){_NAME}/)*(?!\.\.?\Z){_NAME}")


def file_kind(mode: int) -> str:
    """What a file that is not a regular file or a folder is, in words."""
    if stat.S_ISFIFO(mode):
        return "named pipe (fifo)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return "special file"


def looks_safe(path: str) -> bool:
    """True for most names, cheaply; False means ``archive_path_problem`` must decide."""
    return len(path) < 4096 and _PLAIN.fullmatch(path) is not None


def check_archive_path(path: str) -> None:
    """``UnsafePathError`` (exit 2) for a name ``archive_path_problem`` refuses."""
    problem = archive_path_problem(path)
    if problem:
        shown = path if len(path) <= 200 else f"{path[:200]}..."
        raise UnsafePathError(
            f"refusing to package it: {problem}", where=f"archive path {shown!r}",
            fix="archive paths are relative posix paths inside the app; rename or exclude the "
                "file (.funcignore)")


def archive_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be an entry of the package (it could land outside the folder it is
    extracted into, or be read differently by another unzip), or None when it can."""
    if "\0" in path:
        return "it contains a NUL byte"
    if "\\" in path:
        return "it contains a backslash, which unzips as a folder separator on Windows"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":" and path[0].isalpha()):
        return "it is absolute (a Windows unzip reads 'x:' as a drive)"
    parts = path.split("/")
    if "" in parts:
        return "it has an empty component"
    if ".." in parts or "." in parts:
        return "it has a '..' or '.' component"
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in a name arrive as lone surrogates
        return "it is not valid UTF-8"
    if len(encoded) > MAX_NAME_BYTES:
        return "it is longer than a zip entry name can be"
    return None
