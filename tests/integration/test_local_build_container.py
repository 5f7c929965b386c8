"""`--build local` through the CLI with the real container engine: native wheels for 3.11 and
3.13 pass the audit, and a second run is served by the cache without starting a container."""

from __future__ import annotations

import json
import os
import signal
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from azpublish.__main__ import main
from tests.integration.docker_support import BASE_IMAGES, container_engines, docker_client
from tests.signalled import exit_status, signal_when

pytestmark = [pytest.mark.integration, pytest.mark.docker]
__all__ = ["container_engines", "docker_client"]  # fixtures used by this module

APP = ("import azure.functions as func\nimport cryptography\n\napp = func.FunctionApp()\n\n\n"
       "@app.route(route='v')\ndef v(req: func.HttpRequest) -> func.HttpResponse:\n"
       "    return func.HttpResponse(cryptography.__version__)\n")


def make_app(root: Path) -> Path:
    root.mkdir()
    (root / "host.json").write_text('{"version": "2.0"}')
    (root / "function_app.py").write_text(APP)
    (root / "requirements.txt").write_text("cryptography\n")
    return root


def containers_created(client: Any, since: float) -> int:
    # The API filters by whole seconds; timeNano keeps the previous run's last second out.
    events = client.events(since=int(since), until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "create"})
    return sum(1 for event in events if event["timeNano"] >= since * 1e9)


@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_native_dependency_built_audited_and_cached(
        python: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, docker_client: Any,
        container_engines: dict[str, Any]) -> None:
    monkeypatch.setenv("AZPUBLISH_CACHE_DIR", str(tmp_path / "cache"))
    app = make_app(tmp_path / "app")
    args = ["--project-dir", str(app), "--build", "local", "--engine", "container",
            "--base-image", BASE_IMAGES[python], "--python-version", python, "--no-deploy",
            "--output-zip", str(tmp_path / "app.zip"), "--json"]
    assert main(args) == 0, capsys.readouterr().err
    first = json.loads(capsys.readouterr().out)
    assert first["cache"]["hit"] is False and first["cache"]["engine"] == "container"
    tag = f"cpython-{python.replace('.', '')}-x86_64-linux-gnu.so"
    names = zipfile.ZipFile(tmp_path / "app.zip").namelist()
    assert any(n.startswith(".python_packages/lib/site-packages/") and n.endswith(tag)
               for n in names)
    assert first["preflight"]["runner"].startswith("container")

    (app / "function_app.py").write_text(APP + "# edited\n")
    started = time.time()
    assert main(args) == 0, capsys.readouterr().err
    second = json.loads(capsys.readouterr().out)
    assert second["cache"]["hit"] is True
    # Only the import check runs a container now; the install did not.
    assert containers_created(docker_client, started) == 1


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_a_listed_worker_never_reaches_the_installer_in_the_container(
        installer: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, container_engines: dict[str, Any]) -> None:
    """The mirror has no azure-functions-worker: the install passes only because the
    rewritten copy of the included file is what the container's installer reads."""
    monkeypatch.setenv("AZPUBLISH_CACHE_DIR", str(tmp_path / "cache"))
    app = make_app(tmp_path / "app")
    (app / "requirements").mkdir()
    (app / "requirements" / "base.txt").write_text("cryptography\nazure-functions-worker\n")
    (app / "requirements.txt").write_text("-r requirements/base.txt\n")
    args = ["--project-dir", str(app), "--build", "local", "--engine", "container",
            "--installer", installer, "--base-image", BASE_IMAGES["3.11"], "--no-deploy",
            "--output-zip", str(tmp_path / "app.zip"), "--json"]
    assert main(args) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert any("azure-functions-worker is left out" in w for w in report["warnings"])
    names = zipfile.ZipFile(tmp_path / "app.zip").namelist()
    assert any(n.startswith(".python_packages/lib/site-packages/cryptography/") for n in names)
    assert not any("azure_functions_worker" in n for n in names)
    assert (app / "requirements" / "base.txt").read_text().endswith("azure-functions-worker\n")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_the_install_removes_its_container(
        tmp_path: Path, docker_client: Any, container_engines: dict[str, Any], signum: int
) -> None:
    """The install container holds the index credential in its environment: a signal while it
    runs must take it away with the run, as Ctrl-C does."""
    app = make_app(tmp_path / "app")
    secret = "sigterm-index-secret-88"
    env = {**os.environ, "AZPUBLISH_CACHE_DIR": str(tmp_path / "cache"),
           "TMPDIR": str(tmp_path)}
    install = {"label": "org.azpublish.role=install"}

    def installing(_pid: int) -> bool:
        running = docker_client.containers.list(filters={**install, "status": "running"})
        return any(secret in " ".join(c.attrs["Config"]["Env"] or ()) for c in running)

    status, err = signal_when(
        ["--project-dir", str(app), "--build", "local", "--engine", "container",
         "--base-image", BASE_IMAGES["3.11"], "--python-version", "3.11", "--no-deploy",
         "--output-zip", str(tmp_path / "app.zip"),
         "--pip-extra-index-url", f"https://u:{secret}@127.0.0.1:9/simple/"],
        env, installing, signum, stage="the install container", wait=300, poll=0.1)
    assert status == exit_status(signum), err
    left = docker_client.containers.list(all=True, filters=install)
    assert left == [], [container.attrs["Config"]["Env"] for container in left]
    assert not (tmp_path / "app.zip").exists()
    assert secret not in err
    staging = tmp_path / "cache" / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []  # no half-built entry stays
