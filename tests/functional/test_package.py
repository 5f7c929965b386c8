"""The zip writer on real files: layout, round trips, failures that keep the old package."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

import azpublish.package as package
from azpublish.errors import ExitCode, PackageError
from azpublish.ignore import FileEntry, select_files
from azpublish.package import PIECE_SIZE, EntrySize, PackageMemo, write_package
from tests.conftest import PROJECTS

UNZIP = shutil.which("unzip")
needs_unzip = pytest.mark.skipif(UNZIP is None, reason="Info-ZIP unzip is not installed")


def make_tree(root: Path, files: dict[str, bytes], executable: frozenset[str] = frozenset()
              ) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(0o755 if name in executable else 0o644)
    return root


def entries_of(root: Path) -> list[FileEntry]:
    """Every file under ``root``, as the selection stage would describe it."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            mode = path.stat().st_mode
            found.append(FileEntry(path.relative_to(root).as_posix(), path, path.stat().st_size,
                                   bool(mode & 0o111)))
    return sorted(found, key=lambda e: e.archive_path)


def compressible(size: int, seed: int = 0) -> bytes:
    """Text-like bytes that deflate well, with repeats further apart than a slice boundary."""
    rng = random.Random(seed)
    words = [bytes(rng.choices(b"abcdefghijklmnop_", k=rng.randint(2, 12))) for _ in range(500)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=50)) + b"\n"
    return bytes(out[:size])


APP = {
    "host.json": b'{"version": "2.0"}\n',
    "function_app.py": b"import azure.functions as func\napp = func.FunctionApp()\n" * 20,
    "requirements.txt": b"azure-functions\n",
    "HttpTrigger/__init__.py": compressible(5000),
    "HttpTrigger/function.json": b'{"bindings": []}',
    "bin/tool": b"#!/bin/sh\necho hi\n",
    "empty.txt": b"",
    "wheels/dep-1.0-py3-none-any.whl": os.urandom(3000),
    ".python_packages/lib/site-packages/six.py": compressible(2000, seed=1),
    "données/été.txt": "ünïcödé\n".encode(),
}


def package_app(tmp_path: Path, files: dict[str, bytes] = APP,
                executable: frozenset[str] = frozenset({"bin/tool"})
                ) -> tuple[Path, package.PackageReport]:
    root = make_tree(tmp_path / "app", files, executable)
    report = write_package(entries_of(root), tmp_path / "out" / "app.zip")
    return root, report


