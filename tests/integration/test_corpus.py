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
}
# The monorepo is a repository, not an app: each app below src/ is published from its own folder.
MONOREPO = "monorepo"
MONOREPO_APPS = {
    "orders": ({"get_order"}, "orders/7", "order 7 from orders"),
    "billing": ({"Invoice"}, "invoices/12", "invoice 12 from billing"),
}
BUILDS = {"remote": ("--build", "remote"), "local": ("--build", "local", "--engine", "wheels")}


def test_every_corpus_app_is_in_the_table() -> None:
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == {*SHAPES, MONOREPO}
    assert {p.parent.name for p in (CORPUS / MONOREPO).glob("src/*/host.json")} \
        == set(MONOREPO_APPS)


# KNOWN DEFECT (azpublish/build/remote.py, not fixed here): a remote build packages
# requirements.txt as it is, so an include outside the app (the monorepo's
# `-r ../../requirements/common.txt`) is not in the package and the server's pip cannot open it;
# azpublish uploads anyway and exits 4 after the server build. It should put the includes that
# lie outside the app into the package (or refuse before uploading, exit 2, naming the include).
# Until then the monorepo's remote cases end as an expected failure on exactly this message;
# once fixed they run to the end like every other case.
OUTSIDE_INCLUDE = "Could not open requirements file: [Errno 2] No such file or directory: " \
    "'../../requirements/common.txt'"


def publish_and_call(run: Run, emulator: RunningEmulator, project: Path, build: str,
                     expected: set[str], path: str, answer: str, *,
                     known_defect: str | None = None) -> None:
    """Publish ``project`` to a new app: all of ``expected`` indexed, ``path`` answers.

    ``known_defect``: the message of a failure (exit 4) this case is known to end in today; the
    case is then an expected failure, and only on exactly that message.
    """
    app = emulator.create_app(plan="premium")
    code, out, err = run("--project-dir", project, "--app", app, *BUILDS[build], "--json")
    if known_defect is not None and code == 4 and known_defect in err:
        pytest.xfail(f"known defect, see the comment above OUTSIDE_INCLUDE: {known_defect}")
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
    publish_and_call(run, emulator, repository / "src" / member, build, *MONOREPO_APPS[member],
                     known_defect=OUTSIDE_INCLUDE if build == "remote" else None)


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
