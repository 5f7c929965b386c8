"""A local build never touches the project, and the import check sees exactly what is packaged:
an existing .python_packages stays as it is and out of the package, a .funcignore that lists
.python_packages cannot strip the dependencies, and a module .funcignore leaves out fails the
check instead of the deployed app. The check runs with local.settings.json's Values, without
network and within its time limit."""

from __future__ import annotations

import json
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from azpublish.__main__ import main
from tests.functional.local_build_support import Run, local_build_runner

# Real uv runs against the package mirror: outside make test-quick.
pytestmark = pytest.mark.installs

APP = ("import azure.functions as func\nimport six\nimport helpers\n\napp = func.FunctionApp()\n"
       "\n\n@app.route(route='hi')\ndef hi(req: func.HttpRequest) -> func.HttpResponse:\n"
       "    return func.HttpResponse(six.text_type(helpers.GREETING))\n\n\n"
       "@app.schedule(schedule='0 */5 * * * *', arg_name='timer')\n"
       "def every_five_minutes(timer: func.TimerRequest) -> None:\n    pass\n")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "host.json").write_text('{"version": "2.0"}')
    (root / "function_app.py").write_text(APP)
    (root / "helpers.py").write_text("GREETING = 'hi'\n")
    (root / "requirements.txt").write_text("six==1.16.0\n")
    return root


@pytest.fixture
def run(app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Run:
    return local_build_runner(app, tmp_path, capsys, monkeypatch)


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file and folder with its mtime, size and bytes: any write shows."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        found[path.relative_to(root).as_posix()] = (
            info.st_mtime_ns, info.st_size, path.read_bytes() if path.is_file() else b"")
    return found


def names_in(tmp_path: Path) -> list[str]:
    return zipfile.ZipFile(tmp_path / "app.zip").namelist()


def test_a_local_build_leaves_the_project_byte_for_byte_as_it_was(run: Run, app: Path,
                                                                  tmp_path: Path) -> None:
    stale = app / ".python_packages/lib/site-packages"
    stale.mkdir(parents=True)
    (stale / "stale_module.py").write_text("LEFT = 'by an older build'\n")
    before = snapshot(app)
    for _ in range(2):  # a cache miss, then a hit
        code, _, err = run()
        assert code == 0, err
        assert snapshot(app) == before
    names = names_in(tmp_path)
    assert ".python_packages/lib/site-packages/six.py" in names
    assert ".python_packages/lib/site-packages/stale_module.py" not in names


@pytest.mark.parametrize("pattern", [".python_packages", ".python_packages/",
                                     "/.python_packages/", ".python_*/"])
def test_funcignore_cannot_strip_the_built_dependencies(run: Run, app: Path, tmp_path: Path,
                                                        pattern: str) -> None:
    (app / ".funcignore").write_text(f"{pattern}\n")
    code, report, err = run()
    assert code == 0, err
    assert ".python_packages/lib/site-packages/six.py" in names_in(tmp_path)
    warnings = [str(w) for w in report["warnings"]]  # type: ignore[attr-defined]
    assert any(".funcignore:1" in w and "--build local packages it anyway" in w
               for w in warnings), warnings


def test_the_import_check_sees_only_what_is_packaged(run: Run, app: Path,
                                                     tmp_path: Path) -> None:
    (app / ".funcignore").write_text("helpers.py\n")
    code, report, err = run()
    assert code == 3
    assert "No module named 'helpers'" in err
    assert "helpers is in the project but left out of the package (by .funcignore)" in err
    assert report["failed_stage"] == "build"
    assert not (tmp_path / "app.zip").exists()


def test_the_indexed_functions_are_reported_with_their_triggers(run: Run) -> None:
    code, report, err = run("--verbose")
    assert code == 0, err
    project = report["project"]
    assert isinstance(project, dict)
    assert {(f["name"], f["trigger"]) for f in project["functions"]} == {
        ("hi", "httpTrigger"), ("every_five_minutes", "timerTrigger")}
    assert "every_five_minutes - [timerTrigger]" in err


