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

from azpublish.archive_paths import archive_path_problem, looks_safe
from azpublish.errors import ProjectError, UnsafePathError
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


@dataclass(frozen=True, slots=True)
class FileEntry:
    archive_path: str  # posix path relative to root, e.g. "HttpTrigger/__init__.py"
    source: Path  # the file to read (for a symlink: the resolved target inside root)
    size: int
    executable: bool  # any exec bit set on the source file


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
    match = translate(text, casefold=rule.casefold)
    if match is None:
        return None
    literal_start = 0 if rule.casefold else next(
        (i for i, char in enumerate(text) if char in _SPECIAL), len(text))
    tail = text[1:]  # "*.ext" on a name is git's "ends with" fast path
    suffix = (tail if on_name and not rule.casefold and text.startswith("*")
              and _SPECIAL.isdisjoint(tail) else None)
    return _Compiled(match, negated, folders_only, on_name, text[:literal_start], suffix)


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
        for index, rule in compiled:  # ascending: in each dict the newest rule stays
            if isinstance(rule.match, Literal):
                self.literal[rule.match.text] = index
            elif rule.suffix is not None:
                self.suffix[rule.suffix] = index
            else:
                self._groups.setdefault(rule.prefix, []).append((index, rule.match))
        self._starts = sorted({len(prefix) for prefix in self._groups})
        self._compiled: dict[str, tuple[re.Pattern[str], list[int]]] = {}

    def __bool__(self) -> bool:
        return bool(self.literal or self.suffix or self._groups)

    def last(self, text: str) -> int:
        """The index of the last rule matching ``text`` (a byte view), -1 if none does."""
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
                regex, rule_of_group = self._group(prefix)
                match = regex.match(text)
                if match is not None:
                    index = max(index, rule_of_group[match.lastindex or 0])
        return index

    def _group(self, prefix: str) -> tuple[re.Pattern[str], list[int]]:
        compiled = self._compiled.get(prefix)
        if compiled is None:
            newest_first = self._groups[prefix][::-1]
            # Each alternative is one group holding none of its own: lastindex names the rule.
            regex = re.compile("|".join(f"({body})" for _, body in newest_first), re.DOTALL)
            compiled = self._compiled[prefix] = (regex, [-1, *(i for i, _ in newest_first)])
        return compiled


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

    def exclusion(self, path: str, name: str) -> Rule | None:
        """The rule excluding ``path`` (ending in "/" for a folder), None if it is included."""
        index = self._name_cache.get(name)
        folder = path.endswith("/")
        if index is None:
            index = self._name[folder].last(bytes_view(name[:len(name) - folder]))
            self._name_cache[name] = index
        on_path = self._path[folder]
        if on_path:
            index = max(index, on_path.last(bytes_view(path[:len(path) - folder])))
        return self._verdicts[index]


# --- walking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Folder:
    real: Path  # the folder on disk (symlinks resolved)
    prefix: str  # its archive path with a trailing "/", "" for the root
    real_prefix: str  # its real path relative to the root, likewise
    chain: frozenset[str]  # real folders from the root down to here, to detect link loops

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
        exclusion = self._rules.exclusion
        real_exclusion = exclusion if folder.linked else None
        prefix, real_prefix, real = folder.prefix, folder.real_prefix, folder.real
        ignored, included = self.ignored.append, self.included.append
        for entry in entries:
            if entry.is_symlink():
                self._visit_link(folder, entry, stack)
                continue
            name = entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            key = name + "/" if is_dir else name
            path = prefix + key
            rule = exclusion(path, key)
            if rule is None and real_exclusion is not None:
                # Inside a linked folder: the rules also apply where the file really is.
                rule = real_exclusion(real_prefix + key, key)
            if rule is not None:
                ignored(Ignored(path, rule))
            elif is_dir:
                stack.append(_Folder(real / name, path, real_prefix + key,
                                     folder.chain | {entry.path}))
            elif entry.is_file(follow_symlinks=False):  # known from the listing, no syscall
                info = entry.stat(follow_symlinks=False)
                if not looks_safe(path):
                    _check_archive_path(path)
                included(FileEntry(path, _child(real, name), info.st_size,
                                   info.st_mode & 0o111 != 0))
            else:
                self._add_file(path, _child(real, name), entry.stat(follow_symlinks=False))

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
            stack.append(_Folder(Path(target), path, real_path + "/", folder.chain | {target}))
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
            raise ProjectError(f"a {_kind(info.st_mode)} cannot be packaged", where=archive_path,
                               fix=f"exclude it: add {archive_path!r} to .funcignore")
        if not looks_safe(archive_path):
            _check_archive_path(archive_path)
        self.included.append(FileEntry(archive_path, source, info.st_size,
                                       bool(info.st_mode & 0o111)))


# ``folder / name`` for a plain name from os.scandir. On Python 3.10/3.11 ``/`` re-parses every
# part (~4 us, a fifth of the time budget per file); pathlib's own glob uses a private shortcut
# that only appends the name, taken when this Python has it.
_child: Callable[[Path, str], Path] = getattr(Path, "_make_child_relpath", Path.joinpath)


def _readlink(link: str) -> str:
    try:
        return str(Path(link).readlink())
    except OSError:
        return "?"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (fifo)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    return "special file"


def _check_archive_path(path: str) -> None:
    """Refuse names that could escape the archive or that a zip cannot carry faithfully: the
    package writer's own rule, applied here so listings and dry runs refuse what it would."""
    problem = archive_path_problem(path)
    if problem is not None:
        raise UnsafePathError(f"unsafe file name: {problem}", where=repr(path),
                              fix="rename the file, or exclude it in .funcignore")


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
