"""Read requirements.txt the way pip does: includes, continuations, comments and options.

Only what azpublish needs is interpreted: which files make up the requirement set (every one of
them matters to a build and its cache key), which projects are named, and the lines that name
what the platform provides itself, which the build leaves out.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from azpublish.errors import ProjectError
from azpublish.redact import register_url_credentials

_INCLUDE = re.compile(r"^(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(?P<path>\S+)")
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")

# Installed by the platform itself: a copy in the app's packages would shadow it.
PLATFORM_OWNED = {
    "azure-functions-worker": "the platform provides the Python worker (azure-functions is the "
    "package to list for the programming model)",
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
    left_out: tuple[RequirementLine, ...] = ()  # PLATFORM_OWNED lines: never installed

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(line.name for line in self.lines if line.name)

    @property
    def empty(self) -> bool:
        return not any(is_requirement(line.text) for line in self.lines)

    def installs_on(self, python_version: str) -> bool:
        """Whether pip would install anything on the platform's Linux with that Python: false
        when every requirement's marker rules it out there (``pywin32; sys_platform ==
        "win32"``), so an empty ``.python_packages`` after the server's build is no fault."""
        return any(is_requirement(line.text) and applies_on(line.text, python_version)
                   for line in self.lines)


def read_requirements(path: Path) -> Requirements:
    if not path.is_file():
        return Requirements((), ())
    files: list[Path] = []
    lines: list[RequirementLine] = []
    _read(path.resolve(), files, lines, chain=())
    return Requirements(tuple(files), tuple(line for line in lines if line.name
                                            not in PLATFORM_OWNED),
                        tuple(line for line in lines if line.name in PLATFORM_OWNED))


def mirror_without_left_out(requirements: Requirements, folder: Path) -> dict[Path, Path]:
    """Copies of every requirement file under ``folder``, laid out as the originals are (so
    ``-r``/``-c`` includes still resolve), with the platform-owned lines commented out; each
    original -> its copy. Empty when nothing is left out: the originals serve as they are."""
    if not requirements.left_out:
        return {}
    base = Path(os.path.commonpath([str(f.parent) for f in requirements.files]))
    copies = {}
    for original in requirements.files:
        copy = folder / original.relative_to(base)
        copy.parent.mkdir(parents=True, exist_ok=True)
        text = without_left_out(original, requirements.left_out)
        copy.write_text(original.read_text(encoding="utf-8-sig") if text is None else text,
                        encoding="utf-8")
        copies[original] = copy
    return copies


def packaged_copies(requirements: Requirements, root: Path, folder: Path) -> dict[Path, Path]:
    """Copies, for the package, of the requirement files inside ``root`` that the server's
    build could not use as they are: platform-owned lines commented out, and ``-r`` includes
    of files outside the app (a monorepo's shared pins) inlined, since the server reads only
    the package. Each original -> its copy under ``folder``."""
    root = root.resolve()
    copies = {}
    for index, original in enumerate(requirements.files):
        if not original.is_relative_to(root):
            continue
        text = _packaged_text(original, original.parent, root, requirements)
        if text != original.read_text(encoding="utf-8-sig"):
            copy = folder / f"{index}-{original.name}"
            folder.mkdir(parents=True, exist_ok=True)
            copy.write_text(text, encoding="utf-8")
            copies[original] = copy
    return copies


def _packaged_text(path: Path, base: Path, root: Path, requirements: Requirements) -> str:
    """``path``'s text as it must read from ``base`` (the folder of the packaged file it ends
    up in), outside includes inlined."""
    text = without_left_out(path, requirements.left_out)
    lines = (path.read_text(encoding="utf-8-sig") if text is None else text).splitlines(
        keepends=True)
    result = []
    for number, raw in enumerate(lines, start=1):
        include = _INCLUDE.match(raw.strip())
        if include is None:
            result.append(raw)
            continue
        target = (path.parent / include.group("path")).resolve()
        if target.is_relative_to(root):
            relative = os.path.relpath(target, base)
            result.append(raw.replace(include.group("path"), Path(relative).as_posix(), 1)
                          if path.parent != base else raw)
        elif raw.strip().startswith(("-c", "--constraint")):
            raise ProjectError(
                f"a constraints file outside the app ({include.group('path')}): the server's "
                "build reads only the package, so it cannot apply it", where=f"{path}:{number}",
                fix="copy the constraints file into the app and point -c at the copy, or build "
                "with --build local")
        else:
            # No loop guard: read_requirements has already refused include loops.
            body = _packaged_text(target, base, root, requirements)
            result.append(f"# {raw.strip()}: inlined by azpublish (the server reads only the "
                          "package)\n")
            result.append(body if body.endswith("\n") else body + "\n")
    return "".join(result)


