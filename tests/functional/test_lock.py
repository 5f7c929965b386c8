"""``azpublish lock`` on the uv path (engine ``wheels``), with the real uv.

Packages come from a find-links folder of wheels made here (``PIP_NO_INDEX``), so the
resolution is fast and its answer known: ``lockprobe`` needs colorama on Windows only, six on
Linux only, and tomli below Python 3.11 only.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from azpublish.lock import STALE_EXIT_CODE, input_digest, recorded_digest
from azpublish.lock_cli import main
from azpublish.redact import forget_secrets
from azpublish.report import Reporter

PROBE_REQUIRES = ('colorama; sys_platform == "win32"', 'six; sys_platform == "linux"',
                  'tomli; python_version < "3.11"')
PASSWORD = "Lock-Secret-57120"


def make_wheel(folder: Path, name: str, version: str, requires: Sequence[str] = ()) -> Path:
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                + "".join(f"Requires-Dist: {r}\n" for r in requires))
    files = {f"{module}/__init__.py": b"", f"{info}/METADATA": metadata.encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
             f"{info}/RECORD": b""}
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for entry, data in files.items():
            archive.writestr(zipfile.ZipInfo(entry, (2020, 1, 1, 0, 0, 0)), data)
    return wheel


@pytest.fixture(scope="module")
def links(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lock-links")
    for version in ("1.0", "1.1"):
        make_wheel(folder, "lockprobe", version, PROBE_REQUIRES)
    make_wheel(folder, "colorama", "0.4.6")
    make_wheel(folder, "six", "1.17.0")
    make_wheel(folder, "tomli", "2.2.1")
    make_wheel(folder, "extra-probe", "2.0")
    return folder


@pytest.fixture
def offline(links: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Only the find-links folder: no index, no pip configuration of this machine."""
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "AZPUBLISH_PYTHON_VERSION",
                 "AZPUBLISH_ENGINE", "AZPUBLISH_PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    return links


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "host.json").write_text(json.dumps({"version": "2.0"}))
    (root / "requirements.in").write_text("lockprobe\n")
    return root


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_lock(root: Path, *args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--project-dir", str(root), "--engine", "wheels", *args],
                Reporter(verbose=True, stdout=out, stderr=err))
    return Run(code, out.getvalue(), err.getvalue())


def pins(lock_text: str) -> dict[str, str]:
    found = {}
    for line in lock_text.splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, _, version = line.split(" ")[0].partition("==")
            found[name] = version
    return found


def test_lock_resolves_markers_for_linux_and_the_target_python(app: Path, offline: Path) -> None:
    run = run_lock(app)
    assert run.code == 0, run.stderr
    text = (app / "requirements.txt").read_text()
    assert pins(text) == {"lockprobe": "1.1", "six": "1.17.0"}  # no colorama, no tomli
    assert "--hash=sha256:" in text
    assert "# target: CPython 3.11 on Linux, platform manylinux_2_36_x86_64" in text
    assert "# regenerate with: azpublish lock --python-version 3.11\n" in text
    assert "engine wheels" in text and "uv " in text
    assert "wheels" in run.stderr  # says which engine it used

    run = run_lock(app, "--python-version", "3.10")
    assert run.code == 0, run.stderr
    assert pins((app / "requirements.txt").read_text()) == {
        "lockprobe": "1.1", "six": "1.17.0", "tomli": "2.2.1"}


def test_locking_the_same_input_twice_gives_identical_files(app: Path, offline: Path,
                                                          tmp_path: Path) -> None:
    assert run_lock(app).code == 0
    first = (app / "requirements.txt").read_bytes()
    (app / "requirements.txt").unlink()
    assert run_lock(app).code == 0
    assert (app / "requirements.txt").read_bytes() == first
    assert b"\r" not in first and str(tmp_path).encode() not in first


def test_check_passes_on_a_fresh_lock_and_fails_with_a_diff_after_the_input_changes(
        app: Path, offline: Path) -> None:
    assert run_lock(app, "--check").code == STALE_EXIT_CODE  # no lock at all yet
    assert run_lock(app).code == 0
    before = (app / "requirements.txt").read_text()
    fresh = run_lock(app, "--check")
    assert (fresh.code, fresh.stdout) == (0, ""), fresh.stderr

    (app / "requirements.in").write_text("lockprobe\nextra-probe\n")
    stale = run_lock(app, "--check")
    assert stale.code == STALE_EXIT_CODE == 6
    assert "+extra-probe==2.0" in stale.stdout
    assert stale.stdout.startswith("--- requirements.txt (current)")
    assert "stale" in stale.stderr
    assert (app / "requirements.txt").read_text() == before  # --check writes nothing


def test_the_header_records_the_input_digest(app: Path, offline: Path) -> None:
    assert run_lock(app).code == 0
    text = (app / "requirements.txt").read_text()
    assert recorded_digest(text) == input_digest(app)
    (app / "requirements.in").write_text("lockprobe>=1.0\n")
    assert recorded_digest(text) != input_digest(app)


def test_existing_pins_are_kept_unless_upgraded(app: Path, offline: Path) -> None:
    (app / "requirements.in").write_text("lockprobe==1.0\n")
    assert run_lock(app).code == 0
    (app / "requirements.in").write_text("lockprobe\n")

    assert run_lock(app).code == 0
    assert pins((app / "requirements.txt").read_text())["lockprobe"] == "1.0"
    assert run_lock(app, "--upgrade-package", "six").code == 0
    assert pins((app / "requirements.txt").read_text())["lockprobe"] == "1.0"
    assert run_lock(app, "--upgrade-package", "lockprobe").code == 0
    assert pins((app / "requirements.txt").read_text())["lockprobe"] == "1.1"


