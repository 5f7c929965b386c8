"""The filter stage: which files of a function app go into the package, and which rule decided.

This module is the single source of truth for packaging, ``--list-included-files`` and
``--list-ignored-files``.

Rules, in the order git would see them (the last matching one wins):

1. defaults (``__pycache__/``, ``*.pyc``, ``.venv/``, ...), as if they were the first lines of
   ``.funcignore``, so a ``!`` line can re-include them;
2. the lines of the root's ``.funcignore``, with git's ``.gitignore`` semantics exactly (what
   ``git check-ignore`` decides). Only the root's file is read: like ``func``, nested
   ``.funcignore`` files are not;
3. forced rules, which nothing can re-include: the caller's ``extra_excludes``, then the
   "always" rules (``.git/``, ``.vscode/`` and ``local.settings.json`` at any depth and in any
   letter case, as func leaves them out, and the root's ``.funcignore``). Any folder holding
   ``pyvenv.cfg`` (a virtual environment, whatever its name) is forced out too.

As in git, an excluded folder is not entered, so nothing below it can be re-included.

Symbolic links are followed when they resolve inside the root (a link to a folder is walked as
that folder's contents; it is excluded when a rule excludes it read as git reads it, a link,
or as the folder azpublish packages in its place: ``dir/`` excludes a link to a folder).
Links pointing outside the root, broken links and loops are refused, unless a rule excludes
the link first: excluded paths are never examined. A link cannot smuggle in what any rule
excludes at its target (``.env``, ``local.settings.json``, ``.git/``, a virtual environment,
the user's own patterns).

Patterns mean what they mean to git 2.52 and later, read from the file's bytes as git reads
them: ``azpublish.wildmatch`` matches them (POSIX classes and escapes in brackets included), in
time linear in the name for every pattern.
"""

from __future__ import annotations

import errno
import functools
import gc
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from azpublish.archive_paths import MAX_NAME_BYTES, check_archive_path, file_kind, looks_safe
from azpublish.errors import PackageError, ProjectError, UnsafePathError
from azpublish.wildmatch import Literal, bytes_view, translate

__all__ = [
    "ALWAYS_RULES",
    "DEFAULT_RULES",
    "FUNCIGNORE",
    "VENV_RULE",
    "FileEntry",
    "Ignored",
    "Overlay",
    "Rule",
    "Selection",
    "parse_funcignore",
    "read_funcignore",
    "select_files",
]

FUNCIGNORE = ".funcignore"


@dataclass(frozen=True)
class Rule:
    source: str  # ".funcignore", "default", "always", or a label like "--build remote"
    line: int | None  # line number in .funcignore, else None
    pattern: str  # as written, after git's trailing-space trimming (undecodable bytes as
    # surrogateescape)
    casefold: bool = False  # letters match in any case (the always-rules, as func's)

    @property
    def where(self) -> str:
        """Where the rule was written: ``.funcignore:3``, ``default``, ``--build remote``."""
        return self.source if self.line is None else f"{self.source}:{self.line}"

    def describe(self) -> str:
        shown = self.pattern.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return f"{self.where}: {shown}"


class FileEntry:
    """One file to package: its archive path and the file to read (for a symlink, the
    resolved target inside the root).

    Its size and mode come from one ``stat`` of the source, taken when first asked for unless
    given: a listing never asks (git lists a tree without a stat per file either), and
    packaging then sees the file as it is when packaging starts. The source may be given as
    the string ``os.scandir`` already made; it becomes a ``Path`` when first asked for.
    """

    __slots__ = ("_executable", "_info", "_size", "_source", "archive_path")

    def __init__(self, archive_path: str, source: Path | str, size: int | None = None,
                 executable: bool | None = None) -> None:
        self.archive_path = archive_path  # posix, relative to the root: "HttpTrigger/x.py"
        self._source = source
        self._size = size
        self._executable = executable
        self._info: os.stat_result | None = None

    @property
    def source(self) -> Path:
        source = self._source
        if isinstance(source, str):
            source = self._source = Path(source)
        return source

    def stat(self) -> os.stat_result:
        """The source's ``stat``, taken once."""
        if self._info is None:
            try:
                self._info = self.source.stat()
            except OSError as exc:
                raise PackageError(f"cannot read {self.archive_path}: {exc.strerror or exc}",
                                   where=str(self.source),
                                   fix="stop whatever is changing the app folder, then run "
                                       "again") from exc
        return self._info

    @property
    def size(self) -> int:
        return self.stat().st_size if self._size is None else self._size

    @property
    def executable(self) -> bool:  # any exec bit set on the source
        if self._executable is None:
            return self.stat().st_mode & 0o111 != 0
        return self._executable

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileEntry):
            return NotImplemented
        return (self.archive_path, self.source) == (other.archive_path, other.source)

    def __hash__(self) -> int:
        return hash((self.archive_path, self.source))

    def __repr__(self) -> str:
        return f"FileEntry({self.archive_path!r}, {self.source!r})"


