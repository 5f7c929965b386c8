"""``action.yml``: its schema, then its steps run as the GitHub runner runs them, against the
emulator.

The runner is simulated as far as a composite action needs: ``${{ }}`` expressions over
``inputs``, ``steps.<id>.outputs`` and ``github.action_path``, ``if:`` conditions, a fresh
``$GITHUB_OUTPUT`` file per step, one ``$GITHUB_STEP_SUMMARY``, the step's ``env``, bash. The
install step really creates a venv and pip-installs azpublish from the checkout (about 30 s;
it runs once for the module).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from azpublish.ci import outputs as cli_outputs
from azpublish.run_report import RunReport
from azpublish.settings import OPTIONS
from tests.integration.conftest import RunningEmulator

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
ACTION = REPO / "action.yml"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_CONDITION = re.compile(r"^(?P<left>[\w.-]+)\s*(?P<op>==|!=)\s*'(?P<right>[^']*)'$")
_DELIMITED = re.compile(r"^(?P<name>[\w-]+)<<(?P<delim>\S+)\n(?P<value>.*?)\n(?P=delim)$",
                        re.MULTILINE | re.DOTALL)

HELLO = '''
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello from the action")
'''


def load_action() -> dict[str, Any]:
    action: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return action


# -- a composite-action runner, as small as this action needs -------------------------------


@dataclass
class Runner:
    action: dict[str, Any]
    inputs: Mapping[str, str]
    workspace: Path
    temp: Path
    env: Mapping[str, str]
    step_outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    logs: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    @property
    def summary(self) -> Path:
        return self.temp / "step_summary.md"

    def context_value(self, name: str) -> str:
        parts = name.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            declared = self.action["inputs"][parts[1]]  # KeyError: an undeclared input
            return str(self.inputs.get(parts[1], declared.get("default", "")))
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.step_outputs.get(parts[1], {}).get(parts[3], "")
        if parts == ["github", "action_path"]:
            return str(REPO)
        raise AssertionError(f"the simulated runner does not know {name!r}")

    def expand(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self.context_value(m.group(1)), text)

    def condition(self, text: str) -> bool:
        match = _CONDITION.match(_EXPRESSION.sub(r"\1", text).strip())
        assert match, f"the simulated runner cannot evaluate if: {text!r}"
        equal = self.context_value(match["left"]) == match["right"]
        return equal if match["op"] == "==" else not equal

    def run(self, until: str | None = None, *, start: str | None = None) -> None:
        """Run the steps from ``start`` (an id) up to and including ``until``."""
        steps = self.action["runs"]["steps"]
        ids = [s.get("id") for s in steps]
        first = ids.index(start) if start else 0
        last = ids.index(until) if until else len(steps) - 1
        for number, step in enumerate(steps[first:last + 1], start=first):
            name = step.get("id") or f"step{number}"
            if "if" in step and not self.condition(str(step["if"])):
                self.skipped.append(name)
                continue
            assert "run" in step, f"step {name} would run {step.get('uses')}: not offline"
            self.run_script(name, step)

    def run_script(self, name: str, step: Mapping[str, Any]) -> None:
        assert step["shell"] == "bash"
        output = self.temp / f"output-{name}"
        output.write_text("")
        env = {**self.env,
               **{key: self.expand(str(value)) for key, value in step.get("env", {}).items()},
               "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(self.workspace),
               "GITHUB_ACTION_PATH": str(REPO), "RUNNER_TEMP": str(self.temp),
               "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(self.summary)}
        # The runner writes the script to a file and runs it with `bash -e {0}`.
        script = self.temp / f"{name}.sh"
        script.write_text(self.expand(step["run"]))
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                                 str(script)], cwd=self.workspace, env=env, text=True,
                                capture_output=True, timeout=300, check=False)
        self.logs[name] = result
        self.step_outputs[name] = parse_output_file(output.read_text())

    def action_outputs(self) -> dict[str, str]:
        return {name: self.expand(spec["value"])
                for name, spec in self.action["outputs"].items()}


def parse_output_file(text: str) -> dict[str, str]:
    values = {m["name"]: m["value"] for m in _DELIMITED.finditer(text)}
    for line in _DELIMITED.sub("", text).splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


# -- the schema ---------------------------------------------------------------------------------


def test_action_schema() -> None:
    action = load_action()
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    text = yaml.safe_dump(steps)
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
        assert f"inputs.{name} " in text or f"inputs.{name}}}" in text, f"{name} is never used"
    # The outputs are what the CLI writes, wired to the step that runs it.
    assert set(action["outputs"]) == set(cli_outputs(RunReport()))
    ids = {step.get("id") for step in steps}
    for name, spec in action["outputs"].items():
        assert spec.get("description"), name
        match = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", spec["value"])
        assert match and match[1] in ids and match[2] == name, spec["value"]
    # Every variable the publish step sets is an option the CLI reads.
    [publish] = [step for step in steps if step.get("id") == "publish"]
    assert set(publish["env"]) <= {option.env for option in OPTIONS}
    # Inputs reach scripts only through env: an input spliced into a script is an injection.
    for step in steps:
        assert "inputs." not in step.get("run", ""), step.get("id")


def test_setup_python_is_conditional() -> None:
    steps = load_action()["runs"]["steps"]
    [setup] = [step for step in steps if "uses" in step]
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["if"] == "steps.python.outputs.suitable != 'true'"


# -- running it ---------------------------------------------------------------------------------


@dataclass
class Installed:
    temp: Path
    outputs: dict[str, dict[str, str]]
    skipped: list[str]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The steps before publishing, run once: check Python, install azpublish into a venv."""
    temp = tmp_path_factory.mktemp("runner-temp")
    workspace = tmp_path_factory.mktemp("workspace")
    runner = Runner(load_action(), {}, workspace, temp, base_environment())
    runner.run(until="install")
    for name, result in runner.logs.items():
        assert result.returncode == 0, f"{name}: {result.stdout}\n{result.stderr}"
    return Installed(temp, runner.step_outputs, runner.skipped)