def without_left_out(path: Path, left_out: Sequence[RequirementLine]) -> str | None:
    """The text of requirement file ``path`` with its platform-owned lines commented out, or
    None when it has none. Line numbers (and so pip's messages) stay the same."""
    numbers = {line.lineno for line in left_out if line.file == path}
    if not numbers:
        return None
    raw = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    for number in sorted(numbers):
        index = number - 1
        # A continued requirement spans several physical lines: comment out each of them.
        while index < len(raw):
            text = raw[index]
            raw[index] = "# left out by azpublish (the platform provides it): " + text
            if not text.rstrip("\r\n").endswith("\\"):
                break
            index += 1
    return "".join(raw)


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
        lines.append(RequirementLine(path, lineno, line, project_name(line)))


_EDITABLE = re.compile(r"^(?:-e|--editable)(?:\s*=\s*|\s+)(?P<target>\S+)")
_ARCHIVE = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2")


def check_buildable(requirements: Requirements, root: Path) -> None:
    """Refuse, before anything is built or uploaded, a requirement line no build can install:
    one pip cannot parse, or a local path outside the app (the server, and a build here, see
    only what the package holds). Paths are relative to the app folder, where pip runs."""
    problems = [f"{line.file.name}:{line.lineno}: {line.text!r}: {problem}"
                for line in requirements.lines if (problem := _unbuildable(line, root))]
    if problems:
        raise ProjectError(
            "requirements that no build can install:\n  " + "\n  ".join(problems),
            where=str(requirements.files[0]),
            fix="give a project name with a version specifier (name==1.2), a URL, or a path "
                "inside the app folder; a private package belongs on an index "
                "(--pip-extra-index-url)")


def _unbuildable(line: RequirementLine, root: Path) -> str | None:
    text = line.text.split(" --", 1)[0].strip()  # per-requirement options (--hash=...) aside
    editable = _EDITABLE.match(text)
    if editable:
        text = editable.group("target")
    elif text.startswith("-"):
        return None  # an option (--index-url, --find-links, ...): pip's to judge
    if _URL.match(text):
        return None  # a URL or VCS reference: fetched by the build
    unreadable = None
    if not editable:
        try:
            Requirement(text)  # a name, with a version, extras, markers or "name @ URL"
            return None
        except InvalidRequirement as exc:
            unreadable = f"not a requirement pip can read ({exc})"
    if editable or _looks_like_path(text):
        path = Path(text.split("#", 1)[0].split(";", 1)[0].strip()).expanduser()
        where = (root / path).resolve() if not path.is_absolute() else path.resolve()
        if where != root.resolve() and root.resolve() not in where.parents:
            return (f"{path} is outside the app folder, so the package does not hold it and "
                    "no build can read it")
        if not where.exists():
            return f"{path} does not exist in the app folder"
        return None
    return unreadable


def _looks_like_path(text: str) -> bool:
    head = text.split(";", 1)[0].strip()
    return (head.startswith((".", "/", "~")) or "/" in head or "\\" in head
            or head.lower().endswith(_ARCHIVE))


def credential_lines(requirements: Requirements) -> list[RequirementLine]:
    """Lines whose URL carries a credential (``https://user:token@host/...``): the file is
    packaged, so the credential would ship inside the app."""
    return [line for line in requirements.lines
            if any("@" in url.split("/", 3)[2] for url in _URL.findall(line.text)
                   if url.count("/") >= 2)]


def applies_on(line: str, python_version: str) -> bool:
    """A requirement line's marker, evaluated for the Functions host (CPython on x86-64 Linux);
    true when there is none or it cannot be read (pip is the judge of those)."""
    spec = line.split(" --", 1)[0].strip()
    try:
        marker = Requirement(spec).marker
    except InvalidRequirement:
        return True
    if marker is None:
        return True
    environment = {"python_version": python_version, "python_full_version": f"{python_version}.0",
                   "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                   "platform_machine": "x86_64", "implementation_name": "cpython",
                   "platform_python_implementation": "CPython"}
    try:
        return bool(marker.evaluate(environment))
    except (UndefinedComparison, UndefinedEnvironmentName):  # let pip decide
        return True


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
