"""The local build cache: one site-packages folder per set of inputs that decides it.

Layout under the cache root (``AZPUBLISH_CACHE_DIR``, else ``$XDG_CACHE_HOME/azpublish``, else
``~/.cache/azpublish``)::

    builds/<digest>/site-packages/      a complete entry ...
    builds/<digest>/entry.json          ... which it is only once this marker exists
    staging/<digest>.<pid>.<random>/    folders engines fill; renamed into builds/ when done
    locks/<digest>.lock                 flock(2) files, one per key; never deleted (see _lock_path)

An entry is assembled in staging (site-packages first, the marker last) and renamed into place
in one step, so a build killed at any moment leaves only a staging folder, which ``lookup``
never looks at and a later ``staging_dir`` removes once nobody holds its key's lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from azpublish.builders.engine import InstallRequest
from azpublish.cleanup import owned_folder
from azpublish.errors import BuildError
from azpublish.requirements import logical_lines
from azpublish.staging import link_or_copy

CACHE_DIR_VARIABLE = "AZPUBLISH_CACHE_DIR"
FORMAT = "2"  # bump when the layout or the meaning of the inputs changes (2: sources)
MARKER = "entry.json"
SITE_PACKAGES = "site-packages"
STALE_STAGING_SECONDS = 30 * 60

# Local trees referenced from requirement files are hashed by content up to this much; past it,
# by (path, size, mtime), which still changes with any ordinary edit.
_CONTENT_HASH_LIMIT = 64 * 1024 * 1024
_SKIPPED_DIRS = frozenset({".git", "__pycache__", ".tox", ".nox", ".venv", ".mypy_cache",
                           ".pytest_cache", ".ruff_cache"})
_URL_SCHEME = ("http://", "https://", "git+", "hg+", "svn+", "bzr+")


@dataclass(frozen=True)
class CacheKey:
    digest: str  # sha256 hex of the canonical JSON of ``inputs``
    inputs: Mapping[str, str]  # secrets already replaced by their hash: safe to store


def cache_key(request: InstallRequest, engine_identity: Mapping[str, str],
              extra: Mapping[str, str]) -> CacheKey:
    """Key a build by everything that decides its output.

    Names are prefixed by kind (``requirements:``, ``local:``, ``target.``, ``engine.``,
    ``index.``, ``extra.``) so that inputs of different kinds never collide.
    """
    inputs: dict[str, str] = {"format": FORMAT, "installer": request.installer,
                              "target.python": request.target.python_version,
                              "target.machine": request.target.machine,
                              "target.glibc": "{}.{}".format(*request.target.glibc)}
    root = request.project_root.resolve()
    for path in request.requirement_files:
        inputs[f"requirements:{_display_path(path, root)}"] = _file_digest(path)
        for reference in _local_references(path, root):
            inputs[f"local:{_display_path(reference, root)}"] = _path_digest(reference)
    inputs.update({f"engine.{name}": value for name, value in engine_identity.items()})
    # The sources as the toolchain read them (pip.conf files, PIP_* variables and azpublish's
    # flags), secret-free: what the installer is given, so a changed index is a miss.
    inputs.update({f"index.{name}": value for name, value in request.sources.identity().items()})
    inputs.update({f"extra.{name}": value for name, value in extra.items()})
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return CacheKey(hashlib.sha256(canonical.encode()).hexdigest(), dict(sorted(inputs.items())))


def default_cache_root() -> Path:
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "azpublish"


class BuildCache:
    def __init__(self, root: Path | None = None,
                 stale_after: float = STALE_STAGING_SECONDS) -> None:
        self.root = (root or default_cache_root()).resolve()
        self.stale_after = stale_after
        self._held: dict[str, int] = {}  # digest -> fd of a lock this object holds

    def lookup(self, key: CacheKey) -> Path | None:
        """The site-packages folder of the complete entry for ``key``, or None."""
        entry = self._entry(key)
        try:
            marker = json.loads((entry / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent, or not a finished entry
        site = entry / SITE_PACKAGES
        if not isinstance(marker, dict) or marker.get("digest") != key.digest or not site.is_dir():
            return None
        return site

    def staging_dir(self, key: CacheKey) -> Path:
        """A fresh empty folder on the cache's filesystem, for an engine to fill."""
        staging = self._ensure(self.root / "staging")
        self._remove_abandoned(staging)
        folder = staging / f"{key.digest}.{os.getpid()}.{secrets.token_hex(4)}"
        folder.mkdir()
        return folder

    def store(self, key: CacheKey, built: Path) -> Path:
        """Publish ``built`` (a filled site-packages folder, moved, not copied, when it is on the
        cache's filesystem) as the entry for ``key``; returns the entry's site-packages folder,
        as ``lookup`` would."""
        staging = self._ensure(self.root / "staging")

        def new_assembly() -> Path:
            folder = staging / f"{key.digest}.{os.getpid()}.{secrets.token_hex(4)}.entry"
            folder.mkdir()
            return folder

        try:  # the assembly goes however this ends; renamed into place, it is the entry
            with owned_folder(new_assembly) as assembly:
                try:
                    built.rename(assembly / SITE_PACKAGES)
                except OSError as error:
                    if error.errno != errno.EXDEV:
                        raise
                    shutil.copytree(built, assembly / SITE_PACKAGES, symlinks=True)
                self._write_marker(assembly, key)
                entry = self._entry(key)
                self._ensure(entry.parent)
                self._replace(assembly, entry)
        except OSError as error:
            raise BuildError(f"could not store the build in the cache: {error}",
                             where=str(self.root),
                             fix=f"check the cache folder's permissions and free space, set "
                             f"{CACHE_DIR_VARIABLE} elsewhere, or build with --no-cache") from error
        return entry / SITE_PACKAGES

    @contextlib.contextmanager
    def locked(self, key: CacheKey) -> Iterator[None]:
        """Hold an exclusive lock on ``key`` (blocking until other processes release it), so that
        of two concurrent builds of the same inputs the second finds the first one's entry."""
        path = self._ensure(self.root / "locks") / f"{key.digest}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._held[key.digest] = fd
            yield
        finally:
            self._held.pop(key.digest, None)
            os.close(fd)  # closing releases the flock

    # -- internals ---------------------------------------------------------------------------

    def _entry(self, key: CacheKey) -> Path:
        return self.root / "builds" / key.digest

    def _ensure(self, folder: Path) -> Path:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BuildError(f"cannot create the cache folder: {error.strerror}",
                             where=str(folder),
                             fix=f"set {CACHE_DIR_VARIABLE} to a writable folder, or build with "
                             "--no-cache") from error
        return folder

    def _write_marker(self, assembly: Path, key: CacheKey) -> None:
        """The marker goes last: its presence is what makes the entry complete."""
        marker = {"digest": key.digest, "inputs": dict(key.inputs),
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "azpublish": _azpublish_version()}
        data = json.dumps(marker, indent=2, sort_keys=True).encode()
        fd = os.open(assembly / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _replace(self, assembly: Path, entry: Path) -> None:
        """Rename ``assembly`` to ``entry``; an older folder there (a rebuild with --no-cache, or
        a leftover without a marker) is first moved aside, then removed."""
        try:
            assembly.rename(entry)
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        aside = assembly.with_name(assembly.name + ".old")
        entry.rename(aside)
        assembly.rename(entry)
        shutil.rmtree(aside, ignore_errors=True)

    def _remove_abandoned(self, staging: Path) -> None:
        """Remove staging folders of killed builds: those of keys this object holds (nothing
        else may build them now), and old ones whose key nobody holds."""
        now = time.time()
        for folder in staging.iterdir():
            digest = folder.name.split(".", 1)[0]
            if digest in self._held:
                if f".{os.getpid()}." in folder.name:
                    continue  # possibly our own, still being filled or stored
                shutil.rmtree(folder, ignore_errors=True)
                continue
            try:
                age = now - folder.lstat().st_mtime
            except FileNotFoundError:
                continue
            if age >= self.stale_after and not self._locked_elsewhere(digest):
                shutil.rmtree(folder, ignore_errors=True)

    def _locked_elsewhere(self, digest: str) -> bool:
        path = self.root / "locks" / f"{digest}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def materialize(entry: Path, dest: Path) -> None:
    """Make ``dest`` a copy of the cached site-packages folder ``entry``.

    Files are hard links when the cache and ``dest`` share a filesystem (a 150 MB tree in a
    fraction of a second), else copies. The copy is built beside ``dest`` and swapped in by
    rename, so ``dest`` is never a mix of two builds. Tools must not edit the linked files in
    place: that would change the cache entry too (pip and uv replace files, never edit them).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.{secrets.token_hex(4)}"
    fresh = dest.with_name(f".{dest.name}.new.{tag}")
    try:
        _link_tree(entry, fresh)
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old.{tag}")
            dest.rename(old)
            fresh.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            fresh.rename(dest)
    except OSError as error:
        shutil.rmtree(fresh, ignore_errors=True)
        raise BuildError(f"could not copy the cached dependencies: {error}", where=str(dest),
                         fix="check that the folder is writable, or build with "
                         "--no-cache") from error


def _link_tree(source: Path, dest: Path) -> None:
    dest.mkdir()
    can_link = True
    stack = [(source, dest)]
    while stack:
        src_dir, dst_dir = stack.pop()
        with os.scandir(src_dir) as entries:
            for item in entries:
                target = Path(dst_dir, item.name)
                if item.is_symlink():
                    target.symlink_to(Path(item.path).readlink())
                elif item.is_dir():
                    target.mkdir()
                    stack.append((Path(item.path), target))
                else:
                    can_link = link_or_copy(item.path, target, can_link)


# -- key inputs --------------------------------------------------------------------------------


def _display_path(path: Path, root: Path) -> str:
    """Relative to the project when inside it, so moving the project keeps its cache."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return resolved.as_posix()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise BuildError(f"cannot read a requirement input: {error.strerror}", where=str(path),
                         fix="make the file readable, or remove the line naming it") from error
    return "sha256:" + digest.hexdigest()


