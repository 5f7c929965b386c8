"""The emulator's remote build with real interpreters and a real pip."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from azpublish.emulator.apphost import EMULATOR_PYTHON_OVERRIDE
from azpublish.emulator.oryx import (
    NO_REQUIREMENTS,
    BuildOutcome,
    build_env,
    build_requested,
    python_version_of,
    register_app_secrets,
    run_build,
)
from azpublish.redact import redact
from azpublish.runtime import PYTHON_OVERRIDE, find_python, override_variable

# Real pip and uv runs against the package mirror: outside make test-quick.
pytestmark = pytest.mark.installs

RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"
SITE_PACKAGES = Path(".python_packages", "lib", "site-packages")
# A closed loopback port: pip fails to connect at once; no retries keep the test short.
CLOSED_INDEX = "https://user:s3cr3tpw@127.0.0.1:9/simple/"


def reported_version(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pip-cache")


@pytest.fixture(scope="module")
def python() -> Path:
    found = find_python(RUNNING)
    assert found is not None  # the running interpreter is the last resort
    return found


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []

    def __call__(self, line: str) -> None:
        self.lines.append((time.monotonic(), line))

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def build(wwwroot: Path, python: Path, cache: Path, settings: Mapping[str, str] | None = None,
          **options: float) -> tuple[BuildOutcome, Log]:
    log = Log()
    outcome = run_build(wwwroot, python, settings or {}, log, cache_dir=cache, **options)
    return outcome, log


@pytest.mark.parametrize(("settings", "expected"), [
    ({"SCM_DO_BUILD_DURING_DEPLOYMENT": "true"}, True),
    ({"SCM_DO_BUILD_DURING_DEPLOYMENT": "1"}, True),
    ({"SCM_DO_BUILD_DURING_DEPLOYMENT": "TRUE", "ENABLE_ORYX_BUILD": "True"}, True),
    ({"scm_do_build_during_deployment": "true"}, True),
    ({"SCM_DO_BUILD_DURING_DEPLOYMENT": "true", "WEBSITE_RUN_FROM_PACKAGE": "0"}, True),
    ({"SCM_DO_BUILD_DURING_DEPLOYMENT": "true", "WEBSITE_RUN_FROM_PACKAGE": "1"}, False),
    ({"SCM_DO_BUILD_DURING_DEPLOYMENT": "true", "ENABLE_ORYX_BUILD": "false"}, False),
    ({"SCM_DO_BUILD_DURING_DEPLOYMENT": "false", "ENABLE_ORYX_BUILD": "true"}, False),
    ({"SCM_DO_BUILD_DURING_DEPLOYMENT": "yes"}, False),
    ({"ENABLE_ORYX_BUILD": "true"}, False),
    ({}, False),
])
def test_build_requested(settings: dict[str, str], expected: bool) -> None:
    assert build_requested(settings) is expected


@pytest.mark.parametrize(("fx", "expected"), [
    ("Python|3.11", "3.11"), ("PYTHON|3.12", "3.12"), ("python|3.10 ", "3.10"),
    ("Node|20", None), ("Python|", None), ("Python|latest", None), ("", None),
])
def test_python_version_of(fx: str, expected: str | None) -> None:
    assert python_version_of(fx) == expected


def test_find_python_finds_the_exact_minor(python: Path) -> None:
    for version in ("3.10", "3.11", "3.12", "3.13", RUNNING):
        found = find_python(version)
        if version == RUNNING or os.environ.get("CI", "").lower() == "true":
            assert found is not None, version
        if found is not None:
            assert reported_version(found) == version
            assert found.is_absolute()


def test_find_python_old_and_unknown_versions(tmp_path: Path) -> None:
    assert find_python("3.99") is None
    assert find_python("latest") is None
    assert find_python("3") is None
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for version in ("3.9", "2.7"):
        installed = list((pyenv_root / "versions").glob(f"{version}.*"))
        found = find_python(version)
        # Found when installed, and only ever an interpreter of exactly that version.
        assert (found is not None) == bool(installed), version
        if found is not None:
            assert reported_version(found) == version


def test_find_python_override_first_and_verified(python: Path, tmp_path: Path) -> None:
    empty = {"PATH": str(tmp_path), "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "none")}
    # Nothing on PATH, no pyenv: only the running interpreter is left.
    assert find_python("3.99", empty) is None
    found = find_python(RUNNING, empty)
    assert found is not None and reported_version(found) == RUNNING
    # A wrong override is skipped, not trusted.
    wrong = {**empty, "AZPUBLISH_PYTHON_3_99": str(python)}
    assert find_python("3.99", wrong) is None
    # A right override wins over PATH (a link with a name nothing else would find).
    link = tmp_path / "my-interpreter"
    link.symlink_to(python)
    client, emulator = (override_variable(RUNNING, prefix)
                        for prefix in (PYTHON_OVERRIDE, EMULATOR_PYTHON_OVERRIDE))
    assert client == f"AZPUBLISH_PYTHON_{RUNNING.replace('.', '_')}"
    assert find_python(RUNNING, {**os.environ, client: str(link)}) == link
    assert find_python(RUNNING, {**os.environ, client: ""}) != link
    # The emulator's variable steers the emulated platform only, never the client's checks.
    assert find_python(RUNNING, {**os.environ, emulator: str(link)}) != link
    assert find_python(RUNNING, {**os.environ, emulator: str(link)},
                       override_prefix=EMULATOR_PYTHON_OVERRIDE) == link


def test_build_env_layers() -> None:
    base = {"PATH": "/bin", "HOME": "/home/me", "PIP_FIND_LINKS": "/wheels",
            "PIP_INDEX_URL": "https://emulator/simple", "SECRET_OF_THE_EMULATOR": "x"}
    env = build_env({"PIP_INDEX_URL": "https://app/simple", "MY_SETTING": "1"}, base)
    assert env["PIP_INDEX_URL"] == "https://app/simple"  # the app setting wins
    assert env["PIP_FIND_LINKS"] == "/wheels"  # the machine's pip setup still works
    assert env["MY_SETTING"] == "1"
    assert env["HOME"] == "/home/me" and env["PATH"] == "/bin" and env["LANG"]
    assert "SECRET_OF_THE_EMULATOR" not in env
    assert "PIP_CONFIG_FILE" not in env


def test_register_app_secrets() -> None:
    register_app_secrets({
        "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=acct;"
                               "AccountKey=c2VjcmV0a2V5dmFsdWU=;EndpointSuffix=core",
        "MY_API_TOKEN": "tok-abcdef123",
        "FEATURE_KEY": "true",
        "WEBSITE_RUN_FROM_PACKAGE": "https://blob/app.zip?sv=2022&sig=sigvalue123",
    })
    text = "c2VjcmV0a2V5dmFsdWU= tok-abcdef123 sigvalue123 true acct"
    assert redact(text) == "*** *** *** true acct"


def test_installs_requirements_into_python_packages(python: Path, pip_cache: Path,
                                                    tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    stale = tmp_path / ".python_packages" / "lib" / "site-packages" / "stale_module.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("")
    outcome, log = build(tmp_path, python, pip_cache)
    assert outcome == BuildOutcome(True, "Oryx build succeeded")
    assert (tmp_path / SITE_PACKAGES / "six.py").is_file()
    assert not stale.exists()
    assert "Running oryx build..." in log.text
    assert "Successfully installed six" in log.text
    assert any(p.name.startswith("six-") for p in (tmp_path / SITE_PACKAGES).iterdir())


def test_no_requirements_succeeds_and_still_clears_packages(python: Path, pip_cache: Path,
                                                            tmp_path: Path) -> None:
    (tmp_path / ".python_packages" / "junk").mkdir(parents=True)
    outcome, log = build(tmp_path, python, pip_cache)
    assert outcome.ok
    assert NO_REQUIREMENTS in log.text
    assert not (tmp_path / ".python_packages").exists()


def test_missing_package_fails_with_exit_code(python: Path, pip_cache: Path,
                                              tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("azpublish-no-such-package-7f3a9c\n")
    outcome, log = build(tmp_path, python, pip_cache, {"PIP_RETRIES": "0"})
    assert not outcome.ok
    assert "Exit code: 1" in outcome.summary
    assert "Please review your requirements.txt" in outcome.summary
    assert "No matching distribution found for azpublish-no-such-package-7f3a9c" in log.text
    assert log.lines[-1][1] == outcome.summary


def test_index_credentials_reach_pip_but_never_the_log(python: Path, pip_cache: Path,
                                                       tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("azpublish-no-such-package-7f3a9c\n")
    settings = {"PIP_EXTRA_INDEX_URL": CLOSED_INDEX, "PIP_RETRIES": "0",
                "PIP_INDEX_URL": "https://__token__:ghp_tokenvalue42@127.0.0.1:9/other/",
                "PIP_VERBOSE": "1"}
    outcome, log = build(tmp_path, python, pip_cache, settings)
    assert not outcome.ok
    assert "127.0.0.1:9/simple" in log.text  # the setting did reach pip
    for secret in ("s3cr3tpw", "ghp_tokenvalue42", "user:", "__token__"):
        assert secret not in log.text
        assert secret not in outcome.summary


def write_slow_package(folder: Path, pid_file: Path) -> None:
    """A local project whose in-tree build backend hangs: pip stays busy until killed."""
    folder.mkdir()
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "hang"\nbackend-path = ["."]\n'
        '[project]\nname = "slowpkg"\nversion = "1"\n')
    (folder / "hang.py").write_text(
        "import os, time\n"
        "def get_requires_for_build_wheel(config_settings=None):\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "    return []\n"
        "build_wheel = get_requires_for_build_wheel\n")


@pytest.mark.slow
def test_timeout_kills_pip_and_its_children_and_output_streams(
        python: Path, pip_cache: Path, tmp_path: Path) -> None:
    pid_file = tmp_path.parent / f"{tmp_path.name}-backend.pid"
    write_slow_package(tmp_path / "slowpkg", pid_file)
    (tmp_path / "requirements.txt").write_text("./slowpkg\n")
    started = time.monotonic()
    outcome, log = build(tmp_path, python, pip_cache, {"PIP_NO_INDEX": "1"}, timeout=4.0)
    ended = time.monotonic()
    assert not outcome.ok
    assert "stopped after 4 s" in outcome.summary
    assert ended - started < 60
    # pip's first lines reached the log while pip was still running, not at the end.
    first_pip_line = next(t for t, line in log.lines if "slowpkg" in line and "Processing" in line)
    assert ended - first_pip_line > 2
    backend = int(pid_file.read_text())
    for _ in range(50):  # the orphaned backend is reaped by init shortly after the kill
        try:
            os.kill(backend, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"pip's build backend {backend} survived the timeout")


def test_slow_build_waits_before_building(python: Path, pip_cache: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    outcome, _ = build(tmp_path, python, pip_cache, slow_seconds=1.0)
    assert outcome.ok
    assert time.monotonic() - started >= 1.0