@dataclass(frozen=True, slots=True)
class Ignored:
    path: str  # posix, relative; a wholly excluded directory is reported once, ending in "/"
    rule: Rule


@dataclass(frozen=True)
class Overlay:
    """A folder outside the project packaged under ``archive_prefix``: what a build produced
    (its dependencies), shipped without ever being written into the project."""

    archive_prefix: str  # e.g. ".python_packages/lib/site-packages"
    source: Path
    label: str  # who adds it, e.g. "--build local"


@dataclass(frozen=True)
class Selection:
    included: tuple[FileEntry, ...]  # sorted by archive_path
    ignored: tuple[Ignored, ...]  # sorted by path
    # .funcignore rules that would have excluded a folder the build packages anyway.
    overridden: tuple[tuple[Rule, str], ...] = ()


# As func leaves them out: local settings at any depth, and these three in any letter case.
ALWAYS_RULES: tuple[Rule, ...] = (
    *(Rule("always", None, pattern, casefold=True)
      for pattern in (".git/", ".vscode/", "local.settings.json")),
    Rule("always", None, f"/{FUNCIGNORE}"),
)
DEFAULT_RULES: tuple[Rule, ...] = tuple(
    Rule("default", None, pattern)
    for pattern in ("__pycache__/", "*.pyc", ".venv/", ".env", ".pytest_cache/", ".mypy_cache/")
)
VENV_MARKER = "pyvenv.cfg"
VENV_RULE = Rule("always", None, f"<folder holding {VENV_MARKER}>/")


# --- reading .funcignore (git's dir.c: add_patterns_from_buffer, trim_trailing_spaces) -------


def read_funcignore(root: Path) -> tuple[Rule, ...]:
    """The rules of ``root/.funcignore``; none when the file does not exist.

    Read as bytes, as git does: a pattern need not be UTF-8 (it then matches the same bytes in
    names). A ``.funcignore`` that is a link must stay inside the project.
    """
    path = root / FUNCIGNORE
    try:
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(root.resolve()):
                raise UnsafePathError(f"{FUNCIGNORE} is a symbolic link to {target}, outside "
                                      "the project", where=str(path),
                                      fix=f"copy the file into the project as {FUNCIGNORE}")
        data = path.read_bytes()
    except FileNotFoundError:
        if path.is_symlink():
            raise ProjectError(f"broken symbolic link: its target {_readlink(str(path))} does "
                               "not exist", where=str(path),
                               fix=f"fix the link or remove {FUNCIGNORE}") from None
        return ()
    except OSError as exc:
        raise ProjectError(f"cannot read it: {exc.strerror or exc}", where=str(path),
                           fix="make .funcignore a readable file") from exc
    if data.startswith(b"\xef\xbb\xbf"):  # git skips a UTF-8 byte order mark
        data = data[3:]
    return parse_funcignore(data.decode("utf-8", "surrogateescape"))


def parse_funcignore(text: str) -> tuple[Rule, ...]:
    """One rule per pattern line, numbered from 1; comments and blank lines yield none."""
    rules = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.startswith("#"):
            continue
        pattern = _trim_trailing_spaces(line.removesuffix("\r"))
        if pattern:
            rules.append(Rule(FUNCIGNORE, number, pattern))
    return tuple(rules)


