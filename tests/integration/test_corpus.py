"""Real app shapes (tests/projects/corpus/), each published end to end to the emulator with a
remote build and with a local wheels build: every function the app declares must be indexed
by name, and an HTTP function must answer.

Each app is written here, modelled on a shape public function apps have: blueprints in
several modules, code shared between v1 functions, nested -r/-c includes, files saved with a
BOM and CRLF line ends, a second host.json below the root, non-HTTP triggers, Durable
Functions in both models (orchestrator, activity, entity, HTTP starter), v1 entry points that
are re-exports or callable objects, a binding-only function, and a monorepo whose apps live in
src/* and are published one by one.
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
    # Durable starters are not called: their client binding needs the Durable extension's
    # backend, which the emulator's host does not run; each app has a plain HTTP probe.
    "durable-v1": ({"StartOrder", "FulfilOrder", "ReserveStock", "OrderCounter", "Health"},
                   "health", "durable v1 up, orchestrations report Running"),
    "durable-v2": ({"start_workflow", "healthz", "ship_parcels", "print_label", "parcel_tally"},
                   "healthz", "durable v2 up, blueprint of Blueprint"),
    "reexport-v1": ({"Greet", "Thumbnail", "NightlyDigest"}, "greet/ada",
                    "hello ada, re-exported"),
    # The frozen requirements list azure-functions-worker, which the package mirror does not
    # even serve: both builds pass only because the line is left out.
    "worker-listed": ({"frozen"}, "frozen", "six 1.17.0 without the worker"),
}
# Dependencies only in pyproject.toml: refused until `azpublish lock` writes requirements.txt.
PYPROJECT_ONLY = "pyproject-only"
# One of three v1 functions imports a module nothing installs.
ONE_BROKEN = "one-broken"
# The monorepo is a repository, not an app: each app below src/ is published from its own folder.
MONOREPO = "monorepo"
MONOREPO_APPS = {
    "orders": ({"get_order"}, "orders/7", "order 7 from orders"),
    "billing": ({"Invoice"}, "invoices/12", "invoice 12 from billing"),
}
BUILDS = {"remote": ("--build", "remote"), "local": ("--build", "local", "--engine", "wheels")}


def test_every_corpus_app_is_in_the_table() -> None:
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == {*SHAPES, MONOREPO,
                                                                PYPROJECT_ONLY, ONE_BROKEN}
    assert {p.parent.name for p in (CORPUS / MONOREPO).glob("src/*/host.json")} \
        == set(MONOREPO_APPS)


def publish_and_call(run: Run, emulator: RunningEmulator, project: Path, build: str,
                     expected: set[str], path: str, answer: str) -> None:
    """Publish ``project`` to a new app: all of ``expected`` indexed, ``path`` answers."""
    app = emulator.create_app(plan="premium")
    code, out, err = run("--project-dir", project, "--app", app, *BUILDS[build], "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {f["name"] for f in report["functions"]} == expected
    names = {f["name"].rsplit("/", 1)[-1] for f in emulator.functions(app, count=len(expected))}
    assert names == expected
    called = requests.get(f"{emulator.site_url(app)}/api/{path}", verify=emulator.ca_bundle,
                          timeout=60)
    assert called.status_code == 200 and answer in called.text, called.text


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_app_publishes_with_all_its_functions(run: Run, emulator: RunningEmulator,
                                                  tmp_path: Path, shape: str,
                                                  build: str) -> None:
    root = tmp_path / shape
    shutil.copytree(CORPUS / shape, root)
    publish_and_call(run, emulator, root, build, *SHAPES[shape])


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("member", sorted(MONOREPO_APPS))
def test_each_app_of_a_monorepo_publishes_from_its_folder(run: Run, emulator: RunningEmulator,
                                                          tmp_path: Path, member: str,
                                                          build: str) -> None:
    repository = tmp_path / MONOREPO
    shutil.copytree(CORPUS / MONOREPO, repository)
    # The apps include pins kept at the repository root (-r ../../requirements/common.txt): a
    # remote build packages them inlined, as the server reads only the package.
    publish_and_call(run, emulator, repository / "src" / member, build, *MONOREPO_APPS[member])


def test_the_monorepo_root_is_refused_naming_its_apps(run: Run, emulator: RunningEmulator,
                                                      tmp_path: Path) -> None:
    repository = tmp_path / MONOREPO
    shutil.copytree(CORPUS / MONOREPO, repository)
    app = emulator.create_app(plan="premium")
    code, _, err = run("--project-dir", repository, "--app", app, "--build", "remote")
    assert code == 2, err
    assert "no host.json" in err
    assert "function apps below this folder: src/billing, src/orders" in err, err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []


def test_dependencies_only_in_pyproject_are_refused_until_locked(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    root = tmp_path / PYPROJECT_ONLY
    shutil.copytree(CORPUS / PYPROJECT_ONLY, root)
    app = emulator.create_app(plan="premium")
    code, _, err = run("--project-dir", root, "--app", app, "--build", "remote")
    assert code == 2, err
    assert "pyproject.toml lists 2 dependencies, but there is no requirements.txt" in err
    assert "azpublish lock" in err
    assert emulator.kudu("GET", app, "/api/deployments").json() == []
    code, _, err = run("lock", "--project-dir", root, "--engine", "wheels")
    assert code == 0, err
    assert "packaging==24.0" in (root / "requirements.txt").read_text()
    for build in sorted(BUILDS):
        publish_and_call(run, emulator, root, build, {"inventory"}, "inventory",
                         "api 0.3.0 on packaging")


def test_one_function_that_cannot_import_is_stopped_before_the_upload(
        run: Run, emulator: RunningEmulator, tmp_path: Path) -> None:
    """A local build's import check stops it (exit 3), naming the script and the package to
    add. (A remote build cannot tell: on Azure the host lists a model v1 function from its
    function.json even when its script fails to import, and fails only when it is called.)"""
    root = tmp_path / ONE_BROKEN
    shutil.copytree(CORPUS / ONE_BROKEN, root)
    app = emulator.create_app(plan="premium")
    code, out, err = run("--project-dir", root, "--app", app, *BUILDS["local"], "--json")
    assert code == 3, err
    assert "Reports/__init__.py" in err and "No module named 'pandas'" in err
    assert "add pandas to requirements.txt" in err
    assert json.loads(out)["failed_stage"] == "build"
    assert emulator.kudu("GET", app, "/api/deployments").json() == []
