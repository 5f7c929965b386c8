"""The compression cache: reused members give the very bytes of a fresh write, and a memo that
does not match what it claims is never trusted."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import azpublish.package as package
from azpublish.errors import PackageError
from azpublish.package import PIECE_SIZE, PackageMemo, PackageReport, write_package
from tests.functional.test_package import APP, compressible, entries_of, make_tree

FILES = {
    **APP,
    "big.txt": compressible(2 * PIECE_SIZE + 99),  # sliced: compressed in several pieces
    "data/archive.gz": os.urandom(3000),  # stored by name
    "data/empty.txt": b"",
    "data/ünïcode.py": b"x = 1\n" * 50,
}
EXECUTABLE = frozenset({"bin/tool"})


def age(root: Path, seconds_ago: int = 3600) -> None:
    """Give every file an old mtime, as hardlinked files from the build cache have."""
    stamp = time.time_ns() - seconds_ago * 10**9
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(stamp, stamp))


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = make_tree(tmp_path / "app", FILES, EXECUTABLE)
    age(root)
    return root


def fresh(root: Path, dest: Path) -> PackageReport:
    return write_package(entries_of(root), dest)


def primed(root: Path, tmp_path: Path) -> PackageMemo:
    memo = PackageMemo(tmp_path / "memo")
    first = write_package(entries_of(root), tmp_path / "first.zip", reuse=memo)
    assert first.reused_entries == 0 and first.reused_bytes == 0
    assert memo.zip_path.is_file() and memo.index_path.is_file()
    return memo


def test_reuse_gives_the_same_bytes_and_reuses_every_untouched_entry(app: Path,
                                                                     tmp_path: Path) -> None:
    memo = primed(app, tmp_path)
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    reference = fresh(app, tmp_path / "fresh.zip")
    assert warm.sha256 == reference.sha256 == hashlib.sha256(warm.path.read_bytes()).hexdigest()
    assert warm.path.read_bytes() == reference.path.read_bytes()
    assert warm.reused_entries == len(FILES)
    assert warm.reused_bytes == sum(len(content) for content in FILES.values())
    assert warm.largest == reference.largest
    with zipfile.ZipFile(warm.path) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in archive.namelist()} == FILES


def test_changed_file_is_recompressed_and_the_rest_reused(app: Path, tmp_path: Path) -> None:
    memo = primed(app, tmp_path)
    edited = app / "function_app.py"
    before = edited.stat()
    content = edited.read_bytes()
    new_content = content.replace(b"import", b"IMPORT", 1)  # same size, same inode
    edited.write_bytes(new_content)
    os.utime(edited, ns=(before.st_mtime_ns + 1, before.st_mtime_ns + 1))  # still long ago
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    reference = fresh(app, tmp_path / "fresh.zip")
    assert warm.sha256 == reference.sha256
    assert warm.reused_entries == len(FILES) - 1
    assert warm.reused_bytes == sum(map(len, FILES.values())) - len(content)
    with zipfile.ZipFile(warm.path) as archive:
        assert archive.read("function_app.py") == new_content


def test_replaced_file_with_same_size_and_mtime_is_caught_by_its_inode(app: Path,
                                                                       tmp_path: Path) -> None:
    memo = primed(app, tmp_path)
    target = app / "big.txt"
    old = target.stat()
    content = target.read_bytes()
    new_content = content[::-1]
    replacement = app / "big.txt.new"
    replacement.write_bytes(new_content)
    os.utime(replacement, ns=(old.st_atime_ns, old.st_mtime_ns))
    replacement.replace(target)
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (old.st_size, old.st_mtime_ns)
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    assert warm.reused_entries == len(FILES) - 1
    assert warm.sha256 == fresh(app, tmp_path / "fresh.zip").sha256
    with zipfile.ZipFile(warm.path) as archive:
        assert archive.read("big.txt") == new_content


def test_files_modified_just_before_a_write_are_not_memoised(app: Path, tmp_path: Path) -> None:
    (app / "function_app.py").write_bytes(b"app = 2\n")  # mtime: now
    memo = primed(app, tmp_path)
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    assert warm.reused_entries == len(FILES) - 1  # a same-size edit could share its mtime
    assert warm.sha256 == fresh(app, tmp_path / "fresh.zip").sha256


def test_added_and_removed_files(app: Path, tmp_path: Path) -> None:
    memo = primed(app, tmp_path)
    (app / "data/empty.txt").unlink()
    make_tree(app, {"new/module.py": b"y = 2\n" * 10})
    age(app / "new")
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    assert warm.reused_entries == len(FILES) - 1
    assert warm.sha256 == fresh(app, tmp_path / "fresh.zip").sha256


def test_memo_outlives_the_output_and_survives_writing_over_it(app: Path, tmp_path: Path) -> None:
    memo = PackageMemo(tmp_path / "memo")
    dest = tmp_path / "app.zip"
    first = write_package(entries_of(app), dest, reuse=memo)
    assert memo.zip_path.read_bytes() == dest.read_bytes()
    dest.unlink()
    second = write_package(entries_of(app), dest, reuse=memo)  # replaces dest by rename
    third = write_package(entries_of(app), dest, reuse=memo)
    assert first.sha256 == second.sha256 == third.sha256
    assert second.reused_entries == third.reused_entries == len(FILES)


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as stream:
        stream.seek(offset)
        byte = stream.read(1)
        stream.seek(offset)
        stream.write(bytes([byte[0] ^ 0xFF]))


def member_offsets(memo: PackageMemo, name: str) -> tuple[int, int]:
    row = json.loads(memo.index_path.read_text())["members"][name]
    return row[8], row[9]  # header and data offsets


@pytest.mark.parametrize("damage", ["truncate", "flip data byte", "bad json", "other writer",
                                    "index names another zip", "no zip"])
def test_damaged_memo_is_ignored_then_rebuilt(app: Path, tmp_path: Path, damage: str) -> None:
    memo = primed(app, tmp_path)
    if damage == "truncate":
        with memo.zip_path.open("r+b") as stream:
            stream.truncate(memo.zip_path.stat().st_size - 10)
    elif damage == "flip data byte":
        flip_byte(memo.zip_path, member_offsets(memo, "big.txt")[1] + 100)
    elif damage == "bad json":
        memo.index_path.write_text(memo.index_path.read_text()[:-20])
    elif damage == "other writer":
        index = json.loads(memo.index_path.read_text())
        index["writer"] = index["writer"].replace("zlib=", "zlib=0")
        memo.index_path.write_text(json.dumps(index))
    elif damage == "index names another zip":
        copy = tmp_path / "copy.zip"
        copy.write_bytes(memo.zip_path.read_bytes())
        copy.replace(memo.zip_path)  # same bytes, another inode and mtime
    else:
        memo.zip_path.unlink()
    reference = fresh(app, tmp_path / "fresh.zip")
    rebuilt = write_package(entries_of(app), tmp_path / "rebuilt.zip", reuse=memo)
    assert rebuilt.reused_entries == 0
    assert rebuilt.sha256 == reference.sha256
    again = write_package(entries_of(app), tmp_path / "again.zip", reuse=memo)
    assert again.reused_entries == len(FILES)
    assert again.sha256 == reference.sha256


def test_tampered_header_with_restored_mtime_is_caught_member_by_member(app: Path,
                                                                        tmp_path: Path) -> None:
    memo = primed(app, tmp_path)
    before = memo.zip_path.stat()
    header, _ = member_offsets(memo, "host.json")
    flip_byte(memo.zip_path, header + 14)  # the CRC field of host.json's local header
    os.utime(memo.zip_path, ns=(before.st_atime_ns, before.st_mtime_ns))  # hides the edit
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    assert warm.reused_entries == len(FILES) - 1
    assert warm.sha256 == fresh(app, tmp_path / "fresh.zip").sha256


def test_index_rows_lying_about_their_member_are_not_used(app: Path, tmp_path: Path) -> None:
    memo = primed(app, tmp_path)
    index = json.loads(memo.index_path.read_text())
    index["members"]["big.txt"][4] ^= 1  # its CRC
    index["members"]["host.json"][9] += 1  # its data offset
    index["members"]["bin/tool"][6] += 1  # its compressed size
    memo.index_path.write_text(json.dumps(index))  # last.zip itself is untouched
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    assert warm.reused_entries == len(FILES) - 3
    assert warm.sha256 == fresh(app, tmp_path / "fresh.zip").sha256


def test_index_row_past_the_end_of_the_zip_discards_the_index(app: Path, tmp_path: Path) -> None:
    memo = primed(app, tmp_path)
    index = json.loads(memo.index_path.read_text())
    index["members"]["bin/tool"][6] = 2**33  # its compressed size
    memo.index_path.write_text(json.dumps(index))
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    assert warm.reused_entries == 0
    assert warm.sha256 == fresh(app, tmp_path / "fresh.zip").sha256


def test_other_slice_size_invalidates_the_memo(app: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    memo = primed(app, tmp_path)
    monkeypatch.setattr(package, "PIECE_SIZE", 4096)
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    assert warm.reused_entries == 0
    assert warm.sha256 == fresh(app, tmp_path / "fresh.zip").sha256


def test_failed_write_leaves_the_memo_intact(app: Path, tmp_path: Path) -> None:
    memo = primed(app, tmp_path)
    saved = (memo.zip_path.read_bytes(), memo.index_path.read_bytes(), memo.zip_path.stat().st_ino)
    (app / "function_app.py").write_bytes(b"changed = True\n")
    with pytest.raises(PackageError, match="size limit"):
        write_package(entries_of(app), tmp_path / "small.zip", max_size=1000, reuse=memo)
    assert (memo.zip_path.read_bytes(), memo.index_path.read_bytes(),
            memo.zip_path.stat().st_ino) == saved
    assert sorted(p.name for p in memo.folder.iterdir()) == ["last.json", "last.zip", "lock"]
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    assert warm.reused_entries == len(FILES) - 1


def test_memo_that_cannot_be_saved_does_not_fail_the_package(app: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    report = write_package(entries_of(app), tmp_path / "app.zip", reuse=PackageMemo(blocker))
    assert report.sha256 == fresh(app, tmp_path / "fresh.zip").sha256
    assert blocker.read_text() == "x"


def test_reused_members_are_streamed_in_bounded_reads(app: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    big = os.urandom(5 * PIECE_SIZE)  # incompressible: its member is over 5 MiB
    make_tree(app, {"blob.bin": big})
    age(app)
    memo = primed(app, tmp_path)
    reads: list[int] = []
    real_pread = os.pread

    def recording_pread(fd: int, size: int, offset: int) -> bytes:
        reads.append(size)
        return real_pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", recording_pread)
    warm = write_package(entries_of(app), tmp_path / "warm.zip", reuse=memo)
    assert warm.reused_entries == len(FILES) + 1
    assert max(reads) <= PIECE_SIZE
    assert sum(reads) >= len(big)  # the member was copied, through those reads
    with zipfile.ZipFile(warm.path) as archive:
        assert archive.read("blob.bin") == big


def test_concurrent_packagers_on_one_memo_keep_it_valid(app: Path, tmp_path: Path) -> None:
    memo = PackageMemo(tmp_path / "memo")
    reference = fresh(app, tmp_path / "fresh.zip")
    start = threading.Barrier(2)

    def packager(name: str) -> list[str]:
        start.wait()
        return [write_package(entries_of(app), tmp_path / f"{name}{round_}.zip",
                              reuse=memo).sha256 for round_ in range(4)]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(packager, ["a", "b"]))
    assert {sha for shas in results for sha in shas} == {reference.sha256}
    final = write_package(entries_of(app), tmp_path / "final.zip", reuse=memo)
    assert final.reused_entries == len(FILES)
    assert final.sha256 == reference.sha256
    assert not [p for p in memo.folder.iterdir() if p.name.endswith(".tmp")]


def test_memo_folder_is_per_app_root(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    one = PackageMemo.for_app(tmp_path / "one", cache)
    assert one.folder.parent == cache / "packages"
    assert PackageMemo.for_app(tmp_path / "one" / "x" / "..", cache).folder == one.folder
    assert PackageMemo.for_app(tmp_path / "two", cache).folder != one.folder
