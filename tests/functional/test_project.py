from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from azpublish.errors import ExitCode, ProjectError
from azpublish.project import discover, find_root
from tests.conftest import PROJECTS


def test_v2_project() -> None:
    project = discover(PROJECTS / "v2-http")
    assert project.model == "v2"
    assert [(f.name, f.trigger) for f in project.functions] == [
        ("hello", "httpTrigger"), ("nightly", "timerTrigger")]
    assert project.requirements.names == ("azure-functions", "six")


def test_v1_project_with_shared_code_and_includes() -> None:
    project = discover(PROJECTS / "v1-shared")
    assert project.model == "v1"
    [function] = project.functions
    assert (function.name, function.trigger, function.script, function.entry_point) == (
        "HttpTrigger", "httpTrigger", "HttpTrigger/__init__.py", "main")
    assert [p.name for p in project.requirements.files] == ["requirements.txt", "base.txt"]
    assert project.requirements.names == ("azure-functions", "requests")


def test_find_root_walks_up(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text("{}")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(None, cwd=deep) == tmp_path.resolve()


def test_find_root_without_host_json(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no host.json in this folder or any folder above"):
        find_root(None, cwd=tmp_path)
    with pytest.raises(ProjectError, match="no host.json here"):
        find_root(tmp_path)
    with pytest.raises(ProjectError, match="no such folder"):
        find_root(tmp_path / "missing")


def test_a_monorepo_root_points_at_the_apps_below(tmp_path: Path) -> None:
    for app in ("src/orders", "src/billing", "tools/admin/app"):
        (tmp_path / app).mkdir(parents=True)
        (tmp_path / app / "host.json").write_text("{}")
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "host.json").write_text("{}")  # not an app of ours
    with pytest.raises(ProjectError, match="no host.json here") as given:
        find_root(tmp_path)
    assert given.value.fix == ("function apps below this folder: src/billing, src/orders, "
                               "tools/admin/app; pass one with --project-dir (e.g. "
                               f"--project-dir {tmp_path / 'src/billing'})")
    with pytest.raises(ProjectError, match="or any folder above") as walked:
        find_root(None, cwd=tmp_path)
    assert walked.value.fix and "src/orders" in walked.value.fix


@pytest.mark.parametrize(("name", "where", "message"), [
    ("bad-host-json", "host.json:3:1", "host.json is not valid JSON"),
    ("bad-host-version", "host.json", "version '1.0'"),
    ("bad-function-json", "Broken/function.json:3:28", "function.json is not valid JSON"),
    ("bad-missing-script", "Orphan/function.json", "scriptFile 'run.py' does not exist"),
    ("bad-no-functions", "bad-no-functions", "no functions found"),
    ("bad-dotnet-settings", "local.settings.json", "'dotnet-isolated', not 'python'"),
])
def test_bad_projects(name: str, where: str, message: str) -> None:
    with pytest.raises(ProjectError, match=message) as info:
        discover(PROJECTS / name)
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.where is not None and info.value.where.endswith(where)
    assert info.value.fix


def test_entry_point_must_exist(project_copy: Callable[[str], Path]) -> None:
    root = project_copy("v1-shared")
    (root / "HttpTrigger" / "__init__.py").write_text("def handler(req):\n    pass\n")
    with pytest.raises(ProjectError, match="entryPoint 'main' is not defined") as info:
        discover(root)
    assert info.value.fix and "df.Orchestrator.create" in info.value.fix


@pytest.mark.parametrize("script", [
    # Durable Functions v1, as documented: the entry point is the object create() returns.
    "import azure.durable_functions as df\n\ndef orchestrator_function(context):\n"
    "    return []\n\nmain = df.Orchestrator.create(orchestrator_function)\n",
    "import azure.durable_functions as df\n\nmain = df.Entity.create(lambda ctx: None)\n",
    "from .impl import main\n",  # a re-export
    "from .impl import handler as main\n",
    "try:\n    from .fast import main\nexcept ImportError:\n    from .slow import main\n",
    "if True:\n    main: object = print\n",
    "from .everything import *\n",  # the import check decides
])
def test_entry_points_the_worker_accepts(project_copy: Callable[[str], Path], script: str
                                         ) -> None:
    root = project_copy("v1-shared")
    (root / "HttpTrigger" / "__init__.py").write_text(script)
    [function] = [f for f in discover(root).functions if f.name == "HttpTrigger"]
    assert function.entry_point == "main"


def test_names_inside_functions_do_not_count(project_copy: Callable[[str], Path]) -> None:
    root = project_copy("v1-shared")
    (root / "HttpTrigger" / "__init__.py").write_text(
        "def setup():\n    main = 1\n    return main\n\nclass Holder:\n    main = 2\n")
    with pytest.raises(ProjectError, match="entryPoint 'main' is not defined"):
        discover(root)


def test_script_syntax_error_names_line(project_copy: Callable[[str], Path]) -> None:
    root = project_copy("v2-http")
    (root / "function_app.py").write_text("import azure.functions as func\n\ndef broken(:\n")
    with pytest.raises(ProjectError, match="syntax error") as info:
        discover(root)
    assert info.value.where == f"{root / 'function_app.py'}:3"


def test_script_outside_root_refused(project_copy: Callable[[str], Path]) -> None:
    root = project_copy("v1-shared")
    (root / "HttpTrigger" / "function.json").write_text(
        '{"scriptFile": "../../elsewhere.py", "bindings": []}')
    with pytest.raises(ProjectError, match="points outside the app"):
        discover(root)


def test_mixed_models_refused(project_copy: Callable[[str], Path]) -> None:
    root = project_copy("v1-shared")
    (root / "function_app.py").write_text("")
    with pytest.raises(ProjectError, match="one programming model"):
        discover(root)


def test_missing_trigger(project_copy: Callable[[str], Path]) -> None:
    root = project_copy("v1-shared")
    (root / "HttpTrigger" / "function.json").write_text(
        '{"bindings": [{"type": "http", "direction": "out", "name": "$return"}]}')
    with pytest.raises(ProjectError, match="no trigger binding"):
        discover(root)


def test_invalid_local_settings_is_only_a_warning(project_copy: Callable[[str], Path]) -> None:
    root = project_copy("v2-http")
    (root / "local.settings.json").write_text("{oops")
    project = discover(root)
    assert any("local.settings.json" in w for w in project.warnings)