def _local_references(requirements: Path, root: Path) -> list[Path]:
    """Existing local files and folders a requirement file installs from: ``./pkg``,
    ``-e ../lib``, ``file:`` URLs, ``name @ file:///...``, wheels and archives by path.
    pip resolves relative paths against the working folder (the project root when azpublish
    runs it); the requirement file's folder is tried too, as editors and ``-r`` users expect."""
    try:
        text = requirements.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return []
    found: list[Path] = []
    for _, line in logical_lines(text):
        for token in _path_tokens(line):
            for base in (root, requirements.parent):
                candidate = (base / token).resolve()
                if candidate.exists() and candidate not in found:
                    found.append(candidate)
                    break
    return found


def _path_tokens(line: str) -> list[str]:
    """Tokens of a requirement line that may name a local path."""
    tokens: list[str] = []
    words = line.replace("@", " ").split()
    for word in words:  # options are skipped, their values (-e ./lib, -f ./wheels) are not
        if word.startswith(("-", *_URL_SCHEME)) or ";" in word:
            continue
        if word.startswith("file:"):
            path = word[len("file:"):]
            tokens.append("/" + path.lstrip("/") if path.startswith("//") else path)
        elif "/" in word or word.startswith(".") or word.endswith((".whl", ".tar.gz", ".zip")):
            tokens.append(word.split("#", 1)[0])
    return [token for token in tokens if token]


def _path_digest(path: Path) -> str:
    if path.is_file():
        return _file_digest(path)
    digest = hashlib.sha256()
    files: list[tuple[str, Path, os.stat_result]] = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in names:
            full = Path(folder, name)
            with contextlib.suppress(OSError):
                files.append((full.relative_to(path).as_posix(), full, full.lstat()))
    files.sort(key=lambda item: item[0])
    by_content = sum(info.st_size for _, _, info in files) <= _CONTENT_HASH_LIMIT
    for relative, full, info in files:
        digest.update(relative.encode() + b"\0")
        if stat.S_ISLNK(info.st_mode):
            digest.update(b"link:" + str(full.readlink()).encode())
        elif by_content:
            digest.update(_file_digest(full).encode() + oct(info.st_mode & 0o111).encode())
        else:
            digest.update(f"{info.st_size}:{info.st_mtime_ns}".encode())
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def _azpublish_version() -> str:
    try:
        return metadata.version("azpublish")
    except metadata.PackageNotFoundError:
        return "unknown"
