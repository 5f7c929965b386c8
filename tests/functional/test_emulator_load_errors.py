"""The emulator's host keeps the errors of its last index per function and its own, and finds
them again for the folder it indexed: what ``/admin/.../status`` serves."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from azpublish.emulator.funchost import index_app, last_index
from azpublish.emulator.oryx import find_python

HOST_JSON = '{"version": "2.0"}'
HTTP = {"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"},
                     {"type": "http", "direction": "out", "name": "$return"}]}


@pytest.fixture(scope="module")
def python() -> Path:
    found = find_python(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert found is not None
    return found


def v1_app(root: Path) -> Path:
    files = {
        "host.json": HOST_JSON,
        "Good/function.json": json.dumps(HTTP),
        "Good/__init__.py": "def main(req):\n    return 'ok'\n",
        "Broken/function.json": json.dumps(HTTP),
        "Broken/__init__.py": "import not_installed_module\n\n\ndef main(req):\n    pass\n",
        "NoTrigger/function.json": json.dumps({"bindings": [
            {"type": "http", "direction": "out", "name": "$return"}]}),
        "NoTrigger/__init__.py": "def main(req):\n    pass\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_v1_errors_belong_to_their_functions(tmp_path: Path, python: Path) -> None:
    result = index_app(v1_app(tmp_path / "wwwroot"), python, {})
    assert [f.name for f in result.functions] == ["Good"]
    assert sorted(result.function_errors) == ["Broken", "NoTrigger"]
    [broken] = result.function_errors["Broken"]
    assert broken.startswith("Traceback (most recent call last)")  # the name is the key now
    assert broken.rstrip().endswith("No module named 'not_installed_module'")
    assert result.function_errors["NoTrigger"] == (
        "no trigger binding; a function needs exactly one",)
    assert result.host_errors == ()
    # The host log still gets every error, each naming its function.
    assert any(e.startswith("Function 'NoTrigger': no trigger") for e in result.errors)
    assert any(e.startswith("Function 'Broken' failed to load:") for e in result.errors)


def test_an_error_no_function_owns_is_the_hosts(tmp_path: Path, python: Path) -> None:
    root = tmp_path / "wwwroot"
    root.mkdir()
    (root / "host.json").write_text(HOST_JSON)
    (root / "function_app.py").write_text("import not_installed_module\n")
    result = index_app(root, python, {})
    assert result.function_errors == {}
    [error] = result.host_errors
    assert "No module named 'not_installed_module'" in error
    (root / "host.json").unlink()
    assert "host.json not found" in index_app(root, python, {}).host_errors[0]


def test_the_last_index_follows_the_folder_not_its_path(tmp_path: Path, python: Path) -> None:
    site = tmp_path / "production"
    wwwroot = v1_app(site / "wwwroot")
    result = index_app(wwwroot, python, {})
    assert last_index(wwwroot, ["Good"]) is result
    # The site lists something else (it was indexed again elsewhere, or changed): not ours.
    assert last_index(wwwroot, ["Good", "Other"]) is None
    # A slot swap renames the site folders: the errors go with the content.
    swapped = tmp_path / "slot-staging"
    site.rename(swapped)
    assert last_index(swapped / "wwwroot", ["Good"]) is result
    assert last_index(site / "wwwroot", ["Good"]) is None  # nothing there any more
    # A deployment puts a new folder in place: it has no errors until it is indexed.
    shutil.rmtree(swapped / "wwwroot")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert last_index(fresh, []) is None
