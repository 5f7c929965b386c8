from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azpublish.redact import forget_secrets

PROJECTS = Path(__file__).parent / "projects"
# run(*args) -> (exit code, stdout, stderr) of the publish command, in-process.
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def project_copy(tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of a fixture project, safe to change."""

    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(PROJECTS / name, dest, symlinks=True)
        return dest

    return copy


@pytest.fixture(autouse=True)
def _no_leftover_secrets() -> Iterator[None]:
    # The redactor is process-wide; tests must not see each other's secrets.
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The tests decide every AZPUBLISH_* value themselves, whatever the shell exported.
    import os

    for name in list(os.environ):
        if name.startswith("AZPUBLISH_"):
            monkeypatch.delenv(name)
    # Build caches and package memos go to the test's own folder, not the user's cache.
    monkeypatch.setenv("AZPUBLISH_CACHE_DIR", str(tmp_path / "azpublish-cache"))
    # Were this suite run by GitHub Actions or Azure Pipelines, the CLI under test would write
    # to the job's real outputs and summary; tests that want that set these themselves.
    for name in ("GITHUB_ACTIONS", "TF_BUILD", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skipped integration test fails: the skip would hide a missing install step.

    (Unit tests may skip for reasons no install fixes, such as permission tests under root.)
    """
    import os

    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    integration = item.get_closest_marker("integration") or item.get_closest_marker("docker") \
        or "tests/integration/" in item.nodeid
    if os.environ.get("CI", "").lower() == "true" and integration and report.skipped \
            and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (f"skipped under CI=true, which hides a missing install step in "
                           f".ci/run: {report.longrepr}")


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def invoke(*args: str | Path) -> tuple[int, str, str]:
        from azpublish.__main__ import main

        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke
