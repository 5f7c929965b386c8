"""The compression cache of the zip writer: the previous package and an index of its members.

A memo folder holds ``last.zip`` (the previous package, hardlinked or copied) and ``last.json``
(for each archive path: the source's stat key when it was read, and where its compressed bytes
sit in ``last.zip``). A rebuild copies a member's compressed bytes from ``last.zip`` when its
source's stat key is unchanged, instead of compressing it again.

Nothing here is trusted blindly. ``last.json`` names the writer format (zlib version, level, slice
size) and the size, mtime and inode of the ``last.zip`` it describes; any difference, or unreadable
JSON, discards the whole memo. The writer also compares each member's local header with the one it
would write before copying. Tampering that keeps ``last.zip``'s size, mtime and inode is not
detected (that would need decompressing every member). Updates replace each file by rename under a
lock, and readers check the pair matches, so concurrent packagers never see a torn memo.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from azpublish.cleanup import removing_file, shielded

MEMO_FORMAT = 1  # of last.json; part of the writer key
_CHUNK = 1 << 20  # bytes per read when copying a member

StatKey = tuple[int, int, int, int]  # st_size, st_mtime_ns, st_ino, st_dev


def stat_key(result: os.stat_result) -> StatKey:
    return (result.st_size, result.st_mtime_ns, result.st_ino, result.st_dev)


@dataclass(frozen=True)
class MemoMember:
    """One member of ``last.zip``, and the stat key its source had when it was read."""

    source: StatKey
    crc: int
    method: int
    compressed: int
    uncompressed: int
    header_offset: int  # of the local header; the compressed data follows the header
    data_offset: int

    def row(self) -> list[int]:
        return [*self.source, self.crc, self.method, self.compressed, self.uncompressed,
                self.header_offset, self.data_offset]

    @classmethod
    def from_row(cls, row: object) -> MemoMember:
        if not (isinstance(row, list) and len(row) == 10
                and all(type(value) is int and value >= 0 for value in row)):
            raise ValueError("malformed member row")
        size, mtime, ino, dev, crc, method, compressed, uncompressed, header, data = row
        if data < header:
            raise ValueError("data before its header")
        return cls((size, mtime, ino, dev), crc, method, compressed, uncompressed, header, data)


class MemoReader:
    """The previous package, open and checked against its index; read it by offset."""

    def __init__(self, fd: int, size: int, members: Mapping[str, MemoMember]) -> None:
        self._fd = fd
        self.size = size
        self.members = members

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> MemoReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def read_at(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset``, or fewer if the file ends (or cannot be read)."""
        try:
            return os.pread(self._fd, size, offset) if offset + size <= self.size else b""
        except OSError:
            return b""

    def chunks(self, offset: int, size: int) -> Iterator[bytes]:
        """``size`` bytes from ``offset`` in bounded chunks; OSError or EOFError if cut short."""
        end = offset + size
        while offset < end:
            chunk = os.pread(self._fd, min(_CHUNK, end - offset), offset)
            if not chunk:
                raise EOFError(f"the previous package ends at {offset}, before {end}")
            offset += len(chunk)
            yield chunk


class PackageMemo:
    """A memo folder; give it to ``write_package(..., reuse=)``. Missing folders are created."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def for_app(cls, app_root: Path, cache_root: Path | None = None) -> PackageMemo:
        """``<cache root>/packages/<sha256 of the app root's absolute path>``."""
        # Imported here: the build package is heavy, and the zip writer should not load it.
        from azpublish.builders.cache import default_cache_root

        digest = hashlib.sha256(os.fsencode(Path(app_root).resolve())).hexdigest()
        return cls((cache_root or default_cache_root()) / "packages" / digest)

    @property
    def zip_path(self) -> Path:
        return self.folder / "last.zip"

    @property
    def index_path(self) -> Path:
        return self.folder / "last.json"

    def open(self, writer: str) -> MemoReader | None:
        """The previous package if the memo is intact and from the same ``writer``, else None."""
        try:
            index = json.loads(self.index_path.read_bytes())
        except (OSError, ValueError):
            return None
        try:
            fd = os.open(self.zip_path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError:
            return None
        try:
            reader = self._checked(fd, index, writer)
        except (OSError, ValueError, TypeError, KeyError):
            reader = None
        if reader is None:
            os.close(fd)
        return reader

    @staticmethod
    def _checked(fd: int, index: object, writer: str) -> MemoReader | None:
        if not isinstance(index, dict) or index.get("format") != MEMO_FORMAT \
                or index.get("writer") != writer:
            return None
        package = index["package"]
        opened = os.fstat(fd)
        if [package["size"], package["mtime_ns"], package["ino"], package["dev"]] != \
                list(stat_key(opened)):
            return None  # another last.zip than the one indexed: replaced, edited or truncated
        rows = index["members"]
        if not isinstance(rows, dict):
            return None
        members = {str(path): MemoMember.from_row(row) for path, row in rows.items()}
        if any(m.data_offset + m.compressed > opened.st_size for m in members.values()):
            return None
        return MemoReader(fd, opened.st_size, members)

    def save(self, package: Path, sha256: str, writer: str,
             members: Mapping[str, MemoMember]) -> bool:
        """Make ``package`` the memo, atomically; False (memo unchanged or absent) on failure.

        Best effort: the package is already written, and a memo that cannot be saved only
        costs speed next time.
        """
        token = secrets.token_hex(6)
        temp_zip = self.folder / f".last.zip.{token}.tmp"
        temp_index = self.folder / f".last.json.{token}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with self._locked():
                try:
                    os.link(package, temp_zip)
                except OSError:  # another file system, or no hardlinks there
                    shutil.copyfile(package, temp_zip)
                linked = temp_zip.stat()
                size, mtime_ns, ino, dev = stat_key(linked)
                index = {"format": MEMO_FORMAT, "writer": writer,
                         "package": {"size": size, "mtime_ns": mtime_ns, "ino": ino, "dev": dev,
                                     "sha256": sha256},
                         "members": {path: m.row() for path, m in members.items()}}
                temp_index.write_text(json.dumps(index, separators=(",", ":")), encoding="utf-8")
                # Zip first: a reader in between sees an index naming another inode, and skips.
                temp_zip.replace(self.zip_path)
                temp_index.replace(self.index_path)
        except OSError:
            return False
        finally:
            with shielded():
                for temp in (temp_zip, temp_index):
                    removing_file(temp)()
        return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise writers, so the zip and index renamed in are from the same package."""
        fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock
