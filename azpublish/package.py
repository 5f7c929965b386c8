"""The deterministic, streamed zip writer, and the size report of what went into it.

The same selection gives the same bytes on any machine with the same zlib: entries sorted by
archive path, a fixed 1980-01-01 timestamp, unix mode 0644/0755 from the executable bit, no
directory entries and no extra fields (zip64 only where a size, an offset or the entry count needs
it).

Speed comes from compressing in worker threads (zlib releases the GIL) while this thread writes
results strictly in order. The input is cut into *pieces*: a whole small file, or a 1 MiB slice of
a large one. Slices are compressed as independent raw-deflate streams primed with the previous
32 KiB as dictionary and joined with sync flushes (the pigz technique), so a large file compresses
in parallel and its bytes depend only on its content. At most a few pieces are in flight at once,
which bounds memory whatever the tree. The archive goes to a temporary file beside ``dest`` and is
renamed onto it only once complete.

A rebuild can skip compression: given a ``PackageMemo`` (see ``package_memo``), an entry whose
source has the same stat key as when the previous package was written gets that package's
compressed bytes copied, streamed, after its local header there is checked to be the one this
writer would write. The bytes are those of a fresh write, as compression is deterministic for a
given zlib, level and slice size, which the memo records.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import os
import secrets
import shutil
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from azpublish.archive_paths import check_archive_path, looks_safe
from azpublish.cleanup import held, removing_file
from azpublish.errors import BuildError, PackageError
from azpublish.ignore import FileEntry
from azpublish.package_memo import MemoMember, MemoReader, PackageMemo, StatKey, stat_key

__all__ = ["PIECE_SIZE", "STORED_SUFFIXES", "EntrySize", "PackageMemo", "PackageReport",
           "check_selection", "write_package"]

PIECE_SIZE = 1 << 20  # unit of work and of reading; part of the format for files above it
_WINDOW = 1 << 15  # deflate's window: the dictionary a slice is primed with
_LEVEL = 6  # zlib's default, the level Info-ZIP uses
_JOB_MAX_FILES = 256  # small files batched per job to amortise the thread hand-off
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
_JOBS_PER_WORKER = 3  # in-flight jobs per worker: enough to never starve, small in memory
_WRITER_FORMAT = 1  # bump when the bytes written for a given input change
# A source modified this close to the start of a write is not memoised: a coarse file-system
# clock (down to 2 s on FAT) could give a later edit of the same size the very same mtime.
RACY_NS = 2_000_000_000

_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})  # full disk, quota, file limit
_STORED, _DEFLATED = 0, 8
# Already compressed: deflating again costs time and gains nothing. Chosen by name, so the
# method never depends on how well a given zlib happens to do.
STORED_SUFFIXES = frozenset({".whl", ".zip", ".egg", ".jar", ".gz", ".tgz", ".bz2", ".xz",
                             ".zst", ".7z", ".png", ".jpg", ".jpeg", ".gif", ".webp"})

_DOS_TIME, _DOS_DATE = 0, (1 << 5) | 1  # 1980-01-01 00:00:00, the earliest a zip can hold
_UNIX = 3  # "version made by" host system
_UTF8_NAME = 0x0800
_MAX16, _MAX32 = 0xFFFF, 0xFFFFFFFF  # field sentinels meaning "see the zip64 record"
# When zip64 is needed; tests lower these to exercise the zip64 layout on small inputs.
ZIP64_SIZE_LIMIT = _MAX32
ZIP64_COUNT_LIMIT = _MAX16

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_END64_LOCATOR = struct.Struct("<IIQI")

LARGEST_GROUPS = 10
_SITE_PACKAGES = (".python_packages", "lib", "site-packages")


@dataclass(frozen=True)
class EntrySize:
    name: str  # a top-level group: a first path component, or one site-packages distribution
    uncompressed: int
    compressed: int


@dataclass(frozen=True)
class PackageReport:
    path: Path
    size: int  # bytes of the zip
    sha256: str  # hex of the zip bytes
    file_count: int
    uncompressed_size: int
    largest: tuple[EntrySize, ...]  # the 10 largest groups by uncompressed size, descending
    reused_entries: int = 0  # entries copied from the memo's previous package, not compressed
    reused_bytes: int = 0  # their uncompressed size


def write_package(entries: Sequence[FileEntry], dest: Path, *, max_size: int | None = None,
                  progress: Callable[[int], None] | None = None,
                  reuse: PackageMemo | None = None) -> PackageReport:
    """Write ``entries`` as a zip at ``dest``, atomically; ``progress(n)`` gets input bytes done.

    With ``reuse``, unchanged entries are copied from the memo's previous package rather than
    compressed (same bytes either way), and the memo is updated once ``dest`` is complete.
    """
    started_ns = time.time_ns()
    ordered = sorted(entries, key=lambda entry: entry.archive_path)
    check_selection(ordered)
    dest = Path(dest)
    if dest.is_dir():
        raise PackageError("the output path is a folder", where=str(dest),
                           fix="give a file name, such as app.zip")
    writer = _writer_key()
    # Stat before any read: a source changed later then has another key, so is never reused.
    sources = _stat_sources(ordered) if reuse is not None else {}
    with contextlib.ExitStack() as stack:
        previous = reuse.open(writer) if reuse is not None else None
        if previous is not None:
            stack.enter_context(previous)
        reused = _reusable(ordered, sources, previous)
        archive = _TempArchive(dest, max_size)
        # Held before the file exists, so that no signal finds it unregistered.
        stack.enter_context(held(f"removing the partial package {archive.temp}",
                                 removing_file(archive.temp)))
        with archive:
            members = _write_members(ordered, archive, progress, reused, previous)
            _write_central_directory(members, archive)
            size, sha256 = archive.commit()
    if reuse is not None:
        reuse.save(dest, sha256, writer, _memo_members(members, sources, started_ns))
    return PackageReport(path=dest, size=size, sha256=sha256, file_count=len(ordered),
                         uncompressed_size=sum(entry.size for entry in ordered),
                         largest=_largest_groups(members), reused_entries=len(reused),
                         reused_bytes=sum(memo.uncompressed for memo in reused.values()))


def check_selection(entries: Sequence[FileEntry]) -> None:
    """What a package must hold (host.json at its root) and never hold (an unsafe name, a path
    twice, a name both a file and a folder): checked by the filter stage too, so listings and
    dry runs refuse exactly what packaging would."""
    paths = [entry.archive_path for entry in entries]
    for path in paths:
        if not looks_safe(path):
            check_archive_path(path)
    if "host.json" not in paths:
        raise PackageError("the selection has no host.json at its root", where="package selection",
                           fix="package the folder that holds host.json, and make sure "
                               ".funcignore does not exclude it")
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise PackageError(f"{path!r} is selected twice", where="package selection",
                               fix="each archive path may appear once")
        seen.add(path)
    for path in paths:
        parent = path.rpartition("/")[0]
        while parent:
            if parent in seen:
                raise PackageError(f"{parent!r} is both a file and the folder of {path!r}",
                                   where="package selection", fix="rename one of them")
            parent = parent.rpartition("/")[0]


# -- reading and compressing, in worker threads ----------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """A slice of one entry's input; ``offset == 0 and last`` means the whole file."""

    entry: FileEntry
    method: int
    offset: int
    length: int
    last: bool


