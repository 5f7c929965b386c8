"""The package writer's checks: everything refused before a single byte is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from azpublish.archive_paths import check_archive_path
from azpublish.errors import ExitCode, PackageError, UnsafePathError
from azpublish.ignore import FileEntry
from azpublish.package import write_package


@pytest.mark.parametrize("path", [
    "host.json",
    "HttpTrigger/__init__.py",
    ".python_packages/lib/site-packages/six.py",
    "..hidden/file",  # dots that are not a whole component are ordinary names
    "a/b..c/...",
    "données/файл.py",
    "ab:c",  # a colon makes a drive only after a single leading letter
])
def test_safe_paths_pass(path: str) -> None:
    check_archive_path(path)


@pytest.mark.parametrize(("path", "reason"), [
    ("../outside", "'..' or '.' component"),
    ("a/../../b", "'..' or '.' component"),
    ("a/..", "'..' or '.' component"),
    ("./host.json", "'..' or '.' component"),
    ("/etc/passwd", "absolute"),
    ("C:/Windows/system.ini", "absolute"),
    ("d:relative-to-drive", "absolute"),
    ("a\\b.py", "backslash"),
    ("..\\evil", "backslash"),
    ("a\0b", "NUL"),
    ("", "empty component"),
    ("a//b", "empty component"),
    ("folder/", "empty component"),
    ("bad\udcffname", "not valid UTF-8"),
    ("x" * 70_000, "longer than a zip entry name"),
])
def test_unsafe_paths_are_refused(path: str, reason: str) -> None:
    with pytest.raises(UnsafePathError, match=reason) as caught:
        check_archive_path(path)
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.fix and ".funcignore" in caught.value.fix


def entry(path: str, source: Path) -> FileEntry:
    # The sources never exist: these selections must be refused before anything is read.
    return FileEntry(archive_path=path, source=source / path.replace("/", "_"), size=1,
                     executable=False)


def assert_nothing_written(folder: Path) -> None:
    assert list(folder.iterdir()) == []


def test_unsafe_path_refused_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    entries = [entry("host.json", tmp_path), entry("a/../../escape.py", tmp_path)]
    with pytest.raises(UnsafePathError, match="escape.py"):
        write_package(entries, out / "app.zip")
    assert_nothing_written(out)


def test_selection_without_root_host_json_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    entries = [entry("function_app.py", tmp_path), entry("sub/host.json", tmp_path)]
    with pytest.raises(PackageError, match="no host.json at its root") as caught:
        write_package(entries, out / "app.zip")
    assert caught.value.exit_code == ExitCode.USAGE
    assert_nothing_written(out)


def test_empty_selection_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no host.json"):
        write_package([], tmp_path / "app.zip")
    assert_nothing_written(tmp_path)


def test_duplicate_archive_path_is_refused(tmp_path: Path) -> None:
    entries = [entry("host.json", tmp_path), entry("a.py", tmp_path), entry("a.py", tmp_path)]
    with pytest.raises(PackageError, match="'a.py' is selected twice"):
        write_package(entries, tmp_path / "app.zip")
    assert_nothing_written(tmp_path)


def test_path_that_is_both_file_and_folder_is_refused(tmp_path: Path) -> None:
    entries = [entry("host.json", tmp_path), entry("lib", tmp_path), entry("lib/x/y.py", tmp_path)]
    with pytest.raises(PackageError, match="'lib' is both a file and the folder of 'lib/x/y.py'"):
        write_package(entries, tmp_path / "app.zip")
    assert_nothing_written(tmp_path)


def test_destination_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "app.zip").mkdir()
    with pytest.raises(PackageError, match="is a folder"):
        write_package([entry("host.json", tmp_path)], tmp_path / "app.zip")
    assert list(tmp_path.iterdir()) == [tmp_path / "app.zip"]
