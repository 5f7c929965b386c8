"""`--build local` through the CLI with the wheels engine (no docker): cache hits and misses,
audit, and what lands in the package."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.functional.local_build_support import Run, local_build_runner

# Real pip and uv runs against the package mirror: outside make test-quick.
pytestmark = pytest.mark.installs



@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "host.json").write_text('{"version": "2.0"}')
    (root / "function_app.py").write_text(
        "import azure.functions as func\nimport six\n\napp = func.FunctionApp()\n\n\n"
        "@app.route(route='hi')\ndef hi(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse(six.text_type('hi'))\n")
    (root / "requirements.txt").write_text("six==1.16.0\n")
    return root


@pytest.fixture
def run(app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Run:
    return local_build_runner(app, tmp_path, capsys, monkeypatch)


def cache_of(report: dict[str, object]) -> dict[str, object]:
    cache = report["cache"]
    assert isinstance(cache, dict)
    return cache


def test_local_build_packages_site_packages_and_caches(run: Run, app: Path,
                                                       tmp_path: Path) -> None:
    code, first, err = run()
    assert code == 0, err
    assert cache_of(first)["hit"] is False and cache_of(first)["engine"] == "wheels"
    names = zipfile.ZipFile(tmp_path / "app.zip").namelist()
    assert ".python_packages/lib/site-packages/six.py" in names
    code, second, err = run()
    assert code == 0, err
    assert cache_of(second)["hit"] is True and "cache hit" in err
    assert "building dependencies" not in err  # the engine did not run


@pytest.mark.parametrize("change", ["requirement", "python", "index", "no-cache"])
def test_any_input_change_misses_the_cache(run: Run, app: Path, change: str) -> None:
    assert run()[0] == 0
    extra: list[str] = []
    if change == "requirement":
        (app / "requirements.txt").write_text("six==1.17.0\n")
    elif change == "python":
        extra = ["--python-version", "3.12"]
    elif change == "index":
        extra = ["--pip-extra-index-url", "https://u:cachekeysecret@127.0.0.1:9/simple/"]
    else:
        extra = ["--no-cache"]
    code, report, err = run(*extra)
    if change == "index":  # the unreachable index makes the build fail; the key still changed
        assert "cachekeysecret" not in err + json.dumps(report)
        return
    assert code == 0, err
    assert cache_of(report)["hit"] is False


def test_a_pip_conf_index_change_misses_the_cache(run: Run, app: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The index comes from a pip.conf alone: the toolchain reads it for the install and the key.
    mirror = os.environ["PIP_INDEX_URL"].rstrip("/")
    monkeypatch.delenv("PIP_INDEX_URL")
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nindex-url = {mirror}/\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    code, first, err = run()
    assert code == 0, err
    assert cache_of(first)["hit"] is False and cache_of(run()[1])["hit"] is True
    # The same mirror by another URL, with a credential: a miss, and the secret nowhere.
    secret = "confsecret-3141"
    config.write_text(f"[install]\nindex-url = http://reader:{secret}@{mirror[7:]}\n")
    code, second, err = run()
    assert code == 0, err
    assert cache_of(second)["hit"] is False and cache_of(second)["key"] != cache_of(first)["key"]
    assert secret not in err + json.dumps(second)
    for marker in (tmp_path / "cache").rglob("entry.json"):
        assert secret not in marker.read_text()


def test_included_requirement_file_is_part_of_the_key(run: Run, app: Path) -> None:
    (app / "requirements.txt").write_text("-r extra.txt\n")
    (app / "extra.txt").write_text("six==1.16.0\n")
    assert cache_of(run()[1])["hit"] is False
    assert cache_of(run()[1])["hit"] is True
    (app / "extra.txt").write_text("six==1.17.0\n")
    assert cache_of(run()[1])["hit"] is False


def test_package_without_a_linux_wheel_fails_with_exit_3(run: Run, app: Path,
                                                         tmp_path: Path) -> None:
    (app / "requirements.txt").write_text("azpublish-certainly-not-a-real-package==0.0.1\n")
    code, report, err = run()
    assert code == 3
    assert "azpublish-certainly-not-a-real-package" in err
    assert report["failed_stage"] == "build"
    assert not (tmp_path / "app.zip").exists()


def test_preflight_catches_a_missing_module_before_packaging(run: Run, app: Path,
                                                             tmp_path: Path) -> None:
    (app / "function_app.py").write_text(
        "import azure.functions as func\nimport yaml\n\napp = func.FunctionApp()\n\n\n"
        "@app.route(route='hi')\ndef hi(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('hi')\n")
    previous = b"PK\x05\x06" + bytes(18)  # an earlier package (an empty zip)
    (tmp_path / "app.zip").write_bytes(previous)
    code, _, err = run()
    assert code == 3
    assert "ModuleNotFoundError" in err and "PyYAML" in err
    # Packaging ran alongside the check, but nothing replaced the old file or was left behind.
    assert (tmp_path / "app.zip").read_bytes() == previous
    assert not list(tmp_path.glob(".app.zip*"))
    code, _, err = run("--no-preflight")
    assert code == 0, err


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_tampered_hash_fails_with_exit_3_naming_the_package(run: Run, app: Path,
                                                            installer: str) -> None:
    (app / "requirements.txt").write_text(
        "six==1.16.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    code, _, err = run("--installer", installer)
    assert code == 3
    assert "six" in err and ("Hash mismatch" in err or "HASHES" in err or "hash" in err)
    # The wheels engine installs with uv whatever --installer says, and says so.
    assert ("the wheels engine installs with uv" in err) == (installer == "pip")


def test_stale_lock_warns_and_strict_lock_fails(run: Run, app: Path) -> None:
    from azpublish.lock import INPUT_DIGEST_PREFIX

    (app / "requirements.in").write_text("six\n")
    (app / "requirements.txt").write_text(
        f"{INPUT_DIGEST_PREFIX} {'1' * 64}\nsix==1.16.0\n")
    code, report, err = run()
    assert code == 0, err
    assert any("requirements.txt is stale" in str(w) for w in report["warnings"])  # type: ignore[attr-defined]
    code, report, err = run("--strict-lock")
    assert code == 2
    assert "azpublish lock" in err
