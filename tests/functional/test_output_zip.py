"""--output-zip never replaces what is not a package, and a package written inside the app is
never packaged again."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PROJECTS, Run


@pytest.fixture
def app(project_copy: Callable[[str], Path]) -> Path:
    return project_copy("v2-http")


def publish_to(run: Run, app: Path, out: Path) -> tuple[int, str]:
    code, _, err = run("--project-dir", app, "--build", "custom", "--no-deploy",
                       "--output-zip", out)
    return code, err


def test_a_fifo_is_not_replaced(run: Run, app: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, err = publish_to(run, app, fifo)
    assert code == 2
    assert "named pipe" in err and "not a file" in err and str(fifo) in err
    assert fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != app.name
                  and p.name != "azpublish-cache") == ["pipe"]  # no temporary file left


def test_a_socket_and_a_device_are_not_replaced(run: Run, app: Path, tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        path = tmp_path / "sock"
        server.bind(str(path))
        code, err = publish_to(run, app, path)
        assert code == 2 and "socket" in err
        assert path.is_socket()
    code, err = publish_to(run, app, Path(os.devnull))
    assert code == 2 and "device file" in err
    assert Path(os.devnull).is_char_device()


def test_a_symlink_is_not_replaced(run: Run, app: Path, tmp_path: Path) -> None:
    target = tmp_path / "real.zip"
    link = tmp_path / "link.zip"
    link.symlink_to(target)
    code, err = publish_to(run, app, link)
    assert code == 2 and "symbolic link" in err and "real.zip" in err
    assert link.is_symlink() and not target.exists()


def test_a_file_that_is_not_a_zip_is_not_replaced(run: Run, app: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    code, err = publish_to(run, app, notes)
    assert code == 2 and "not a zip" in err
    assert notes.read_text() == "my notes\n"


def test_an_earlier_package_and_an_empty_file_are_replaced(run: Run, app: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "app.zip"
    assert publish_to(run, app, out)[0] == 0
    first = out.read_bytes()
    assert publish_to(run, app, out)[0] == 0  # a zip: replaced (by the same bytes)
    assert out.read_bytes() == first
    empty = tmp_path / "empty.zip"
    empty.touch()
    assert publish_to(run, app, empty)[0] == 0
    assert zipfile.is_zipfile(empty)


def test_a_package_inside_the_app_is_never_packaged_again(run: Run, app: Path) -> None:
    out = app / "dist" / "[app] #1.zip"  # glob characters in the name are taken literally
    sizes = []
    for _ in range(3):
        code, err = publish_to(run, app, out)
        assert code == 0, err
        sizes.append(out.stat().st_size)
        names = zipfile.ZipFile(out).namelist()
        assert not any(name.startswith("dist/") for name in names)
    assert sizes[0] == sizes[1] == sizes[2]
    code, listed, _ = run("--project-dir", app, "--build", "custom", "--list-ignored-files",
                          "--output-zip", out)
    assert code == 0
    [line] = [line for line in listed.splitlines() if line.startswith("dist/")]
    assert line.startswith("dist/[app] #1.zip\t") and "--output-zip" in line


def test_a_sibling_named_like_the_package_is_still_packaged(run: Run, app: Path) -> None:
    shutil.copy(PROJECTS / "v2-http" / "host.json", app / "dist-app.zip.json")
    out = app / "dist-app.zip"
    code, err = publish_to(run, app, out)
    assert code == 0, err
    assert "dist-app.zip.json" in zipfile.ZipFile(out).namelist()


# The CLI in a child whose files may not grow past 1 MiB: writing the package fails as on a
# full disk (EFBIG instead of ENOSPC, through the same write and flush calls).
SMALL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
from azpublish.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_full_disk_is_a_clear_error_and_leaves_no_partial_file(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "host.json").write_text('{"version": "2.0"}')
    (app / "function_app.py").write_text("import azure.functions as func\n"
                                         "app = func.FunctionApp()\n")
    (app / "data.bin").write_bytes(os.urandom(3 << 20))
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SMALL_DISK, "--project-dir", str(app), "--build", "custom",
         "--no-preflight", "--no-deploy", "--output-zip", str(out / "app.zip")],
        capture_output=True, text=True, check=False,
        env={**os.environ, "AZPUBLISH_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 3, done.stderr
    assert "cannot write the package: File too large after" in done.stderr
    assert "MiB free in" in done.stderr and str(out) in done.stderr
    assert "internal error" not in done.stderr
    assert list(out.iterdir()) == []