@dataclass(frozen=True)
class _Packed:
    data: bytes  # what goes into the archive for this piece
    crc: int  # CRC-32 of a whole file (0 for a slice)
    raw: bytes | None  # a slice's input, kept for the writer to chain the file's CRC


def _method(entry: FileEntry) -> int:
    if entry.size == 0 or Path(entry.archive_path).suffix.lower() in STORED_SUFFIXES:
        return _STORED
    return _DEFLATED


def _plan_jobs(ordered: Iterable[FileEntry]) -> Iterator[list[_Piece]]:
    """Jobs of at most PIECE_SIZE input bytes: batches of small files, or one slice of a big one."""
    batch: list[_Piece] = []
    batch_bytes = 0
    for entry in ordered:
        method = _method(entry)
        if entry.size <= PIECE_SIZE:
            if batch and (batch_bytes + entry.size > PIECE_SIZE or len(batch) >= _JOB_MAX_FILES):
                yield batch
                batch, batch_bytes = [], 0
            batch.append(_Piece(entry, method, 0, entry.size, last=True))
            batch_bytes += entry.size
            continue
        if batch:
            yield batch
            batch, batch_bytes = [], 0
        for offset in range(0, entry.size, PIECE_SIZE):
            length = min(PIECE_SIZE, entry.size - offset)
            yield [_Piece(entry, method, offset, length, last=offset + length == entry.size)]
    if batch:
        yield batch