def test_upgrade_ignores_every_existing_pin(app: Path, offline: Path) -> None:
    (app / "requirements.in").write_text("lockprobe==1.0\n")
    assert run_lock(app).code == 0
    (app / "requirements.in").write_text("lockprobe\n")
    assert run_lock(app, "--upgrade").code == 0
    assert pins((app / "requirements.txt").read_text())["lockprobe"] == "1.1"


def test_pyproject_dependencies_are_the_input_without_requirements_in(
        app: Path, offline: Path) -> None:
    (app / "requirements.in").unlink()
    (app / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\ndependencies = ["lockprobe==1.0"]\n')
    run = run_lock(app, "--output", "locked.txt")
    assert run.code == 0, run.stderr
    text = (app / "locked.txt").read_text()
    assert pins(text) == {"lockprobe": "1.0", "six": "1.17.0"}
    assert "from pyproject.toml" in text and "# via -r pyproject.toml" in text
    assert "/tmp" not in text and "pyproject-dependencies.in" not in text
    assert "--output locked.txt" in text


def test_no_input_is_a_project_error(app: Path, offline: Path) -> None:
    (app / "requirements.in").unlink()
    run = run_lock(app)
    assert run.code == 2
    assert "requirements.in" in run.stderr and "hint:" in run.stderr
    assert not (app / "requirements.txt").exists()


def test_an_unresolvable_input_fails_with_exit_3_naming_it(app: Path, offline: Path) -> None:
    (app / "requirements.in").write_text("no-such-package-anywhere\n")
    run = run_lock(app)
    assert run.code == 3
    assert "no-such-package-anywhere" in run.stderr


def test_bad_flags_are_usage_errors(app: Path, offline: Path) -> None:
    assert run_lock(app, "--python-version", "2.7").code == 2
    assert run_lock(app, "--upgrade", "--upgrade-package", "six").code == 2
    assert run_lock(app, "--no-such-flag").code == 2


def test_environment_variables_give_the_defaults(app: Path, offline: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZPUBLISH_PYTHON_VERSION", "3.10")
    assert run_lock(app).code == 0
    text = (app / "requirements.txt").read_text()
    assert "tomli" in pins(text) and "--python-version 3.10" in text
    monkeypatch.setenv("AZPUBLISH_ENGINE", "nonsense")
    out, err = io.StringIO(), io.StringIO()
    assert main(["--project-dir", str(app)], Reporter(stdout=out, stderr=err)) == 2
    assert "AZPUBLISH_ENGINE" in err.getvalue()


def test_auto_falls_back_to_uv_when_no_docker_daemon_answers(
        app: Path, offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-daemon.sock'}")
    err = io.StringIO()
    code = main(["--project-dir", str(app)], Reporter(stdout=io.StringIO(), stderr=err))
    assert code == 0, err.getvalue()
    # Said even without --verbose.
    said = err.getvalue()
    assert "the container engine is not usable" in said and "resolving with uv" in said
    assert "(engine wheels)" in (app / "requirements.txt").read_text()


def test_index_credentials_stay_out_of_every_output(app: Path, offline: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    forget_secrets()
    # An index that refuses connections: the resolution fails, and says so without the password.
    monkeypatch.delenv("PIP_NO_INDEX")
    # Both indexes refuse on loopback: without an index URL pip would reach for its default.
    monkeypatch.setenv("PIP_INDEX_URL", "https://127.0.0.1:9/simple/")
    monkeypatch.setenv("PIP_RETRIES", "0")
    (app / "requirements.in").write_text("only-on-the-private-index\n")
    url = f"https://reader:{PASSWORD}@127.0.0.1:9/simple/"
    run = run_lock(app, "--pip-extra-index-url", url)
    assert run.code == 3
    assert PASSWORD not in run.stdout + run.stderr
    assert "127.0.0.1:9" in run.stderr or "only-on-the-private-index" in run.stderr
    assert not (app / "requirements.txt").exists()


def test_a_hand_written_requirements_txt_is_not_overwritten_without_force(
        app: Path, offline: Path) -> None:
    mine = "lockprobe  # pinned by hand, keep\n"
    (app / "requirements.txt").write_text(mine)
    refused = run_lock(app)
    assert refused.code == 2
    assert "was not written by azpublish lock" in refused.stderr and "--force" in refused.stderr
    assert (app / "requirements.txt").read_text() == mine
    forced = run_lock(app, "--force")
    assert forced.code == 0, forced.stderr
    assert "input-sha256" in (app / "requirements.txt").read_text()
    assert run_lock(app).code == 0  # our own lock is replaced without a word


@pytest.mark.parametrize(("requires", "expected"), [
    (">=3.13", "3.13"), (">=3.11.4,<3.13", "3.11"), ("~=3.12", "3.12"), ("==3.10.*", "3.10")])
def test_the_target_python_comes_from_requires_python(
        app: Path, offline: Path, requires: str, expected: str) -> None:
    (app / "pyproject.toml").write_text(f'[project]\nname = "app"\nrequires-python = '
                                        f'"{requires}"\n')
    run = run_lock(app)
    assert run.code == 0, run.stderr
    assert f"--python-version {expected}" in (app / "requirements.txt").read_text()
    assert f"Python {expected} on Linux" in run.stderr


def test_a_requires_python_no_functions_python_meets_is_a_usage_error(
        app: Path, offline: Path) -> None:
    (app / "pyproject.toml").write_text('[project]\nname = "app"\nrequires-python = "<3.9"\n')
    run = run_lock(app)
    assert run.code == 2 and "allows no Functions Python" in run.stderr
    assert run_lock(app, "--python-version", "3.11").code == 0  # the flag still decides
