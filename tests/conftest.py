from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from azpublish.redact import forget_secrets
from tests import package_mirror
from tests.network_guard import NetworkGuard

PROJECTS = Path(__file__).parent / "projects"
# Variables that would send azure-identity anywhere but the emulator.
CREDENTIAL_VARIABLES = ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID",
                        "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_CLIENT_CERTIFICATE_PATH",
                        "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TOKEN_CREDENTIALS", "MSI_ENDPOINT",
                        "MSI_SECRET", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                        "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "AZURE_CONFIG_DIR")
# Where tests not marked docker find the Docker engine: nowhere.
NO_DOCKER = "unix:///nonexistent/azpublish-test-without-docker.sock"
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


@pytest.fixture
def unused_tcp_port() -> int:
    """A loopback port nobody listens on (bound once, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def _no_leftover_secrets() -> Iterator[None]:
    # The redactor is process-wide; tests must not see each other's secrets.
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The tests decide every AZPUBLISH_* value themselves, whatever the shell exported.
    for name in list(os.environ):
        if name.startswith("AZPUBLISH_"):
            monkeypatch.delenv(name)
    # Build caches and package memos go to the test's own folder, not the user's cache.
    monkeypatch.setenv("AZPUBLISH_CACHE_DIR", str(tmp_path / "azpublish-cache"))
    # Were this suite run by GitHub Actions or Azure Pipelines, the CLI under test would write
    # to the job's real outputs and summary; tests that want that set these themselves.
    for name in ("GITHUB_ACTIONS", "TF_BUILD", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _docker_only_where_declared(request: pytest.FixtureRequest,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    # A build that may use the container engine (--engine auto) would otherwise reach the real
    # engine, which pulls a missing base image from its registry: traffic off loopback that the
    # network guard cannot see, since dockerd sends it. Tests that use the engine say so (the
    # docker marker) and name a local base image.
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)



# -- nothing leaves loopback ------------------------------------------------------------------

_GUARD = NetworkGuard()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--require-all", action="store_true",
                     help="exit non-zero when any test was skipped, with a summary of why "
                          "(make test and make test-quick pass it)")
    parser.addoption("--no-mirror", action="store_true",
                     help="do not start the package mirror; installs then fail on loopback "
                          "(make test-quick, which runs no installer)")


_MIRROR_URL = "AZPUBLISH_TEST_MIRROR_URL"  # set by the first process; xdist workers reuse it
_mirror: Any = None


def pytest_configure(config: pytest.Config) -> None:
    # Set before any fixture starts a subprocess, so every child inherits both the tripwire
    # proxy and the package mirror as its index.
    global _mirror
    # A credential the shell exported would send azure-identity to a login host or the
    # instance-metadata address; tests get tokens only from the emulator (emulator_env). Done
    # once here, not per test, so that fixtures of wider scope may set their own.
    for name in CREDENTIAL_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(_GUARD.install())
    if _MIRROR_URL not in os.environ:
        _mirror = package_mirror.serve(start=not config.getoption("--no-mirror"))
        os.environ[_MIRROR_URL] = _mirror.url
    os.environ["PIP_INDEX_URL"] = os.environ[_MIRROR_URL]


def pytest_report_header(config: pytest.Config) -> str:
    return f"package index: {os.environ.get(_MIRROR_URL)} (tests/package_mirror.py)"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _mirror is not None:
        _mirror.stop()
    _GUARD.uninstall()


_OUTSIDE_TESTS: list[str] = []  # refused between tests (a wider fixture's set-up): fail the run


@pytest.fixture(autouse=True)
def _nothing_leaves_loopback() -> Iterator[None]:
    _OUTSIDE_TESTS.extend(_GUARD.take())
    yield
    violations = _GUARD.take()
    if violations:
        pytest.fail("this test sent (or tried to send) traffic off loopback: "
                    + "; ".join(violations), pytrace=False)


# -- every test runs ---------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skipped test fails: the skip would hide a missing install step."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI", "").lower() == "true" and report.skipped \
            and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (f"skipped under CI=true, which hides a missing install step "
                           f"(scripts/test-setup.sh): {report.longrepr}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    _OUTSIDE_TESTS.extend(_GUARD.take())
    leftover = _OUTSIDE_TESTS
    if leftover:
        terminalreporter.section("traffic off loopback outside any test", red=True)
        for line in leftover:
            terminalreporter.write_line(f"  {line}")
    skipped = _skipped(terminalreporter.stats)
    if not skipped or not config.getoption("--require-all"):
        return
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) \
            else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    terminalreporter.section("tests that did not run", red=True)
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"  {count:4d} x {reason}")
    terminalreporter.write_line("make test passes only when every test runs: set up what is "
                                "missing (scripts/test-setup.sh says how) and run it again.")


def _skipped(stats: dict[str, list[Any]]) -> list[Any]:
    return [report for report in stats.get("skipped", []) if not hasattr(report, "wasxfail")]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Traffic off loopback outside any test, or (with --require-all) a skip, fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = _skipped(reporter.stats) if reporter is not None else []
    require_all = session.config.getoption("--require-all")
    if (_OUTSIDE_TESTS or _GUARD.violations or (require_all and skipped)) \
            and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def invoke(*args: str | Path) -> tuple[int, str, str]:
        from azpublish.__main__ import main

        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke
