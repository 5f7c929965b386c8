"""Real app shapes (tests/projects/corpus/), each published end to end to the emulator with a
remote build and with a local wheels build: every function the app declares must be indexed
by name, and an HTTP function must answer.

Each app is written here, modelled on a shape public function apps have: blueprints in
several modules, code shared between v1 functions, nested -r/-c includes, files saved with a
BOM and CRLF line ends, a second host.json below the root, and non-HTTP triggers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from tests.conftest import PROJECTS
from tests.integration.conftest import Run, RunningEmulator

pytestmark = pytest.mark.integration

CORPUS = PROJECTS / "corpus"
# app -> (the functions the host must index, an HTTP path to call, what its answer holds)
SHAPES = {
    "blueprints": ({"get_order", "health", "nightly_cleanup"}, "orders/42", '"order": "42"'),
    "shared-code-v1": ({"Orders", "Invoices"}, "Orders?total=3.75", "375"),
    "nested-includes": ({"versions"}, "versions", "six 1.17.0, packaging 24.0"),
    "crlf-bom": ({"windows"}, "windows", "saved on windows"),
    "nested-host": ({"root"}, "root", "the root host.json is the app's"),
    "triggers": ({"every_five_minutes", "on_order", "on_upload", "ping"}, "ping", "pong"),
    "mcp-tools": ({"get_snippet", "hello_tool", "healthz"}, "healthz", "mcp server up"),
    "script-per-folder": ({"GetUser", "ListUsers"}, "users/7", "user 7"),
    "windows-marker": ({"platform"}, "platform", "running on linux"),
}
BUILDS = {"remote": ("--build", "remote"), "local": ("--build", "local", "--engine", "wheels")}


def test_every_corpus_app_is_in_the_table() -> None:
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == set(SHAPES)


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_app_publishes_with_all_its_functions(run: Run, emulator: RunningEmulator,
                                                  tmp_path: Path, shape: str,
                                                  build: str) -> None:
    expected, path, answer = SHAPES[shape]
    root = tmp_path / shape
    shutil.copytree(CORPUS / shape, root)
    app = emulator.create_app(plan="premium")
    code, out, err = run("--project-dir", root, "--app", app, *BUILDS[build], "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {f["name"] for f in report["functions"]} == expected
    names = {f["name"].rsplit("/", 1)[-1] for f in emulator.functions(app, count=len(expected))}
    assert names == expected
    called = requests.get(f"{emulator.site_url(app)}/api/{path}", verify=emulator.ca_bundle,
                          timeout=60)
    assert called.status_code == 200 and answer in called.text, called.text