def test_round_trip_with_fixed_metadata(tmp_path: Path) -> None:
    _, report = package_app(tmp_path)
    assert report.path == tmp_path / "out" / "app.zip"
    data = report.path.read_bytes()
    assert (report.size, report.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert report.file_count == len(APP)
    assert report.uncompressed_size == sum(map(len, APP.values()))
    with zipfile.ZipFile(report.path) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert [i.filename for i in infos] == sorted(APP)  # sorted, no folders, host.json at root
        for info in infos:
            assert archive.read(info) == APP[info.filename]
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.create_system == 3
            assert info.extra == b""
            mode = info.external_attr >> 16
            assert mode == (0o100755 if info.filename == "bin/tool" else 0o100644)
    methods = {i.filename: i.compress_type for i in infos}
    assert methods["function_app.py"] == zipfile.ZIP_DEFLATED
    assert methods["wheels/dep-1.0-py3-none-any.whl"] == zipfile.ZIP_STORED
    assert methods["empty.txt"] == zipfile.ZIP_STORED
    assert list((tmp_path / "out").iterdir()) == [report.path]  # no temporary file left


@needs_unzip
def test_info_zip_tests_and_extracts_with_modes(tmp_path: Path) -> None:
    _, report = package_app(tmp_path)
    assert UNZIP is not None
    tested = subprocess.run([UNZIP, "-t", str(report.path)], capture_output=True, text=True,
                            check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "No errors detected" in tested.stdout
    out = tmp_path / "extracted"
    subprocess.run([UNZIP, "-q", str(report.path), "-d", str(out)], check=True)
    assert entries_of(out) and {e.archive_path for e in entries_of(out)} == set(APP)
    assert (out / "bin/tool").stat().st_mode & 0o777 == 0o755
    assert (out / "host.json").stat().st_mode & 0o777 == 0o644
    assert (out / "données/été.txt").read_bytes() == APP["données/été.txt"]


def test_large_file_is_sliced_and_round_trips(tmp_path: Path) -> None:
    big = compressible(3 * PIECE_SIZE + 12345, seed=2)
    noisy = os.urandom(PIECE_SIZE + 1)  # incompressible, just over one slice
    files = {**APP, "data/big.txt": big, "data/noisy.bin": noisy, "zz_after.py": b"x = 1\n"}
    _, report = package_app(tmp_path, files)
    data = report.path.read_bytes()
    assert report.sha256 == hashlib.sha256(data).hexdigest()  # hashing resumed after patching
    with zipfile.ZipFile(report.path) as archive:
        assert archive.testzip() is None
        info = archive.getinfo("data/big.txt")
        assert zlib.crc32(big) == info.CRC
        assert archive.read("data/big.txt") == big
        assert archive.read("data/noisy.bin") == noisy
        assert archive.read("zz_after.py") == b"x = 1\n"


def test_slices_reach_back_into_the_previous_slice(tmp_path: Path) -> None:
    # Random bytes repeated every 20 kB: every slice but the first is almost all back-references
    # into the 32 KiB before it, which only priming with that dictionary can express.
    echo = (os.urandom(20_000) * (3 * PIECE_SIZE // 20_000 + 1))[: 3 * PIECE_SIZE]
    _, report = package_app(tmp_path, {**APP, "echo.bin": echo})
    with zipfile.ZipFile(report.path) as archive:
        assert archive.read("echo.bin") == echo
        packed = archive.getinfo("echo.bin").compress_size
    single = zlib.compressobj(6, zlib.DEFLATED, -15)
    assert packed < len(single.compress(echo) + single.flush()) * 1.05


def test_progress_reports_input_bytes_up_to_the_total(tmp_path: Path) -> None:
    files = {**APP, "big.bin": compressible(2 * PIECE_SIZE + 7, seed=3)}
    root = make_tree(tmp_path / "app", files)
    seen: list[int] = []
    report = write_package(entries_of(root), tmp_path / "app.zip", progress=seen.append)
    assert seen == sorted(seen)
    assert len(seen) >= 2
    assert seen[-1] == report.uncompressed_size == sum(map(len, files.values()))


def test_largest_groups_site_packages_by_distribution(tmp_path: Path) -> None:
    site = ".python_packages/lib/site-packages"
    files = {
        "host.json": b"{}",
        "function_app.py": b"a" * 300,
        "HttpTrigger/__init__.py": b"b" * 500,
        "HttpTrigger/function.json": b"b" * 600,
        f"{site}/numpy/__init__.py": b"c" * 1000,
        f"{site}/numpy/core/_multiarray.so": os.urandom(4000),
        f"{site}/six.py": b"d" * 700,
        ".python_packages/README": b"e" * 50,
    } | {f"group{i}/x.txt": b"f" * (10 + i) for i in range(8)}
    _, report = package_app(tmp_path, files, frozenset())
    assert len(report.largest) == 10
    assert report.largest[:4] == (
        EntrySize(f"{site}/numpy", 5000, report.largest[0].compressed),
        EntrySize("HttpTrigger", 1100, report.largest[1].compressed),
        EntrySize(f"{site}/six.py", 700, report.largest[2].compressed),
        EntrySize("function_app.py", 300, report.largest[3].compressed),
    )
    assert [g.name for g in report.largest[4:]] == [
        ".python_packages", "group7", "group6", "group5", "group4", "group3"]
    with zipfile.ZipFile(report.path) as archive:
        numpy_compressed = sum(i.compress_size for i in archive.infolist()
                               if i.filename.startswith(f"{site}/numpy/"))
    assert report.largest[0].compressed == numpy_compressed


def test_output_folder_is_created_and_umask_decides_the_mode(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app", APP)
    previous = os.umask(0o027)
    try:
        report = write_package(entries_of(root), tmp_path / "new" / "deeper" / "app.zip")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(report.path.stat().st_mode) == 0o640


def existing_package(tmp_path: Path) -> Path:
    dest = tmp_path / "out" / "app.zip"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"the previous package")
    return dest


def assert_only_previous_package(dest: Path) -> None:
    assert dest.read_bytes() == b"the previous package"
    assert list(dest.parent.iterdir()) == [dest]  # the temporary file is gone


def test_over_max_size_fails_and_keeps_the_previous_package(tmp_path: Path) -> None:
    files = {**APP, "noise.bin": os.urandom(3 * PIECE_SIZE)}
    root = make_tree(tmp_path / "app", files)
    dest = existing_package(tmp_path)
    with pytest.raises(PackageError) as caught:
        write_package(entries_of(root), dest, max_size=PIECE_SIZE)
    error = caught.value
    assert error.exit_code == ExitCode.USAGE
    assert f"limit of {PIECE_SIZE} bytes" in error.what
    assert error.fix and "--list-included-files" in error.fix and ".funcignore" in error.fix
    assert_only_previous_package(dest)


def test_over_max_size_leaves_no_file_when_there_was_none(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app", APP)
    (tmp_path / "out").mkdir()
    with pytest.raises(PackageError, match="over the size limit"):
        write_package(entries_of(root), tmp_path / "out" / "app.zip", max_size=100)
    assert list((tmp_path / "out").iterdir()) == []


def test_max_size_that_fits_is_fine(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app", APP)
    first = write_package(entries_of(root), tmp_path / "a.zip")
    again = write_package(entries_of(root), tmp_path / "b.zip", max_size=first.size)
    assert again.sha256 == first.sha256


def test_file_vanishing_after_selection_keeps_the_previous_package(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app", {**APP, "zz/big.bin": os.urandom(2 * PIECE_SIZE)})
    entries = entries_of(root)
    (root / "zz/big.bin").unlink()
    dest = existing_package(tmp_path)
    with pytest.raises(PackageError, match="cannot read zz/big.bin") as caught:
        write_package(entries, dest)
    assert caught.value.where == str(root / "zz/big.bin")
    assert_only_previous_package(dest)


def test_selected_file_vanishing_before_packaging_is_named(tmp_path: Path) -> None:
    # select_files reads sizes when packaging asks for them: a file gone by then is named.
    root = make_tree(tmp_path / "app", {**APP, "zz/gone.py": b"x = 1\n"})
    entries = select_files(root).included
    (root / "zz/gone.py").unlink()
    dest = existing_package(tmp_path)
    with pytest.raises(PackageError, match="cannot read zz/gone.py") as caught:
        write_package(entries, dest, reuse=PackageMemo(tmp_path / "memo"))
    assert caught.value.where == str(root / "zz/gone.py")
    assert_only_previous_package(dest)


@pytest.mark.parametrize("change", [b"grown", b""])
def test_file_changing_size_after_selection_is_refused(tmp_path: Path, change: bytes) -> None:
    root = make_tree(tmp_path / "app", APP)
    entries = entries_of(root)
    (root / "function_app.py").write_bytes(APP["function_app.py"] + change if change else b"x")
    dest = existing_package(tmp_path)
    with pytest.raises(PackageError, match="function_app.py changed size"):
        write_package(entries, dest)
    assert_only_previous_package(dest)


def test_failing_progress_callback_leaves_nothing_behind(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app", {**APP, "big.bin": os.urandom(3 * PIECE_SIZE)})
    dest = existing_package(tmp_path)

    def interrupt(_done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_package(entries_of(root), dest, progress=interrupt)
    assert_only_previous_package(dest)


def test_fixture_project_round_trips(tmp_path: Path) -> None:
    root = PROJECTS / "v2-http"
    selection = select_files(root)
    report = write_package(selection.included, tmp_path / "app.zip")
    with zipfile.ZipFile(report.path) as archive:
        assert archive.namelist() == [e.archive_path for e in selection.included]
        assert "host.json" in archive.namelist()
        for entry in selection.included:
            assert archive.read(entry.archive_path) == entry.source.read_bytes()
