"""Builds of one project at the same time (two CI jobs on one runner, an editor's save hook and
a terminal): none trips over the other's temporary files, and both give the same package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.docker_support import BASE_IMAGES, container_engines, docker_client

pytestmark = [pytest.mark.installs, pytest.mark.slow]
__all__ = ["container_engines", "docker_client"]  # fixtures used by this module

APP = ("import azure.functions as func\nimport six\n\napp = func.FunctionApp()\n\n\n"
       "@app.route(route='v')\ndef v(req: func.HttpRequest) -> func.HttpResponse:\n"
       "    return func.HttpResponse(six.__version__)\n")


def test_two_wheels_builds_of_one_project_at_once_both_succeed_alike(tmp_path: Path) -> None:
    build_twice_at_once(tmp_path, ("--engine", "wheels"), rounds=6)


@pytest.mark.integration
@pytest.mark.docker
def test_two_container_builds_of_one_project_at_once_both_succeed_alike(
        tmp_path: Path, container_engines: dict[str, Any]) -> None:
    build_twice_at_once(tmp_path, ("--engine", "container", "--base-image", BASE_IMAGES["3.11"]),
                        rounds=3)


def build_twice_at_once(tmp_path: Path, engine: tuple[str, ...], rounds: int) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "host.json").write_text('{"version": "2.0"}')
    (app / "function_app.py").write_text(APP)
    (app / "requirements.txt").write_text("six==1.17.0\n")
    before = sorted(p.relative_to(app) for p in app.rglob("*"))
    temp = tmp_path / "tmp"
    temp.mkdir()
    for round_ in range(rounds):
        # Round 0 shares an empty cache (one builds, one waits and hits); the others rebuild
        # with --no-cache, both installing into the same project at once.
        extra = () if round_ == 0 else ("--no-cache",)
        children = [subprocess.Popen(
            [sys.executable, "-m", "azpublish", "--project-dir", str(app), "--build", "local",
             *engine, "--python-version", "3.11", "--no-deploy",
             "--output-zip", str(tmp_path / f"out-{round_}-{n}.zip"), *extra],
            env={**os.environ, "TMPDIR": str(temp), "AZPUBLISH_CACHE_DIR": str(tmp_path / "c")},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in (0, 1)]
        results = [child.communicate(timeout=600) for child in children]
        for child, (_, err) in zip(children, results, strict=True):
            assert child.returncode == 0, f"round {round_}: {err.decode()}"
        first, second = (tmp_path / f"out-{round_}-{n}.zip" for n in (0, 1))
        assert first.read_bytes() == second.read_bytes(), f"round {round_}: the packages differ"
    assert sorted(p.relative_to(app) for p in app.rglob("*")) == before  # nothing in the app
    # Only the per-user cache of the worker's library (runtime.py) stays; no run's workspace.
    assert [p.name for p in temp.iterdir()] == [f"azpublish-platform-{os.getuid()}"]
