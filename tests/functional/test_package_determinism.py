"""Same selection, same bytes: whatever the mtimes, modes, order, location or core count."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import azpublish.package as package
from azpublish.ignore import FileEntry
from azpublish.package import PIECE_SIZE, write_package
from tests.functional.test_package import APP, compressible, entries_of, make_tree, needs_unzip

EXECUTABLE = frozenset({"bin/tool"})


def disturb(root: Path, seed: int) -> None:
    """Give every file another mtime and other permission bits, keeping each exec bit."""
    rng = random.Random(seed)
    for path in root.rglob("*"):
        if path.is_file():
            stamp = rng.randint(0, 2_000_000_000)
            os.utime(path, (stamp, stamp))
            executable = path.stat().st_mode & 0o100
            path.chmod(rng.choice([0o700, 0o750, 0o775]) if executable
                       else rng.choice([0o600, 0o640, 0o664, 0o444]))


def test_same_tree_gives_same_bytes_despite_mtimes_modes_order_and_place(tmp_path: Path) -> None:
    files = {**APP, "big.txt": compressible(2 * PIECE_SIZE + 99)}
    first = make_tree(tmp_path / "one", files, EXECUTABLE)
    second = make_tree(tmp_path / "elsewhere" / "two", files, EXECUTABLE)
    disturb(second, seed=1)
    shuffled = entries_of(second)
    random.Random(2).shuffle(shuffled)
    previous = os.umask(0o077)
    try:
        a = write_package(entries_of(first), tmp_path / "a.zip")
        b = write_package(shuffled, tmp_path / "b.zip")
    finally:
        os.umask(previous)
    assert a.sha256 == b.sha256
    assert a.path.read_bytes() == b.path.read_bytes()


def test_exec_bit_and_content_do_change_the_bytes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app", APP, EXECUTABLE)
    base = write_package(entries_of(root), tmp_path / "base.zip").sha256
    (root / "bin/tool").chmod(0o644)
    without_exec = write_package(entries_of(root), tmp_path / "noexec.zip").sha256
    (root / "host.json").write_bytes(b'{"version": "2.0"} ')
    edited = write_package(entries_of(root), tmp_path / "edited.zip").sha256
    assert len({base, without_exec, edited}) == 3


@pytest.mark.parametrize("workers", [1, 3, 8])
def test_core_count_does_not_change_the_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              workers: int) -> None:
    files = {**APP, "big.bin": compressible(3 * PIECE_SIZE + 5) + os.urandom(PIECE_SIZE)}
    root = make_tree(tmp_path / "app", files, EXECUTABLE)
    reference = write_package(entries_of(root), tmp_path / "ref.zip")
    monkeypatch.setattr(package, "_cpu_count", lambda: workers)
    assert write_package(entries_of(root), tmp_path / "other.zip").sha256 == reference.sha256


NAME = st.text(alphabet="abé_-.0", min_size=1, max_size=6).filter(lambda n: n not in {".", ".."})
TREE = st.dictionaries(
    keys=st.lists(NAME, min_size=1, max_size=3).map("/".join),
    values=st.tuples(st.binary(max_size=2500) | st.builds(compressible, st.integers(0, 9000)),
                     st.booleans()),
    max_size=12,
)


def without_conflicts(tree: dict[str, tuple[bytes, bool]]) -> bool:
    """No path may also be the folder of another one."""
    folders = {path.rsplit("/", 1)[0] for path in tree if "/" in path}
    return not any(f == p or f.startswith(p + "/") for f in folders for p in tree)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=TREE.filter(without_conflicts), order=st.randoms(use_true_random=False),
       piece=st.sampled_from([700, 4096]), workers=st.integers(1, 4))
def test_generated_trees_round_trip_and_are_stable(tree: dict[str, tuple[bytes, bool]],
                                                   order: random.Random, piece: int,
                                                   workers: int) -> None:
    tree = {k: v for k, v in tree.items() if k != "host.json"}
    tree["host.json"] = (b"{}", False)
    files = {path: content for path, (content, _) in tree.items()}
    executable = frozenset(path for path, (_, exe) in tree.items() if exe)
    with tempfile.TemporaryDirectory() as scratch, pytest.MonkeyPatch.context() as patch:
        # Small slices make the slicing, batching and dictionary priming show on small inputs.
        patch.setattr(package, "PIECE_SIZE", piece)
        base = Path(scratch)
        first = make_tree(base / "first", files, executable)
        second = make_tree(base / "second", files, executable)
        disturb(second, seed=order.randint(0, 1000))
        shuffled = entries_of(second)
        order.shuffle(shuffled)
        a = write_package(entries_of(first), base / "a.zip")
        patch.setattr(package, "_cpu_count", lambda: workers)
        b = write_package(shuffled, base / "b.zip")
        assert a.sha256 == b.sha256
        with zipfile.ZipFile(a.path) as archive:
            assert archive.testzip() is None
            assert archive.namelist() == sorted(files)
            for info in archive.infolist():
                assert archive.read(info) == files[info.filename]
                mode = 0o100755 if info.filename in executable else 0o100644
                assert info.external_attr >> 16 == mode


def zip64_records(data: bytes) -> bool:
    return b"PK\x06\x06" in data and b"PK\x06\x07" in data


def test_no_zip64_when_not_needed(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app", APP)
    report = write_package(entries_of(root), tmp_path / "app.zip")
    assert not zip64_records(report.path.read_bytes())


@needs_unzip
def test_zip64_layout_is_read_by_zipfile_and_unzip(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The real limits (4 GiB, 65535 entries) cost minutes to reach; lowering the thresholds
    # runs the same zip64 code path, and two independent readers check the result.
    monkeypatch.setattr(package, "ZIP64_SIZE_LIMIT", 3500)
    monkeypatch.setattr(package, "ZIP64_COUNT_LIMIT", 5)
    files = {**APP, "big.txt": compressible(2 * PIECE_SIZE + 1), "rand.bin": os.urandom(4000)}
    root = make_tree(tmp_path / "app", files, EXECUTABLE)
    report = write_package(entries_of(root), tmp_path / "app.zip")
    data = report.path.read_bytes()
    assert zip64_records(data)
    with zipfile.ZipFile(report.path) as archive:
        assert archive.testzip() is None
        infos = {i.filename: i for i in archive.infolist()}
        assert set(infos) == set(files)
        for name, content in files.items():
            assert archive.read(name) == content
    assert infos["rand.bin"].extra != b""  # sizes in the zip64 extra field
    assert infos["host.json"].extra != b""  # its offset is past the (lowered) limit
    assert infos[".python_packages/lib/site-packages/six.py"].extra == b""  # first and small
    unzip = shutil.which("unzip")
    assert unzip is not None
    tested = subprocess.run([unzip, "-t", str(report.path)], capture_output=True, text=True,
                            check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_many_entries_need_zip64_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package, "ZIP64_COUNT_LIMIT", 40)
    root = tmp_path / "app"
    files = {"host.json": b"{}"} | {f"f/{i:03}.py": f"n = {i}\n".encode() for i in range(60)}
    make_tree(root, files)
    entries: list[FileEntry] = entries_of(root)
    report = write_package(entries, tmp_path / "app.zip")
    with zipfile.ZipFile(report.path) as archive:
        assert len(archive.infolist()) == 61
        assert archive.read("f/059.py") == b"n = 59\n"
    assert zip64_records(report.path.read_bytes())