def _pack_job(job: list[_Piece]) -> list[_Packed]:
    return [_pack(piece) for piece in job]


def _pack(piece: _Piece) -> _Packed:
    prefix = min(piece.offset, _WINDOW)
    chunk = _read(piece, prefix)
    raw = chunk[prefix:] if prefix else chunk
    whole = piece.offset == 0 and piece.last
    if piece.method == _STORED:
        data = raw
    else:
        deflate = (zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, zdict=chunk[:prefix]) if prefix
                   else zlib.compressobj(_LEVEL, zlib.DEFLATED, -15))
        ending = zlib.Z_FINISH if piece.last else zlib.Z_SYNC_FLUSH
        data = deflate.compress(raw) + deflate.flush(ending)
    # A slice's CRC is chained by the writer, which sees the slices in order.
    return _Packed(data=data, crc=zlib.crc32(raw) if whole else 0, raw=None if whole else raw)


def _read(piece: _Piece, prefix: int) -> bytes:
    """The piece's bytes preceded by ``prefix`` bytes of dictionary; checks the size held."""
    start, wanted = piece.offset - prefix, prefix + piece.length
    # One byte more on the last piece tells a file that grew since it was selected.
    asked = wanted + 1 if piece.last else wanted
    source = piece.entry.source
    try:
        with source.open("rb", buffering=0) as stream:
            if start:
                stream.seek(start)
            parts: list[bytes] = []
            got = 0
            while got < asked:
                part = stream.read(asked - got)
                if not part:
                    break
                parts.append(part)
                got += len(part)
    except OSError as exc:
        raise PackageError(f"cannot read {piece.entry.archive_path}: {exc.strerror or exc}",
                           where=str(source),
                           fix="check that the file exists and is readable") from exc
    if got != wanted:
        raise PackageError(
            f"{piece.entry.archive_path} changed size while being packaged "
            f"(expected {piece.entry.size} bytes)", where=str(source),
            fix="stop whatever is writing into the app folder, then package again")
    return parts[0] if len(parts) == 1 else b"".join(parts)


