"""SIGTERM and SIGHUP end a run as Ctrl-C does: the shell's exit status (128 + the signal),
and nothing left behind (no partial package beside the output, no workspace in TMPDIR)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BLOBS = 3
BLOB_SIZE = 48 * 1024 * 1024  # random: slow to deflate, so the signal lands mid-package


@pytest.fixture(scope="module")
def big_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big-app")
    (root / "host.json").write_text('{"version": "2.0"}')
    (root / "function_app.py").write_text(
        "import azure.functions as func\n\napp = func.FunctionApp()\n\n\n"
        "@app.route(route='x')\ndef x(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('x')\n")
    for index in range(BLOBS):
        with (root / f"blob{index}.bin").open("wb") as out:
            for _ in range(BLOB_SIZE >> 20):
                out.write(os.urandom(1 << 20))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_mid_package_leaves_nothing_behind(big_app: Path, tmp_path: Path,
                                                    signum: int) -> None:
    out_dir, temp = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir()
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "AZPUBLISH_CACHE_DIR": str(tmp_path / "cache"),
           "DOCKER_HOST": "unix:///nonexistent/azpublish-test.sock"}
    child = subprocess.Popen(
        [sys.executable, "-m", "azpublish", "--project-dir", str(big_app), "--build", "custom",
         "--no-preflight", "--no-deploy", "--output-zip", str(out_dir / "app.zip")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not any(out_dir.iterdir()):  # the package's temporary file: packaging has begun
            assert child.poll() is None, child.communicate()[1].decode()
            assert time.monotonic() < deadline, "packaging never started"
            time.sleep(0.02)
        child.send_signal(signum)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 128 + signum, err.decode()
    assert f"stopped by {signal.Signals(signum).name}".encode() in err
    assert list(out_dir.iterdir()) == []
    assert list(temp.iterdir()) == []
