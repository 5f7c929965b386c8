"""Why a package did not install, in words that say what to change.

pip's "from versions: none" is the same for a misspelt name, an old pin whose wheels stop at an
older Python and a Windows-only package. The installers' output names the package
(``find_missing``, ``find_build_failure``); the files the indexes hold for it (``Inventory``,
read from pip's verbose listing, so pip's own index settings, credentials and find-links apply)
tell those cases apart, and ``explain`` turns them into a ``BuildError`` that names the target
and the way out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from azpublish.builders import module_hints
from azpublish.errors import AzPublishError, BuildError
from azpublish.redact import redact
from azpublish.requirements import RequirementLine, read_requirements
from azpublish.runtime import Target

INDEX_SETTINGS = "PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS"
_SHOWN_VERSIONS = 8
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"

# uv names the version ("Because foo==1.0 has no usable wheels ..."), pip the requirement as it
# was asked for, and who asked for it ("... found for foo (from bar)").
_UV_NO_WHEEL = re.compile(
    rf"(?:Because|and|,)\s+(?:only\s+)?(?P<name>{_NAME})"
    r"(?:==(?P<version>[^\s,]+))?\s+(?:is available and \S+ )?has no (?:usable )?wheels")
_UV_NO_VERSIONS = re.compile(
    rf"no versions? of (?P<name>{_NAME}?)(?:==(?P<version>[^\s,]+))?[\s,]"
    rf"|(?P<unknown>{_NAME}) was not found in the (?:package registry|provided package locations)")
_UV_ONLY_OTHERS = re.compile(rf"only (?P<name>{_NAME}?)[<>=!~][^\s,]* is available and "
                             r"(?:you require|\S+ depends on) (?P=name)(?P<spec>[<>=!~][^\s,]*)")
# uv could not read an index page: the package's listing says why (pip reads it again).
_UV_FETCH_FAILED = re.compile(rf"Failed to fetch: `?[^`\s]*/(?P<name>{_NAME}?)/?(?:`|$)",
                              re.MULTILINE)
_UV_DEPENDS = re.compile(rf"(?<![\w.-])(?P<parent>{_NAME}?)(?:==\S+)? depends? on "
                         rf"(?P<child>{_NAME}?)(?=[\s,<>=!~;]|$)")
_PIP_NO_MATCH = re.compile(
    rf"No matching distribution found for (?P<spec>{_NAME}[^\s;]*)(?: \(from (?P<parent>{_NAME}?)"
    r"(?=[\s)=<>!~\[;]))?")
_PIP_BUILD_FAILED = re.compile(
    rf"Failed building wheel for (?P<a>{_NAME})"
    rf"|Failed to build (?:installable wheels for some pyproject\.toml based projects \()?"
    rf"'?(?P<b>{_NAME}?)(?=['\s),]|$)"
    rf"|Encountered error while generating package metadata\.\s*\n\s*╰─>\s*(?P<c>{_NAME})",
    re.MULTILINE)
_UV_BUILD_FAILED = re.compile(rf"Failed to build `(?P<name>{_NAME}?)(?:==|\s@|`)")
# A distribution file's name at the end of a URL or path in pip's verbose output.
_FILE = re.compile(r"[^\s/'\"<>()]+?\.(?:whl|tar\.gz|zip)(?=[\s#?'\",)]|$)")
# pip could not read an index (a 404 only means the index has no such project).
_READ_ERROR = re.compile(r"Could not fetch URL \S+: (?!404).*|.*Retrying \(Retry\(.*"
                         r"|.*(?:Max retries exceeded|CERTIFICATE_VERIFY_FAILED|401 Client Error"
                         r"|403 Client Error).*")


@dataclass(frozen=True)
class Missing:
    """A package the install found no usable distribution for."""

    name: str  # canonical
    spec: str  # what to build: "foo==1.0", or "foo>=2" as pip quoted it
    exists: bool  # what the installer said: False when the index has no version of it at all
    required_by: str | None = None  # the package that depends on it, when the output says


@dataclass(frozen=True)
class IndexFile:
    version: Version
    tags: frozenset[Tag]  # empty for a source distribution

    @property
    def is_sdist(self) -> bool:
        return not self.tags


@dataclass(frozen=True)
class Inventory:
    """The files the package indexes hold for one project, every version."""

    files: tuple[IndexFile, ...]
    read_errors: tuple[str, ...] = ()  # redacted lines saying an index could not be read


# -- reading the installers' output ------------------------------------------------------------


def find_missing(lines: Sequence[str], installer: str) -> Missing | None:
    text = "\n".join(lines)
    if installer == "uv":
        return _uv_missing(text)
    match = _PIP_NO_MATCH.search(text)
    if not match:
        return None
    spec = match.group("spec")
    name = re.split(r"[<>=!~\[(]", spec, maxsplit=1)[0]
    parent = match.group("parent")
    return Missing(canonicalize_name(name), spec, exists=True,
                   required_by=canonicalize_name(parent) if parent else None)


def _uv_missing(text: str) -> Missing | None:
    match = _UV_NO_WHEEL.search(text)
    if match:
        name, version = match.group("name"), match.group("version")
        return Missing(canonicalize_name(name), f"{name}=={version}" if version else name,
                       exists=True, required_by=_uv_parent(text, name))
    match = _UV_ONLY_OTHERS.search(text)
    if match:
        name = match.group("name")
        return Missing(canonicalize_name(name), name + match.group("spec"), exists=False,
                       required_by=_uv_parent(text, name))
    match = _UV_NO_VERSIONS.search(text)
    if match:
        name = match.group("name") or match.group("unknown")
        version = match.group("version")
        return Missing(canonicalize_name(name), f"{name}=={version}" if version else name,
                       exists=False, required_by=_uv_parent(text, name))
    match = _UV_FETCH_FAILED.search(text)
    if match:
        name = match.group("name")
        return Missing(canonicalize_name(name), name, exists=False,
                       required_by=_uv_parent(text, name))
    return None


def _uv_parent(text: str, name: str) -> str | None:
    for match in _UV_DEPENDS.finditer(text):
        if canonicalize_name(match.group("child")) == canonicalize_name(name):
            return canonicalize_name(match.group("parent"))
    return None


def find_build_failure(lines: Sequence[str], installer: str) -> str | None:
    """The package whose build from source failed, canonical, when the output names one."""
    text = "\n".join(lines)
    match = (_UV_BUILD_FAILED if installer == "uv" else _PIP_BUILD_FAILED).search(text)
    if not match:
        return None
    return canonicalize_name(next(group for group in match.groups() if group))


def parse_inventory(name: str, lines: Iterable[str]) -> Inventory:
    """The files of project ``name`` that pip's ``-vv`` output mentions (links it found or
    skipped), and the lines saying an index could not be read."""
    wanted = canonicalize_name(name)
    files: dict[tuple[Version, frozenset[Tag]], IndexFile] = {}
    errors: list[str] = []
    for line in lines:
        if _READ_ERROR.fullmatch(line.strip()):
            errors.append(redact(line.strip()))
        for match in _FILE.finditer(line):
            found = _index_file(unquote(match.group()), wanted)
            if found is not None:
                files[(found.version, found.tags)] = found
    return Inventory(tuple(files.values()), tuple(errors))


def _index_file(filename: str, wanted: str) -> IndexFile | None:
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        try:
            name, version = parse_sdist_filename(filename)
        except InvalidSdistFilename:
            return None
        tags = frozenset()
    return IndexFile(version, frozenset(tags)) if name == wanted else None


# -- explaining ----------------------------------------------------------------------------------


def explain(missing: Missing, inventory: Inventory | None, target: Target,
            supported: frozenset[Tag], requirements: Path | None,
            source_fix: str | None) -> BuildError:
    """What the install could not find, for ``target`` whose wheel tags are ``supported``.

    ``source_fix`` is the advice for a package that has a source distribution needing a
    compiler (None when this build already tried that).
    """
    lines = requirement_lines(requirements)
    where = _where(missing, lines, requirements)
    files = inventory.files if inventory else ()
    chosen = _chosen_files(missing, files)
    if _is_windows_only(missing, chosen):
        return _windows_only(missing, chosen, target, lines, where)
    if inventory is None or (not files and inventory.read_errors):
        return _unknown(missing, inventory, target, where, source_fix)
    if not files:
        return BuildError(f"{_label(missing)} is not on the package indexes: they have no "
                          "distribution of that name", where=where,
                          fix=f"check the name (as the index spells it) and the index settings "
                          f"({INDEX_SETTINGS})")
    if not chosen:
        return _no_such_version(missing, files, target, supported, where)
    return _no_fitting_wheel(missing, files, chosen, target, supported, where, source_fix)


def build_failed(name: str, target: Target, requirements: Path | None) -> BuildError | None:
    """For a source build that failed: the marker advice when the package is Windows-only."""
    if not module_hints.is_windows_only(name):
        return None
    missing = Missing(name, name, exists=True)
    lines = requirement_lines(requirements)
    return _windows_only(missing, (), target, lines, _where(missing, lines, requirements))


def requirement_lines(requirements: Path | None) -> tuple[RequirementLine, ...]:
    if requirements is None:
        return ()
    try:
        return read_requirements(requirements).lines
    except (AzPublishError, OSError):
        return ()  # the build reports what is wrong with the file itself


def where_listed(name: str, requirements: Path | None) -> str:
    """The requirement file (an include, maybe) that names ``name``, else the main one."""
    return _where(Missing(name, name, exists=True), requirement_lines(requirements),
                  requirements)


def _where(missing: Missing, lines: Sequence[RequirementLine], requirements: Path | None) -> str:
    # The file alone, as the engines' other install errors give it.
    for name in (missing.name, missing.required_by):
        line = _line_of(name, lines)
        if line is not None:
            return str(line.file)
    return str(requirements) if requirements else "requirements"


def _line_of(name: str | None, lines: Sequence[RequirementLine]) -> RequirementLine | None:
    return next((line for line in lines if name and line.name == name), None)


def _label(missing: Missing, version: Version | None = None) -> str:
    release = f" {version}" if version else ""
    parent = f" (required by {missing.required_by})" if missing.required_by else ""
    return f"package {missing.name!r}{release}{parent}"


def _chosen_files(missing: Missing, files: Sequence[IndexFile]) -> tuple[IndexFile, ...]:
    """The files of the newest version the requirement allows: the one the installer tried."""
    specifier = _specifier(missing)
    allowed = [f for f in files if specifier.contains(f.version, prereleases=True)]
    if not allowed:
        return ()
    newest = max(f.version for f in allowed)
    return tuple(f for f in allowed if f.version == newest)


def _specifier(missing: Missing) -> SpecifierSet:
    text = re.sub(rf"^{_NAME}(?:\[[^\]]*\])?", "", missing.spec).strip()
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return SpecifierSet()


def _is_windows_only(missing: Missing, chosen: Sequence[IndexFile]) -> bool:
    if module_hints.is_windows_only(missing.name):
        return True
    wheels = [f for f in chosen if not f.is_sdist]
    return bool(wheels) and len(wheels) == len(chosen) and all(
        _family(tag.platform) == "Windows" for f in wheels for tag in f.tags)


def _windows_only(missing: Missing, chosen: Sequence[IndexFile], target: Target,
                  lines: Sequence[RequirementLine], where: str) -> BuildError:
    platforms = sorted({tag.platform for f in chosen for tag in f.tags})
    wheels = f" (its wheels are for {', '.join(platforms)})" if platforms else ""
    version = chosen[0].version if chosen else None
    what = (f"{_label(missing, version)} exists only for Windows{wheels}, and the app runs on "
            f"Linux ({target.describe()})")
    parent = missing.required_by
    marked = module_hints.with_windows_marker(_requirement_text(parent or missing.name, lines))
    skip = (f"list it as '{marked}' in requirements.txt, so that Linux builds leave it out, and "
            'import it only on Windows (if sys.platform == "win32")')
    if parent and not module_hints.is_windows_only(parent):
        skip = f"if the app needs {parent} only on Windows, {skip}"
    return BuildError(what, where=where, fix=f"{skip}; a container or remote build cannot help: "
                      "it does not exist for Linux")


def _requirement_text(name: str, lines: Sequence[RequirementLine]) -> str:
    line = _line_of(name, lines)
    return line.text.split(" --", 1)[0].strip() if line else name


def _unknown(missing: Missing, inventory: Inventory | None, target: Target, where: str,
             source_fix: str | None) -> BuildError:
    """The indexes could not be listed: say why, or what the installer said."""
    settings = f"check the index settings ({INDEX_SETTINGS}), their credentials"
    if inventory is not None and inventory.read_errors:
        return BuildError(f"{_label(missing)} could not be looked up: reading the package "
                          f"indexes failed ({inventory.read_errors[0]})", where=where,
                          fix=f"{settings} and that this machine can reach them")
    if not missing.exists:
        return BuildError(f"{_label(missing)} was not found on the package indexes",
                          where=where, fix=f"check its name; {settings}")
    fix = f"{settings}; {source_fix}" if source_fix else settings
    return BuildError(f"{_label(missing)} has no wheel for {target.describe()}", where=where,
                      fix=fix)


def _no_such_version(missing: Missing, files: Sequence[IndexFile], target: Target,
                     supported: frozenset[Tag], where: str) -> BuildError:
    versions = sorted({f.version for f in files})
    shown = ", ".join(str(v) for v in versions[-_SHOWN_VERSIONS:])
    more = "…, " if len(versions) > _SHOWN_VERSIONS else ""
    spec = str(_specifier(missing)) or "at all"
    fitting = _newest_fitting(files, supported)
    fix = "pin a version the indexes have"
    if fitting is not None:
        fix += (f"; the newest with wheels for CPython {target.python_version} on Linux is "
                f"{fitting} ({missing.name}=={fitting})")
    return BuildError(f"{_label(missing)} has no version {spec} on the package indexes "
                      f"(they have {more}{shown})", where=where, fix=fix)


def _no_fitting_wheel(missing: Missing, files: Sequence[IndexFile],
                      chosen: Sequence[IndexFile], target: Target, supported: frozenset[Tag],
                      where: str, source_fix: str | None) -> BuildError:
    has_sdist = any(f.is_sdist for f in chosen)
    wheels = [f for f in chosen if not f.is_sdist]
    summary = _describe_wheels(wheels, target, supported) if wheels else "it has no wheels"
    tail = "" if has_sdist else ", and no source distribution"
    what = (f"{_label(missing, chosen[0].version)} has no wheel for {target.describe()}: "
            f"{summary}{tail}")
    python = f"CPython {target.python_version}"
    fitting = _newest_fitting(files, supported)
    elsewhere = _other_systems_only(files)
    if fitting is not None:
        fix = f"pin a version with wheels for {python} ({missing.name}=={fitting} is the newest)"
    elif elsewhere:
        marked = f"{missing.name}; {elsewhere}"
        fix = (f"no version of it has Linux wheels: if the app needs it only elsewhere, list it "
               f"as '{marked}' in requirements.txt and import it only there; else replace it")
    else:
        fix = (f"no version on the indexes has wheels for {python} on Linux: replace it, or "
               "run the app on a Python it has wheels for")
    if not has_sdist:
        fix += "; a container or remote build cannot compile it: there is no source to build"
    elif source_fix:
        fix += f"; or {source_fix}"
    return BuildError(what, where=where, fix=fix)


def _other_systems_only(files: Sequence[IndexFile]) -> str | None:
    """The marker that leaves out Linux, when no file of any version can serve Linux."""
    families = {_family(tag.platform) for f in files for tag in f.tags}
    if any(f.is_sdist for f in files) or not families or families & {"Linux", "any"}:
        return None
    return 'sys_platform == "darwin"' if families == {"macOS"} else 'sys_platform != "linux"'


def _newest_fitting(files: Sequence[IndexFile], supported: frozenset[Tag]) -> Version | None:
    fitting = [f.version for f in files if f.tags & supported]
    return max(fitting) if fitting else None


def _describe_wheels(wheels: Sequence[IndexFile], target: Target,
                     supported: frozenset[Tag]) -> str:
    """What the wheels of one version are for, in the terms that differ from the target."""
    tags = {tag for f in wheels for tag in f.tags}
    platforms = {t.platform for t in supported}
    on_platform = {t for t in tags if t.platform in platforms}
    if on_platform and not on_platform & supported:
        interpreters = {t.interpreter for t in on_platform}
        return f"its wheels are only for {_interpreter_range(interpreters)}"
    if on_platform:
        return ("it has wheels whose tags fit, but the installer did not take them (their "
                "Requires-Python may exclude this Python: see the installer's output)")
    families = sorted({_family(t.platform) for t in tags})
    if "Linux" not in families:
        shown = ", ".join(sorted({t.platform for t in tags})[:6])
        return f"its wheels are only for {' and '.join(families)} ({shown})"
    linux = sorted({t.platform for t in tags if _family(t.platform) == "Linux"})
    if not any(p.endswith(target.machine) for p in linux):
        return f"its Linux wheels are for other machines ({', '.join(linux[:6])})"
    glibc = ".".join(str(part) for part in target.glibc)
    return (f"its Linux wheels ({', '.join(linux[:6])}) are not manylinux wheels for glibc "
            f"{glibc} or older")


def _family(platform: str) -> str:
    if platform.startswith("win"):
        return "Windows"
    if platform.startswith("macosx"):
        return "macOS"
    if platform.startswith(("manylinux", "musllinux", "linux")):
        return "Linux"
    return "any" if platform == "any" else platform.split("_", 1)[0]


def _interpreter_range(interpreters: set[str]) -> str:
    """"cp38 to cp310" for a run of CPython versions, else the tags themselves."""
    cpython = sorted((int(i[3:]), i) for i in interpreters
                     if re.fullmatch(r"cp3\d+", i))
    others = sorted(i for i in interpreters if not re.fullmatch(r"cp3\d+", i))
    minors = [minor for minor, _ in cpython]
    if len(cpython) >= 3 and minors == list(range(minors[0], minors[-1] + 1)) and not others:
        return f"{cpython[0][1]} to {cpython[-1][1]}"
    return ", ".join([i for _, i in cpython] + others)
