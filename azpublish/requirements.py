"""Read requirements.txt the way pip does: includes, continuations, comments and options.

Only what azpublish needs is interpreted: which files make up the requirement set (every one of
them matters to a build and its cache key), which projects are named, and the lines that must not
be there.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from azpublish.errors import ProjectError
from azpublish.redact import register_url_credentials

_INCLUDE = re.compile(r"^(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(?P<path>\S+)")
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")

FORBIDDEN = {
    "azure-functions-worker": "the platform owns the worker; remove this line (azure-functions "
    "is the package to list for the programming model)",
}


@dataclass(frozen=True)
class RequirementLine:
    file: Path
    lineno: int
    text: str
    name: str | None  # canonical project name, None for options, paths and URLs


@dataclass(frozen=True)
class Requirements:
    files: tuple[Path, ...]  # requirements.txt first, then every include in reading order
    lines: tuple[RequirementLine, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(line.name for line in self.lines if line.name)

    @property
    def empty(self) -> bool:
        return not any(is_requirement(line.text) for line in self.lines)


def read_requirements(path: Path) -> Requirements:
    if not path.is_file():
        return Requirements((), ())
    files: list[Path] = []
    lines: list[RequirementLine] = []
    _read(path.resolve(), files, lines, chain=())
    return Requirements(tuple(files), tuple(lines))


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations and drop comments, keeping the first line's number."""
    result: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        joined = _COMMENT.sub("", pending + raw).strip()
        pending = ""
        if joined:
            result.append((start, joined))
    if pending.strip():
        result.append((start, _COMMENT.sub("", pending).strip()))
    return result


def _read(path: Path, files: list[Path], lines: list[RequirementLine],
          chain: tuple[Path, ...]) -> None:
    if path in chain:
        loop = " -> ".join(p.name for p in (*chain, path))
        raise ProjectError(f"requirement files include each other in a loop: {loop}",
                           where=str(chain[-1]), fix="remove one of the -r/-c lines")
    if path not in files:
        files.append(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ProjectError("not UTF-8 text", where=str(path)) from None
    for lineno, line in logical_lines(text):
        for url in _URL.findall(line):
            register_url_credentials(url)
        include = _INCLUDE.match(line)
        if include:
            target = (path.parent / include.group("path")).resolve()
            if not target.is_file():
                raise ProjectError(f"included file {include.group('path')!r} does not exist",
                                   where=f"{path}:{lineno}",
                                   fix="includes are relative to the file that names them")
            _read(target, files, lines, (*chain, path))
            continue
        name = project_name(line)
        if name in FORBIDDEN:
            raise ProjectError(f"{name} must not be listed", where=f"{path}:{lineno}",
                               fix=FORBIDDEN[name])
        lines.append(RequirementLine(path, lineno, line, name))


def is_requirement(line: str) -> bool:
    """A line that installs something, as opposed to an option such as --index-url."""
    return not line.startswith("-") or line.startswith(("-e", "--editable"))


def project_name(line: str) -> str | None:
    if line.startswith("-"):  # options and editables name no index project
        return None
    # Per-requirement options (--hash=..., --config-settings) follow the requirement itself.
    spec = line.split(" --", 1)[0].strip()
    try:
        return canonicalize_name(Requirement(spec).name)
    except InvalidRequirement:
        try:
            first = shlex.split(spec)[0]
        except (ValueError, IndexError):
            return None
        try:
            return canonicalize_name(Requirement(first).name)
        except InvalidRequirement:
            return None