def _trim_trailing_spaces(line: str) -> str:
    """Drop trailing spaces (only ' ', as git does) unless escaped with a backslash."""
    last_space: int | None = None
    index = 0
    while index < len(line):
        char = line[index]
        if char == " ":
            if last_space is None:
                last_space = index
        elif char == "\\":
            index += 1
            if index == len(line):
                return line  # a lone trailing backslash: git leaves the line alone
            last_space = None
        else:
            last_space = None
        index += 1
    return line if last_space is None else line[:last_space]


# --- compiling rules (git's dir.c: parse_path_pattern, match_basename, match_pathname) -------


@dataclass(frozen=True)
class _Compiled:
    match: str | Literal  # what the name or path (without a trailing "/") must match
    negated: bool
    folders_only: bool  # the pattern ended in "/"
    on_name: bool  # no other "/" in the pattern: matched against the name alone
    prefix: str  # what a matching text starts with (the pattern's literal start)
    suffix: str | None  # "*" and a literal on a name: what a matching name ends with
    # "**/D/..." with D a literal name: a matching path has a folder named D above its end
    anywhere: str | None = None


@functools.cache  # a run compiles the same rules for several matchers
def _compile(rule: Rule) -> _Compiled | None:
    """How ``rule`` decides (see ``azpublish.wildmatch``); None if it can match nothing."""
    text = bytes_view(rule.pattern)
    negated = text.startswith("!")
    text = text[negated:]
    folders_only = text.endswith("/")
    text = text[:len(text) - folders_only]
    on_name = "/" not in text
    text = text if on_name else text.removeprefix("/")
    rest = text.removeprefix("**/")
    if rest != text and "/" not in rest and "**" not in rest:
        # "**/X" matches X in any folder, which is what X alone means on a name.
        text, on_name = rest, True
    match = translate(text, casefold=rule.casefold)
    if match is None:
        return None
    literal_start = 0 if rule.casefold else next(
        (i for i, char in enumerate(text) if char in _SPECIAL), len(text))
    tail = text[1:]  # "*.ext" on a name is git's "ends with" fast path
    suffix = (tail if on_name and not rule.casefold and text.startswith("*")
              and _SPECIAL.isdisjoint(tail) else None)
    folder, slash, _ = rest.partition("/")
    anywhere = (folder if rest != text and slash and not rule.casefold
                and _SPECIAL.isdisjoint(folder) and folder else None)
    return _Compiled(match, negated, folders_only, on_name, text[:literal_start], suffix,
                     anywhere)


_SPECIAL = frozenset("*?[\\")


