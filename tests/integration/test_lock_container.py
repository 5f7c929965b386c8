"""``azpublish lock --engine container``: pip-tools inside the build image of the target Python,
against a real Docker daemon and the debootstrapped base image (scripts/provision-docker.sh).

The wheels come from a find-links folder made here (``PIP_NO_INDEX``), which the engine mounts
into the container; see tests/functional/test_lock.py for the packages and their markers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from azpublish.lock import STALE_EXIT_CODE
from tests.functional.test_lock import Run, links, make_wheel, offline, pins, run_lock
from tests.integration.docker_support import BASE_IMAGES, docker_client  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.docker]
__all__ = ["links", "make_wheel", "offline"]  # fixtures used by name

CONTAINER = ("--engine", "container", "--base-image", BASE_IMAGES["3.11"])


@pytest.fixture
def app(tmp_path: Path, docker_client: Any) -> Path:  # noqa: F811
    root = tmp_path / "app"
    root.mkdir()
    (root / "host.json").write_text(json.dumps({"version": "2.0"}))
    (root / "requirements.in").write_text("lockprobe\n")
    return root


def lock_in_container(root: Path, *args: str) -> Run:
    # run_lock passes --engine wheels first; the later --engine wins (argparse).
    return run_lock(root, *CONTAINER, *args)


def test_the_container_resolves_markers_for_linux_and_says_so(app: Path, offline: Path) -> None:
    run = lock_in_container(app)
    assert run.code == 0, run.stderr
    text = (app / "requirements.txt").read_text()
    assert pins(text) == {"lockprobe": "1.1", "six": "1.17.0"}  # no colorama (win32 only)
    assert "--hash=sha256:" in text
    assert "# resolved with: pip-tools " in text and "(engine container)" in text
    assert "# target: CPython 3.11 on Linux" in text
    assert "engine container" in run.stderr
    # Nothing of the container's paths or the tools' own headers leaks into the file.
    for word in ("/lockwork", "/tmp/", "/host/", "--find-links", "--index-url", "pip-compile"):
        assert word not in text


def test_container_lock_is_deterministic_and_agrees_with_the_uv_path(
        app: Path, offline: Path) -> None:
    assert lock_in_container(app).code == 0
    first = (app / "requirements.txt").read_bytes()
    (app / "requirements.txt").unlink()
    assert lock_in_container(app).code == 0
    assert (app / "requirements.txt").read_bytes() == first
    # A lock made in the container is up to date for a CI job that checks with uv.
    check = run_lock(app, "--check")
    assert (check.code, check.stdout) == (0, ""), check.stdout + check.stderr


@pytest.mark.slow
def test_check_and_upgrade_package_in_the_container(app: Path, offline: Path) -> None:
    (app / "requirements.in").write_text("lockprobe==1.0\n")
    assert lock_in_container(app).code == 0
    (app / "requirements.in").write_text("lockprobe\n")

    stale = lock_in_container(app, "--check")
    # The pin of the existing lock still satisfies the input, but the input changed
    # (the header's input digest): stale.
    assert stale.code == STALE_EXIT_CODE, stale.stderr
    assert "+# input-sha256:" in stale.stdout

    assert lock_in_container(app).code == 0
    assert pins((app / "requirements.txt").read_text())["lockprobe"] == "1.0"  # pin kept
    fresh = lock_in_container(app, "--check")
    assert fresh.code == 0, fresh.stdout
    assert lock_in_container(app, "--upgrade-package", "lockprobe").code == 0
    assert pins((app / "requirements.txt").read_text())["lockprobe"] == "1.1"


def test_pyproject_input_in_the_container(app: Path, offline: Path) -> None:
    (app / "requirements.in").unlink()
    (app / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\ndependencies = ["lockprobe==1.0"]\n')
    run = lock_in_container(app)
    assert run.code == 0, run.stderr
    text = (app / "requirements.txt").read_text()
    assert pins(text) == {"lockprobe": "1.0", "six": "1.17.0"}
    assert "# via -r pyproject.toml" in text and "/lockwork" not in text
