"""SIGINT, SIGTERM and SIGHUP end a run alike: the shell's exit status (128 + the signal),
and nothing left behind (no partial package beside the output, no workspace in TMPDIR)."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from azpublish.toolchain.host_process import STOP_GRACE_SECONDS
from tests.signalled import exit_status, signal_when

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
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_mid_package_leaves_nothing_behind(big_app: Path, tmp_path: Path,
                                                    signum: int) -> None:
    out_dir, temp = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir()
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "AZPUBLISH_CACHE_DIR": str(tmp_path / "cache"),
           "DOCKER_HOST": "unix:///nonexistent/azpublish-test.sock"}
    status, err = signal_when(
        ["--project-dir", str(big_app), "--build", "custom", "--no-preflight", "--no-deploy",
         "--output-zip", str(out_dir / "app.zip")], env,
        lambda _pid: any(out_dir.iterdir()),  # the package's temporary file: packaging began
        signum, stage="packaging", answer_within=60, poll=0.02)
    assert status == exit_status(signum), err
    if signum != signal.SIGINT:
        assert f"stopped by {signal.Signals(signum).name}" in err
    assert list(out_dir.iterdir()) == []
    assert list(temp.iterdir()) == []


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.installs
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_a_host_install_stops_the_installer(tmp_path: Path, signum: int) -> None:
    """A signal sent to azpublish alone does not reach uv: azpublish stops it, and waits for it,
    before removing the folders uv writes into."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "host.json").write_text('{"version": "2.0"}')
    (app / "function_app.py").write_text("import azure.functions as func\n\n"
                                         "app = func.FunctionApp()\n")
    (app / "requirements.txt").write_text("six\n")
    temp, cache = tmp_path / "tmp", tmp_path / "cache"
    temp.mkdir()
    secret = "signal-host-index-secret-31"
    with socket.socket() as silent:  # an index that takes connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        env = {**os.environ, "TMPDIR": str(temp), "AZPUBLISH_CACHE_DIR": str(cache)}
        installers: list[int] = []

        def installing(pid: int) -> bool:
            installers[:] = [child for child in children_of(pid)
                             if b"uv" in Path(f"/proc/{child}/cmdline").read_bytes()]
            return bool(installers)

        # Not a speed target: left alone, uv waits out its own timeouts (about 45 s here) while
        # azpublish waits for it; stopped, it is gone within its grace period.
        status, err = signal_when(
            ["--project-dir", str(app), "--build", "local", "--engine", "wheels",
             "--python-version", "3.11", "--no-preflight", "--no-deploy",
             "--output-zip", str(tmp_path / "app.zip"),
             "--pip-extra-index-url", f"https://u:{secret}@127.0.0.1:{port}/simple/"],
            env, installing, signum, stage="the installer",
            answer_within=STOP_GRACE_SECONDS + 15)
    assert status == exit_status(signum), err
    assert not any(running(pid) for pid in installers), "the installer outlived azpublish"
    assert not (tmp_path / "app.zip").exists()
    assert list(temp.iterdir()) == []
    staging = cache / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    assert secret not in err
