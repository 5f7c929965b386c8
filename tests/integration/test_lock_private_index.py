"""``azpublish lock`` against a private index behind Basic auth over HTTPS (pypiserver on
loopback): the package resolves and is pinned with its hash, and the password reaches neither
the lock file nor any output — azpublish's own, or that of uv, pip-tools and the container.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from azpublish.lock_cli import main
from azpublish.redact import forget_secrets
from azpublish.report import Reporter
from tests.functional.test_lock import pins
from tests.integration.docker_support import BASE_IMAGES, docker_client  # noqa: F401
from tests.integration.pypi_index import PrivateIndex, private_index  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
def app(tmp_path: Path, private_index: PrivateIndex,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> Path:
    # The index's CA, and nothing of this machine's other package sources.
    for name, value in private_index.pip_env({}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_RETRIES", "0")
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX",
                 "AZPUBLISH_PIP_EXTRA_INDEX_URL", "AZPUBLISH_ENGINE"):
        monkeypatch.delenv(name, raising=False)
    forget_secrets()  # azpublish must register the password itself
    root = tmp_path / "app"
    root.mkdir()
    (root / "host.json").write_text(json.dumps({"version": "2.0"}))
    (root / "requirements.in").write_text(f"{private_index.package_name}\n")
    return root


def lock_privately(root: Path, index: PrivateIndex, capfd: pytest.CaptureFixture[str],
                   *args: str) -> str:
    """Lock with the index as --pip-extra-index-url; every byte printed, checked and returned."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["--project-dir", str(root), "--pip-extra-index-url",
                 index.url_with_credentials, *args],
                Reporter(verbose=True, stdout=out, stderr=err))
    captured = capfd.readouterr()
    printed = out.getvalue() + err.getvalue() + captured.out + captured.err
    assert code == 0, printed
    assert index.password not in printed
    return printed


def assert_locked_without_credentials(root: Path, index: PrivateIndex) -> str:
    text = (root / "requirements.txt").read_text()
    assert pins(text) == {index.package_name: index.version}
    assert "--hash=sha256:" in text
    assert index.password not in text and index.user not in text
    assert "index-url" not in text and str(index.port) not in text
    return text


def test_private_index_with_basic_auth_on_the_uv_path(
        app: Path, private_index: PrivateIndex,  # noqa: F811
        capfd: pytest.CaptureFixture[str]) -> None:
    printed = lock_privately(app, private_index, capfd, "--engine", "wheels")
    assert_locked_without_credentials(app, private_index)
    assert "engine wheels" in printed


@pytest.mark.docker
def test_private_index_with_basic_auth_in_the_container(
        app: Path, private_index: PrivateIndex,  # noqa: F811
        docker_client: Any, capfd: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    printed = lock_privately(app, private_index, capfd, "--engine", "container",
                             "--base-image", BASE_IMAGES["3.11"])
    text = assert_locked_without_credentials(app, private_index)
    assert "engine container" in printed and "(engine container)" in text