class _Kind:
    """The rules of one kind (on the name or on the path; for files or for folders), indexed
    so that a text meets only the rules that can match it, as git's own fast paths do: literal
    patterns in a dict, "*.ext" names by their suffix, the rest grouped by their literal start
    into one regex per group (compiled when a text first has that start) trying the newest
    rule first, so one ``match`` finds the last rule of the group that matches."""

    def __init__(self, compiled: Iterable[tuple[int, _Compiled]]) -> None:
        self.literal: dict[str, int] = {}
        self.suffix: dict[str, int] = {}
        self._groups: dict[str, list[tuple[int, str]]] = {}
        self._anywhere: dict[str, list[tuple[int, str]]] = {}  # "**/D/...", by D
        for index, rule in compiled:  # ascending: in each dict the newest rule stays
            if isinstance(rule.match, Literal):
                self.literal[rule.match.text] = index
            elif rule.suffix is not None:
                self.suffix[rule.suffix] = index
            elif rule.anywhere is not None:
                self._anywhere.setdefault(rule.anywhere, []).append((index, rule.match))
            else:
                self._groups.setdefault(rule.prefix, []).append((index, rule.match))
        self._starts = sorted({len(prefix) for prefix in self._groups})
        self._literal_in: dict[str, dict[str, int]] = {}  # literal paths, by their folder
        for text, index in self.literal.items():
            self._literal_in.setdefault(text[:text.rfind("/") + 1], {})[text] = index
        # Every beginning of a group's start, and the starts that extend it: what a folder's
        # children may still match beyond what the folder's own path settles.
        self._extending: dict[str, list[str]] = {}
        for prefix in self._groups:
            for length in range(len(prefix)):
                self._extending.setdefault(prefix[:length], []).append(prefix)
        self._compiled: dict[str, tuple[re.Pattern[str], list[int]]] = {}

    def last(self, text: str) -> int:
        """The index of the last rule matching ``text`` (a byte view), -1 if none does. For
        names: paths are decided through ``under``, which also knows ``**/d/...`` rules."""
        index = self.literal.get(text, -1)
        if self.suffix:
            for start in range(len(text) + 1):
                found = self.suffix.get(text[start:])
                if found is not None and found > index:
                    index = found
        for length in self._starts:
            if length > len(text):
                break
            prefix = text[:length]
            if prefix in self._groups:
                index = max(index, _last_match(self.group(prefix), text))
        return index

    def under(self, folder: str) -> _Scope | None:
        """What decides the paths of the children of ``folder`` (a byte view ending in "/"),
        None when no rule of this kind can match any of them."""
        settled = [self.group(folder[:length]) for length in self._starts
                   if length <= len(folder) and folder[:length] in self._groups]
        if self._anywhere:
            settled += [self._anywhere_group(name) for name in set(folder.split("/"))
                        if name in self._anywhere]
        literal = self._literal_in.get(folder, {})
        extending = tuple(self._extending.get(folder, ()))
        if not (literal or settled or extending):
            return None
        return _Scope(self, literal, tuple(settled), extending)

    def group(self, prefix: str) -> tuple[re.Pattern[str], list[int]]:
        """The regex of the rules starting with ``prefix``, and the rule each alternative is."""
        compiled = self._compiled.get(prefix)
        if compiled is None:
            compiled = self._compiled[prefix] = _alternatives(self._groups[prefix])
        return compiled

    def _anywhere_group(self, folder: str) -> tuple[re.Pattern[str], list[int]]:
        key = "**/" + folder  # no literal start is "**": the two caches cannot collide
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _alternatives(self._anywhere[folder])
        return compiled


def _alternatives(rules: list[tuple[int, str]]) -> tuple[re.Pattern[str], list[int]]:
    """One regex trying the newest rule first, and the rule index of each alternative."""
    newest_first = rules[::-1]
    # Each alternative is one group holding none of its own: lastindex names the rule.
    regex = re.compile("|".join(f"({body})" for _, body in newest_first), re.DOTALL)
    return regex, [-1, *(i for i, _ in newest_first)]


def _last_match(group: tuple[re.Pattern[str], list[int]], text: str) -> int:
    regex, rule_of_group = group
    match = regex.match(text)
    return -1 if match is None else rule_of_group[match.lastindex or 0]


@dataclass(frozen=True)
class _Scope:
    """The path rules of one kind as they stand for the children of one folder: the groups
    whose start the folder's path already has, and the longer starts a child's path may have.
    A folder's children then each cost a dict lookup and the few regexes that can match."""

    kind: _Kind
    literal: dict[str, int]
    settled: tuple[tuple[re.Pattern[str], list[int]], ...]
    extending: tuple[str, ...]

    def last(self, text: str) -> int:
        index = self.literal.get(text, -1)
        for group in self.settled:
            index = max(index, _last_match(group, text))
        for prefix in self.extending:
            if text.startswith(prefix):
                index = max(index, _last_match(self.kind.group(prefix), text))
        return index