def base_environment() -> dict[str, str]:
    """What a runner's process has: no azpublish settings of ours, no CI variables."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(("AZPUBLISH_", "GITHUB_", "INPUT_")) and key != "TF_BUILD"}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    app = tmp_path / "workspace" / "apps" / "hello"
    app.mkdir(parents=True)
    (app / "host.json").write_text('{"version": "2.0"}')
    (app / "function_app.py").write_text(HELLO)
    return tmp_path / "workspace"


def publish(installed: Installed, workspace: Path, inputs: Mapping[str, str],
            emulator: RunningEmulator) -> Runner:
    environment = {**base_environment(), **emulator.env()}
    runner = Runner(load_action(), inputs, workspace, installed.temp, environment)
    runner.step_outputs.update(installed.outputs)
    runner.run(start="publish")
    return runner


@pytest.mark.slow
def test_action_publishes_and_sets_outputs(installed: Installed, workspace: Path,
                                           emulator_env: RunningEmulator) -> None:
    assert installed.skipped == ["setup-python"]  # this runner's python3 is suitable
    assert Path(installed.outputs["install"]["bin"], "azpublish").is_file()
    # What the action installs is azpublish without extras: the emulator's libraries are not
    # there, and the publish below needs none of them.
    absent = subprocess.run(
        [str(Path(installed.outputs["install"]["bin"], "python")), "-c",
         "import importlib.util as u\n"
         "print([m for m in ('starlette', 'uvicorn') if u.find_spec(m)])"],
        capture_output=True, text=True, check=True)
    assert absent.stdout.strip() == "[]"
    app = emulator_env.create_app(plan="premium")
    runner = publish(installed, workspace, {"app-name": app, "project-dir": "apps/hello",
                                            "build": "custom"}, emulator_env)
    result = runner.logs["publish"]
    assert result.returncode == 0, result.stderr
    outputs = runner.action_outputs()
    assert outputs["app-url"] == emulator_env.site_url(app)
    assert re.fullmatch(r"[0-9a-f]{64}", outputs["package-sha256"])
    assert outputs["deployment-id"]
    [function] = json.loads(outputs["functions"])
    assert function["name"] == "hello" and function["invoke_url"].startswith(outputs["app-url"])
    summary = runner.summary.read_text()
    assert f"### azpublish: published {app}" in summary
    assert f"`{outputs['package-sha256']}`" in summary
    assert f"| hello | httpTrigger | {function['invoke_url']} |" in summary
    assert f"{outputs['deployment-id']}: success" in summary
    assert "::group::azpublish: deploy (deployment log)" in result.stderr


@pytest.mark.slow
def test_action_annotates_a_failing_project(installed: Installed, workspace: Path,
                                            emulator_env: RunningEmulator) -> None:
    (workspace / "apps" / "hello" / "function_app.py").write_text("def broken(:\n")
    app = emulator_env.create_app()
    secret = "idx-Secret-9876"
    runner = publish(installed, workspace, {
        "app-name": app, "project-dir": "apps/hello", "build": "custom",
        "pip-extra-index-url": f"https://user:{secret}@127.0.0.1:9/simple"}, emulator_env)
    result = runner.logs["publish"]
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"::add-mask::{secret}"
    assert any(line.startswith("::error file=apps/hello/function_app.py,line=1")
               for line in lines), result.stderr
    assert secret not in "\n".join(lines[1:]) + runner.summary.read_text()
    assert runner.action_outputs()["deployment-id"] == ""
    assert "failed (exit 2)" in runner.summary.read_text()


def test_runner_simulation_rejects_unknown_contexts(tmp_path: Path) -> None:
    runner = Runner(load_action(), {}, tmp_path, tmp_path, {})
    with pytest.raises(AssertionError, match="does not know"):
        runner.expand("${{ secrets.TOKEN }}")
    with pytest.raises(KeyError):
        runner.expand("${{ inputs.no-such-input }}")
    assert runner.expand("${{ inputs.build }}") == "remote"  # the declared default