def test_local_settings_values_are_the_apps_environment_and_stay_secret(
        run: Run, app: Path) -> None:
    secret = "DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0LWtleS1mb3ItdGVzdHM="
    (app / "helpers.py").write_text(
        "import os\nGREETING = 'hi'\nCONNECTION = os.environ['STORAGE_CONNECTION']\n"
        "if os.environ['FUNCTIONS_WORKER_RUNTIME'] != 'python':\n    raise SystemExit(9)\n"
        "raise ValueError('cannot parse ' + CONNECTION)\n")
    settings = {"IsEncrypted": False, "Values": {"STORAGE_CONNECTION": secret,
                                                 "FUNCTIONS_WORKER_RUNTIME": "python"}}
    (app / "local.settings.json").write_text(json.dumps(settings))
    code, report, err = run()
    assert code == 3  # the value arrived: the app got past the KeyError to its own error
    assert "ValueError: cannot parse ***" in err
    assert secret not in err + json.dumps(report)
    (app / "helpers.py").write_text(
        "import os\nGREETING = 'hi'\nCONNECTION = os.environ['STORAGE_CONNECTION']\n")
    assert run()[0] == 0
    (app / "local.settings.json").unlink()
    code, _, err = run()
    assert code == 3 and "KeyError: 'STORAGE_CONNECTION'" in err


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback port that would accept: the check must refuse to connect anyway."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_network_at_import_time_is_refused_and_named(run: Run, app: Path,
                                                     listener: int) -> None:
    (app / "helpers.py").write_text(
        f"import socket\nGREETING = 'hi'\nsocket.create_connection(('127.0.0.1', {listener}))\n")
    code, _, err = run()
    assert code == 3
    assert f"tried the network while being imported: 127.0.0.1:{listener}" in err
    assert "not at module level" in err
    (app / "helpers.py").write_text(
        "import socket\nGREETING = 'hi'\ntry:\n"
        "    socket.getaddrinfo('example.invalid', 443)\nexcept OSError:\n    pass\n")
    code, report, err = run()
    assert code == 0, err
    assert any("example.invalid:443" in str(w) and "the app coped" in str(w)
               for w in report["warnings"])  # type: ignore[attr-defined]


def test_the_import_check_has_a_time_limit(run: Run, app: Path) -> None:
    (app / "helpers.py").write_text("import time\nGREETING = 'hi'\ntime.sleep(60)\n")
    code, _, err = run("--preflight-timeout", "2")
    assert code == 3
    assert "did not finish within 2 s" in err


def test_a_custom_build_without_dependencies_is_still_import_checked(
        app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """There is no .python_packages at all: six, which the app imports, is missing."""
    code = main(["--project-dir", str(app), "--build", "custom", "--engine", "wheels",
                 "--no-deploy", "--output-zip", str(tmp_path / "app.zip")])
    assert code == 3
    err = capsys.readouterr().err
    assert "requirements.txt lists packages but there is no" in err
    assert "No module named 'six'" in err
    assert not (tmp_path / "app.zip").exists()


def test_a_listed_worker_is_left_out_of_the_build_and_the_package(run: Run, app: Path,
                                                                  tmp_path: Path) -> None:
    """The package mirror has no azure-functions-worker: the build passes only because the line
    never reaches the installer, and the packaged copy has it commented out."""
    (app / "requirements").mkdir()
    (app / "requirements" / "base.txt").write_text(
        "six==1.16.0\nazure-functions-worker==1.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    (app / "requirements.txt").write_text("-r requirements/base.txt\n")
    before = snapshot(app)
    code, report, err = run()
    assert code == 0, err
    assert snapshot(app) == before
    warning = next(str(w) for w in report["warnings"]  # type: ignore[attr-defined]
                   if "azure-functions-worker" in str(w))
    assert "base.txt:2" in warning and "left out of the build" in warning
    packaged = zipfile.ZipFile(tmp_path / "app.zip").read("requirements/base.txt").decode()
    assert packaged.splitlines() == [
        "six==1.16.0",
        "# left out by azpublish (the platform provides it): azure-functions-worker==1.0.0 \\",
        "# left out by azpublish (the platform provides it):     --hash=sha256:" + "0" * 64]
    assert ".python_packages/lib/site-packages/six.py" in names_in(tmp_path)