class _Matcher:
    """Every rule, compiled into four kinds: on the name or the path, for files or folders
    (a folder faces the rules ending in "/" as well)."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        # The verdict of each rule: the rule itself if it excludes, None if it re-includes;
        # the extra None at the end is the verdict of index -1, "no rule matched".
        self._verdicts: list[Rule | None] = []
        compiled: list[tuple[int, _Compiled]] = []
        for rule in rules:
            result = _compile(rule)
            if result is not None:
                compiled.append((len(self._verdicts), result))
                self._verdicts.append(None if result.negated else rule)
        self._verdicts.append(None)
        files = [(index, rule) for index, rule in compiled if not rule.folders_only]
        self._name = {False: _Kind((i, r) for i, r in files if r.on_name),
                      True: _Kind((i, r) for i, r in compiled if r.on_name)}
        self._path = {False: _Kind((i, r) for i, r in files if not r.on_name),
                      True: _Kind((i, r) for i, r in compiled if not r.on_name)}
        self._name_cache: dict[str, int] = {}  # names repeat a lot (__init__.py, ...)

    def in_folder(self, prefix: str) -> Callable[[str], Rule | None]:
        """The rule excluding each child of the folder at ``prefix`` ("" for the root, else
        ending in "/"), given as its name (ending in "/" for a folder); None if included."""
        cache, verdicts, on_name = self._name_cache, self._verdicts, self._on_name
        view = bytes_view(prefix)
        scopes = {folder: kind.under(view) for folder, kind in self._path.items()}
        if scopes[False] is None and scopes[True] is None:  # most folders: names decide
            def by_name(key: str) -> Rule | None:
                index = cache.get(key)
                return verdicts[on_name(key) if index is None else index]

            return by_name

        def by_name_and_path(key: str) -> Rule | None:
            index = cache.get(key)
            if index is None:
                index = on_name(key)
            folder = key.endswith("/")
            scope = scopes[folder]
            if scope is not None:
                index = max(index, scope.last(view + bytes_view(key[:len(key) - folder])))
            return verdicts[index]

        return by_name_and_path

    def _on_name(self, key: str) -> int:
        """The last rule on names matching ``key`` (ending in "/" for a folder), remembered."""
        folder = key.endswith("/")
        index = self._name_cache[key] = self._name[folder].last(
            bytes_view(key[:len(key) - folder]))
        return index

    def exclusion(self, path: str, name: str) -> Rule | None:
        """The rule excluding ``path`` (ending in "/" for a folder), None if it is included."""
        return self.in_folder(path[:len(path) - len(name)])(name)


# --- walking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Folder:
    real: Path  # the folder on disk (symlinks resolved)
    prefix: str  # its archive path with a trailing "/", "" for the root
    real_prefix: str  # its real path relative to the root, likewise
    chain: frozenset[str]  # real folders from the root down to here, to detect link loops
    plain: bool = True  # every name in ``prefix`` passed ``looks_safe``

    @property
    def linked(self) -> bool:
        return self.prefix != self.real_prefix


class _Walker:
    def __init__(self, root: Path, rules: _Matcher, prefix: str = "") -> None:
        self._root = root
        self._prefix = prefix  # where root lies in the archive: "" for the project itself
        self._root_prefix = str(root).rstrip(os.sep) + os.sep  # "/" stays "/"
        # Every rule, the forced ones last so that they always win. They apply where a linked
        # file really is too: a link never ships what the rules exclude at its target (git
        # would store the link itself, never the excluded file's contents).
        self._rules = rules
        self.included: list[FileEntry] = []
        self.ignored: list[Ignored] = []
        self._plain_names: dict[str, bool] = {}  # looks_safe of each name: names repeat

    def walk(self) -> None:
        prefix = self._prefix
        stack = [_Folder(self._root, prefix, prefix, frozenset((str(self._root),)))]
        while stack:
            folder = stack.pop()
            entries = self._list(folder)
            if folder.prefix != self._prefix and any(e.name == VENV_MARKER and e.is_file()
                                                     for e in entries):
                self.ignored.append(Ignored(folder.prefix, VENV_RULE))
            else:
                self._visit_entries(folder, entries, stack)

    def _visit_entries(self, folder: _Folder, entries: list[os.DirEntry[str]],
                       stack: list[_Folder]) -> None:
        # The hot loop (tens of thousands of entries): attribute lookups hoisted into locals.
        prefix, real_prefix, real = folder.prefix, folder.real_prefix, folder.real
        exclusion = self._rules.in_folder(prefix)
        real_exclusion = self._rules.in_folder(real_prefix) if folder.linked else None
        ignored, included = self.ignored.append, self.included.append
        plain_names, plain_folder = self._plain_names, folder.plain
        for entry in entries:
            if entry.is_symlink():
                self._visit_link(folder, entry, stack)
                continue
            name = entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            key = name + "/" if is_dir else name
            path = prefix + key
            rule = exclusion(key)
            if rule is None and real_exclusion is not None:
                # Inside a linked folder: the rules also apply where the file really is.
                rule = real_exclusion(key)
            if rule is not None:
                ignored(Ignored(path, rule))
                continue
            plain = plain_names.get(name)
            if plain is None:
                plain = plain_names[name] = looks_safe(name)
            if is_dir:
                stack.append(_Folder(real / name, path, real_prefix + key,
                                     folder.chain | {entry.path}, plain and plain_folder))
                continue
            if entry.is_file(follow_symlinks=False):  # known from the listing, no syscall
                # Plain names are ASCII: one byte per character.
                if not (plain and plain_folder and len(path) <= MAX_NAME_BYTES):
                    check_archive_path(path)
                included(FileEntry(path, entry.path))
            else:
                self._add_file(path, Path(entry.path), entry.stat(follow_symlinks=False))

    def _list(self, folder: _Folder) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(folder.real) as entries:
                return list(entries)
        except OSError as exc:
            raise ProjectError(f"cannot read this folder: {exc.strerror or exc}",
                               where=folder.prefix or ".",
                               fix="make it readable, or exclude it in .funcignore") from exc

    def _visit_link(self, folder: _Folder, entry: os.DirEntry[str],
                    stack: list[_Folder]) -> None:
        try:
            is_dir = entry.is_dir()  # follows the link
        except OSError:  # a loop; a broken link is simply not a folder
            is_dir = False
        key = entry.name + "/" if is_dir else entry.name
        path = folder.prefix + key
        # git reads a link as a file, never a folder; azpublish packages the folder behind it,
        # so the link faces both readings.
        keys = (key, entry.name) if is_dir else (key,)
        prefixes = (folder.prefix, folder.real_prefix) if folder.linked else (folder.prefix,)
        rule = next((found for prefix in prefixes for name in keys
                     if (found := self._rules.exclusion(prefix + name, name)) is not None), None)
        if rule is not None:  # excluded links are never resolved: they may point anywhere
            self.ignored.append(Ignored(path, rule))
            return
        archive_path = folder.prefix + entry.name
        target = self._resolve(entry.path, archive_path)
        if is_dir and target in folder.chain:
            raise UnsafePathError(f"symbolic link loop: it points to {target}, a folder that "
                                  "contains the link", where=archive_path,
                                  fix="remove the link, or exclude it in .funcignore")
        real_path = Path(target).relative_to(self._root).as_posix()
        rule = self._excluded_target(real_path, is_dir)
        if rule is not None:
            self.ignored.append(Ignored(path, rule))
        elif is_dir:
            stack.append(_Folder(Path(target), path, real_path + "/", folder.chain | {target},
                                 folder.plain and looks_safe(entry.name)))
        else:
            source = Path(target)
            self._add_file(archive_path, source, source.stat())

    def _resolve(self, link: str, archive_path: str) -> str:
        """The link's final target, which must exist and lie inside the root."""
        try:
            target = os.path.realpath(link, strict=True)
        except OSError as exc:
            pointee = _readlink(link)
            if exc.errno == errno.ELOOP:
                what = f"symbolic link loop (it points to {pointee})"
            else:
                what = f"broken symbolic link: its target {pointee} does not exist"
            raise UnsafePathError(what, where=archive_path,
                                  fix="fix or remove the link, or exclude it in .funcignore",
                                  ) from exc
        if target != str(self._root) and not target.startswith(self._root_prefix):
            raise UnsafePathError(f"symbolic link points outside the project, to {target}",
                                  where=archive_path,
                                  fix="copy what it points to into the project, or exclude "
                                      "the link in .funcignore")
        return target

    def _excluded_target(self, real_path: str, is_dir: bool) -> Rule | None:
        """The rule (or venv) excluding the link's target or a folder above it."""
        parts = real_path.split("/")
        folder = ""
        for name in parts[:-1]:
            folder += name + "/"
            rule = self._rules.exclusion(folder, name + "/")
            if rule is not None:
                return rule
            if (self._root / folder / VENV_MARKER).is_file():
                return VENV_RULE
        name = parts[-1] + ("/" if is_dir else "")
        return self._rules.exclusion(folder + name, name)

    def _add_file(self, archive_path: str, source: Path, info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            raise ProjectError(f"a {file_kind(info.st_mode)} cannot be packaged",
                               where=archive_path,
                               fix=f"exclude it: add {archive_path!r} to .funcignore")
        if not looks_safe(archive_path):
            check_archive_path(archive_path)
        self.included.append(FileEntry(archive_path, source, info.st_size,
                                       bool(info.st_mode & 0o111)))


def _readlink(link: str) -> str:
    try:
        return str(Path(link).readlink())
    except OSError:
        return "?"


# --- the stage ------------------------------------------------------------------------------


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The walk allocates a few acyclic objects per file; the cyclic collector would rescan
    the ever longer lists of them again and again (a fifth of the run time on 100,000 files).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def select_files(root: Path, *, extra_excludes: Sequence[tuple[str, str]] = (),
                 extra_includes: Sequence[tuple[str, str]] = (),
                 overlays: Sequence[Overlay] = ()) -> Selection:
    """Walk ``root`` and split it into what is packaged and what is not (with the rule why).

    ``extra_excludes`` are ``(pattern, label)`` pairs that always apply and cannot be
    re-included, e.g. ``(".python_packages/", "--build remote")``. ``extra_includes`` are
    root folders packaged whatever .funcignore says, e.g. ``(".python_packages/", "--build
    local")`` (the default rules and the always-rules still apply inside them);
    ``overridden`` then names the .funcignore rules that would have excluded them.
    ``overlays`` are folders outside the project packaged under a prefix; .funcignore does not
    apply inside them (as it cannot inside ``extra_includes``), the defaults and always-rules do.

    Raises ``ProjectError`` for an unreadable ``.funcignore`` or folder, a pattern that cannot
    be honoured, or a special file (fifo, socket, device) that no rule excludes, and
    ``UnsafePathError`` for a link leaving the root, a broken link, a loop, or a name no zip
    should carry (a backslash, not UTF-8).
    """
    try:
        real_root = root.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ProjectError("no such folder", where=str(root),
                           fix="pass the function app's folder") from exc
    if not real_root.is_dir():
        raise ProjectError("not a folder", where=str(root), fix="pass the function app's folder")
    if any(pattern.startswith("!") for pattern, _ in extra_excludes):
        raise ValueError(f"extra_excludes only exclude; got {extra_excludes!r}")
    # Forced rules come last: git's "last match wins" then makes them impossible to re-include.
    forced = (*(Rule(label, None, pattern) for pattern, label in extra_excludes), *ALWAYS_RULES)
    funcignore = read_funcignore(real_root)
    included = tuple(rule for folder, label in extra_includes
                     for rule in (Rule(label, None, f"!/{folder.strip('/')}/"),
                                  Rule(label, None, f"!/{folder.strip('/')}/**")))
    # After the user's rules so they cannot exclude these folders; the defaults again after
    # them, so caches inside stay out as they would anywhere else.
    rules = _Matcher((*DEFAULT_RULES, *funcignore, *included,
                      *(DEFAULT_RULES if included else ()), *forced))
    walkers = [_Walker(real_root, rules)]
    for overlay in overlays:
        prefix = overlay.archive_prefix.strip("/") + "/"
        inside = _Matcher((*DEFAULT_RULES, *ALWAYS_RULES))
        walkers.append(_Walker(overlay.source.resolve(strict=True), inside, prefix))
    with _cyclic_gc_paused():
        for walker in walkers:
            walker.walk()
    top_folders = [(o.archive_prefix.split("/", 1)[0], o.label) for o in overlays]
    return Selection(
        included=tuple(sorted((e for w in walkers for e in w.included),
                              key=lambda entry: entry.archive_path)),
        ignored=tuple(sorted((i for w in walkers for i in w.ignored),
                             key=lambda ignored: ignored.path)),
        overridden=_overridden(funcignore, [*extra_includes, *top_folders]),
    )


def _overridden(funcignore: Sequence[Rule], extra_includes: Sequence[tuple[str, str]]
                ) -> tuple[tuple[Rule, str], ...]:
    """(the .funcignore rule, the label) for each forced folder that rule would exclude."""
    matcher = _Matcher((*DEFAULT_RULES, *funcignore))
    found = []
    for folder, label in extra_includes:
        name = folder.strip("/")
        rule = matcher.exclusion(f"{name}/", f"{name}/")  # a folder: both end in "/"
        if rule is not None and rule.source == FUNCIGNORE:
            found.append((rule, label))
    return tuple(found)