@functools.cache
def _fix_mmap_threshold() -> None:
    """Serve the 1 MiB piece buffers with mmap, so freeing them returns them to the system.

    glibc raises its mmap threshold after the first such buffer is freed, and from then on
    serves them from per-thread arenas, which keep freed memory: peak RSS then depends on how
    the worker threads happen to be scheduled (once seen at 4x the usual peak). Fixing the
    threshold is process-wide, harmless elsewhere, and skipped where there is no glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
    except (OSError, AttributeError):
        pass


def _packed_in_order(ordered: Sequence[FileEntry]) -> Generator[tuple[_Piece, _Packed], None, None]:
    """Compress on worker threads, yielding results in archive order with bounded look-ahead."""
    _fix_mmap_threshold()
    workers = max(1, min(8, _cpu_count()))
    jobs = _plan_jobs(ordered)
    with ThreadPoolExecutor(workers, thread_name_prefix="azpublish-zip") as pool:
        pending: deque[tuple[list[_Piece], Future[list[_Packed]]]] = deque()
        try:
            for job in jobs:
                pending.append((job, pool.submit(_pack_job, job)))
                if len(pending) >= workers * _JOBS_PER_WORKER:
                    break
            while pending:
                job, future = pending.popleft()
                results = future.result()
                following = next(jobs, None)
                if following is not None:
                    pending.append((following, pool.submit(_pack_job, following)))
                yield from zip(job, results, strict=True)
        finally:
            for _, future in pending:
                future.cancel()


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# -- writing, on the caller's thread ------------------------------------------------------------


class _TempArchive:
    """A temporary file beside ``dest`` that hashes what it is given and enforces ``max_size``.

    Hashing is paused while a large entry's local header waits for its CRC and sizes; once the
    header is patched in place, the paused span is read back (from the page cache) and hashed.
    """

    def __init__(self, dest: Path, max_size: int | None) -> None:
        self.dest = dest
        self.max_size = max_size
        self.temp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.tmp"
        self.position = 0
        self._hash = hashlib.sha256()
        self._hashed = 0
        self._paused = False
        self._stream: BinaryIO | None = None

    def __enter__(self) -> _TempArchive:
        try:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            # 0o666 so the umask decides the final mode, as for any file the user creates.
            fd = os.open(self.temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except OSError as exc:
            raise self._write_error(exc) from exc
        self._stream = os.fdopen(fd, "w+b", buffering=PIECE_SIZE)  # closed in __exit__
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        stream, self._stream = self._stream, None
        failed = kind is not None
        try:
            if stream is not None:
                stream.close()  # flushes: on a full disk this fails too
        except OSError as exc:
            if not failed:  # while already failing, the first error is the one to report
                failed = True
                raise self._write_error(exc) from exc
        finally:
            if failed:  # held by write_package too; at once here, as the disk may be full
                self.temp.unlink(missing_ok=True)

    def write(self, data: bytes) -> None:
        self.position += len(data)
        if self.max_size is not None and self.position > self.max_size:
            raise PackageError(
                f"the package is over the size limit of {_size(self.max_size)}: already "
                f"{_size(self.position)} written, so it was not kept", where=str(self.dest),
                fix="see what goes in with --list-included-files, exclude what the app does not "
                    "need in .funcignore, or raise --max-package-size")
        try:
            self._io.write(data)
        except OSError as exc:
            raise self._write_error(exc) from exc
        if not self._paused:
            self._hash.update(data)
            self._hashed = self.position

    def pause_hashing(self) -> None:
        self._paused = True

    def patch_and_resume(self, offset: int, data: bytes) -> None:
        """Overwrite bytes already written at ``offset``, then hash everything not yet hashed."""
        stream = self._io
        try:
            stream.seek(offset)
            stream.write(data)
            stream.seek(self._hashed)
            while self._hashed < self.position:
                block = stream.read(min(PIECE_SIZE, self.position - self._hashed))
                self._hash.update(block)
                self._hashed += len(block)
            stream.seek(self.position)
        except OSError as exc:
            raise self._write_error(exc) from exc
        self._paused = False

    def commit(self) -> tuple[int, str]:
        """Close and rename onto ``dest``; returns the size and the sha256 of the archive."""
        try:
            stream, self._stream = self._io, None
            stream.close()
            # No fsync: the package is a rebuildable artefact, read back at once for the upload.
            self.temp.replace(self.dest)
        except OSError as exc:
            raise self._write_error(exc) from exc
        return self.position, self._hash.hexdigest()

    @property
    def _io(self) -> BinaryIO:
        assert self._stream is not None, "the archive is not open"
        return self._stream

    def _write_error(self, exc: OSError) -> PackageError | BuildError:
        if exc.errno in _NO_ROOM:  # the machine's condition, not a bad input: a build failure
            try:
                free = f"{shutil.disk_usage(self.dest.parent).free / (1 << 20):.0f} MiB free"
            except OSError:
                free = "free space unknown"
            return BuildError(f"cannot write the package: {exc.strerror or exc} after "
                              f"{_size(self.position)} ({free} in {self.dest.parent})",
                              where=str(self.dest),
                              fix="free some space there, or write the package elsewhere "
                                  "(--output-zip, or TMPDIR for the temporary one)")
        return PackageError(f"cannot write the package: {exc.strerror or exc}",
                            where=str(self.dest),
                            fix=f"check free space and permissions in {self.dest.parent}")


@dataclass
class _Member:
    """What the central directory needs to know about one written entry."""

    entry: FileEntry
    name: bytes
    method: int
    header_offset: int
    zip64_sizes: bool
    crc: int = 0
    compressed: int = 0
    data_offset: int = 0


def _new_member(entry: FileEntry, header_offset: int) -> _Member:
    method = _method(entry)
    return _Member(entry, entry.archive_path.encode("utf-8"), method, header_offset,
                   _needs_zip64_sizes(entry.size, method))


def _write_members(ordered: Sequence[FileEntry], archive: _TempArchive,
                   progress: Callable[[int], None] | None,
                   reused: Mapping[str, MemoMember], previous: MemoReader | None
                   ) -> list[_Member]:
    members: list[_Member] = []
    done = reported = 0
    # Workers compress only what is not reused; this thread interleaves both in archive order.
    packed = _packed_in_order([entry for entry in ordered if entry.archive_path not in reused])
    with contextlib.closing(packed):
        for entry in ordered:
            member = _new_member(entry, archive.position)
            members.append(member)
            memo = reused.get(entry.archive_path)
            if memo is not None:
                assert previous is not None, "reused members come from the previous package"
                _copy_member(member, memo, previous, archive)
                done += entry.size
            else:
                while True:
                    piece, result = next(packed)
                    assert piece.entry is entry, "pieces come in archive order"
                    if piece.offset == 0 and piece.last:  # a whole file: header final at once
                        member.crc, member.compressed = result.crc, len(result.data)
                        archive.write(_local_header(member))
                        member.data_offset = archive.position
                        archive.write(result.data)
                    else:
                        _write_slice(member, piece, result, archive)
                    done += piece.length
                    if piece.last:
                        break
            if progress is not None and done - reported >= PIECE_SIZE:
                progress(done)
                reported = done
    if progress is not None:
        progress(done)
    return members


def _copy_member(member: _Member, memo: MemoMember, previous: MemoReader,
                 archive: _TempArchive) -> None:
    """Write the header, then stream the compressed bytes from the previous package."""
    member.crc, member.compressed = memo.crc, memo.compressed
    archive.write(_local_header(member))
    member.data_offset = archive.position
    try:
        for chunk in previous.chunks(memo.data_offset, memo.compressed):
            archive.write(chunk)
    except (OSError, EOFError) as exc:
        raise PackageError(f"cannot copy {member.entry.archive_path} from the previous package: "
                           f"{exc}", where="the package memo",
                           fix="something changed the memo while packaging; package again, or "
                               "delete the memo folder") from exc


def _write_slice(member: _Member, piece: _Piece, result: _Packed, archive: _TempArchive) -> None:
    """One slice of a large file: a placeholder header first, patched after the last slice."""
    if piece.offset == 0:
        archive.pause_hashing()
        archive.write(_local_header(member))
        member.data_offset = archive.position
    assert result.raw is not None, "slices keep their input for the CRC"
    member.crc = zlib.crc32(result.raw, member.crc)
    member.compressed += len(result.data)
    archive.write(result.data)
    if piece.last:
        archive.patch_and_resume(member.header_offset, _local_header(member))


def _needs_zip64_sizes(size: int, method: int) -> bool:
    # Decided from the input size alone, so the header layout is known before any data is;
    # the margin covers deflate's worst-case growth on incompressible input.
    bound = size if method == _STORED else size + (size >> 8) + 1024
    return bound >= ZIP64_SIZE_LIMIT


def _flags(member: _Member) -> int:
    return _UTF8_NAME if not member.name.isascii() else 0


def _version_needed(member: _Member, zip64: bool) -> int:
    return 45 if zip64 else 20 if member.method == _DEFLATED else 10


def _local_header(member: _Member) -> bytes:
    if member.compressed >= _MAX32 and not member.zip64_sizes:
        raise PackageError(f"{member.entry.archive_path} compressed to more than 4 GiB",
                           where=str(member.entry.source), fix="exclude it (.funcignore)")
    if member.zip64_sizes:
        extra = struct.pack("<HHQQ", 1, 16, member.entry.size, member.compressed)
        sizes = (_MAX32, _MAX32)
    else:
        extra, sizes = b"", (member.compressed, member.entry.size)
    header = _LOCAL.pack(0x04034B50, _version_needed(member, member.zip64_sizes), _flags(member),
                         member.method, _DOS_TIME, _DOS_DATE, member.crc, *sizes,
                         len(member.name), len(extra))
    return header + member.name + extra


def _central_record(member: _Member) -> bytes:
    fields: list[int] = []
    sizes = (member.compressed, member.entry.size)
    if member.zip64_sizes:
        fields += [member.entry.size, member.compressed]
        sizes = (_MAX32, _MAX32)
    offset = member.header_offset
    if offset >= ZIP64_SIZE_LIMIT:
        fields.append(offset)
        offset = _MAX32
    extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
    version = _version_needed(member, bool(fields))
    mode = 0o100755 if member.entry.executable else 0o100644
    record = _CENTRAL.pack(0x02014B50, (_UNIX << 8) | version, version, _flags(member),
                           member.method, _DOS_TIME, _DOS_DATE, member.crc, *sizes,
                           len(member.name), len(extra), 0, 0, 0, mode << 16, offset)
    return record + member.name + extra


def _write_central_directory(members: Sequence[_Member], archive: _TempArchive) -> None:
    start = archive.position
    for member in members:
        archive.write(_central_record(member))
    count, size = len(members), archive.position - start
    if count >= ZIP64_COUNT_LIMIT or start >= ZIP64_SIZE_LIMIT or size >= ZIP64_SIZE_LIMIT:
        end64 = archive.position
        archive.write(_END64.pack(0x06064B50, _END64.size - 12, (_UNIX << 8) | 45, 45, 0, 0,
                                  count, count, size, start))
        archive.write(_END64_LOCATOR.pack(0x07064B50, 0, end64, 1))
    # Fields too small for their value hold the sentinel; readers then use the zip64 record.
    archive.write(_END.pack(0x06054B50, 0, 0, min(count, _MAX16), min(count, _MAX16),
                            min(size, _MAX32), min(start, _MAX32), 0))


def _size(size: int) -> str:
    return f"{size} bytes ({size / (1 << 20):.1f} MiB)"


# -- reuse of a previous package ------------------------------------------------------------


def _writer_key() -> str:
    """Everything the compressed bytes of a given input depend on, besides the input."""
    return (f"azpublish-zip/{_WRITER_FORMAT} zlib={zlib.ZLIB_RUNTIME_VERSION} level={_LEVEL} "
            f"piece={PIECE_SIZE} window={_WINDOW}")


def _stat_sources(ordered: Sequence[FileEntry]) -> dict[str, StatKey]:
    return {entry.archive_path: stat_key(entry.stat()) for entry in ordered}


def _reusable(ordered: Sequence[FileEntry], sources: Mapping[str, StatKey],
              previous: MemoReader | None) -> dict[str, MemoMember]:
    """Members of the previous package whose source is unchanged and whose header checks out."""
    reused: dict[str, MemoMember] = {}
    if previous is None:
        return reused
    for entry in ordered:
        memo = previous.members.get(entry.archive_path)
        key = sources.get(entry.archive_path)
        if memo is None or key is None or memo.source != key or key[0] != entry.size \
                or memo.uncompressed != entry.size or memo.method != _method(entry):
            continue
        member = _new_member(entry, memo.header_offset)
        member.crc, member.compressed = memo.crc, memo.compressed
        try:
            header = _local_header(member)
        except PackageError:
            continue  # sizes no header of this layout can hold: a corrupt index
        if memo.data_offset == memo.header_offset + len(header) \
                and previous.read_at(memo.header_offset, len(header)) == header:
            reused[entry.archive_path] = memo
    return reused


def _memo_members(members: Sequence[_Member], sources: Mapping[str, StatKey],
                  started_ns: int) -> dict[str, MemoMember]:
    """The index of the package just written: members whose source was stable when read."""
    memo: dict[str, MemoMember] = {}
    for member in members:
        path = member.entry.archive_path
        key = sources.get(path)
        if key is None or key[0] != member.entry.size or key[1] > started_ns - RACY_NS:
            continue
        memo[path] = MemoMember(key, member.crc, member.method, member.compressed,
                                member.entry.size, member.header_offset, member.data_offset)
    return memo


# -- the size report ----------------------------------------------------------------------------


def _group(archive_path: str) -> str:
    parts = archive_path.split("/")
    if tuple(parts[:3]) == _SITE_PACKAGES and len(parts) > 3:
        return "/".join(parts[:4])
    return parts[0]


def _largest_groups(members: Iterable[_Member]) -> tuple[EntrySize, ...]:
    return largest_groups((m.entry.archive_path, m.entry.size, m.compressed) for m in members)


def largest_groups(entries: Iterable[tuple[str, int, int]]) -> tuple[EntrySize, ...]:
    """The largest groups of (archive path, size, compressed size) entries, descending."""
    totals: dict[str, tuple[int, int]] = {}
    for path, size, compressed in entries:
        name = _group(path)
        raw, packed = totals.get(name, (0, 0))
        totals[name] = (raw + size, packed + compressed)
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    return tuple(EntrySize(name, raw, packed) for name, (raw, packed) in ranked[:LARGEST_GROUPS])
