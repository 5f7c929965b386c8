"""Unpacking uploads: zip slip, bombs, modes, and telling zips from other bytes."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from azpublish.emulator.unpack import extract, is_zip
from azpublish.errors import PackageError, UnsafePathError


def _zip(path: Path, entries: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            archive.writestr(info, data)
    return path


def test_extracts_files_and_keeps_unix_modes(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "p.zip", {"host.json": b"{}", "bin/run.sh": b"#!/bin/sh\n"},
                   {"bin/run.sh": stat.S_IFREG | 0o755})
    done = extract(archive, tmp_path / "out")
    assert (done.files, done.bytes) == (2, 12)
    assert (tmp_path / "out" / "host.json").read_bytes() == b"{}"
    assert (tmp_path / "out" / "bin" / "run.sh").stat().st_mode & 0o111


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "a/../../evil", "..\\evil",
                                  "C:/evil"])
def test_entries_escaping_the_target_refuse_the_package(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "p.zip", {"ok.txt": b"1", name: b"x"})
    with pytest.raises(UnsafePathError):
        extract(archive, tmp_path / "deep" / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "deep" / "evil.txt").exists()


def test_an_archive_expanding_beyond_the_bound_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("zeros", bytes(1_000_000))
    assert archive.stat().st_size < 10_000
    with pytest.raises(PackageError):
        extract(archive, tmp_path / "out", max_expanded=500_000)


def test_is_zip_tells_zips_from_other_bytes(tmp_path: Path) -> None:
    assert is_zip(_zip(tmp_path / "p.zip", {"a": b"b"}))
    (tmp_path / "text").write_bytes(b"PK but not really a zip")
    (tmp_path / "empty").write_bytes(b"")
    assert not is_zip(tmp_path / "text")
    assert not is_zip(tmp_path / "empty")
    assert not is_zip(tmp_path / "missing")
