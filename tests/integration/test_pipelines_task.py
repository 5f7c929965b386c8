"""The Azure Pipelines task: its node tests against a real emulator, and task.json's contract.

``node --test`` runs ``integrations/azure-pipelines/test/``; the cases that publish get the
emulator, two apps and the CLI through ``AZPUBLISH_TASK_TEST_*``. Needs node and the task's
``node_modules`` (``npm ci --prefix integrations/azure-pipelines``, done by ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from azpublish.ci import AZURE_VARIABLES
from tests.integration.conftest import RunningEmulator

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
TASK = REPO / "integrations" / "azure-pipelines"
NODE = shutil.which("node")


def require_node() -> str:
    if NODE is None:
        pytest.skip("node is not installed")
    if not (TASK / "node_modules" / "azure-pipelines-task-lib").is_dir():
        pytest.skip("run `npm ci --prefix integrations/azure-pipelines` first (.ci/run does)")
    return NODE


def handler_table(name: str) -> object:
    """A constant exported by index.js, read by node itself."""
    node = require_node()
    script = f"console.log(JSON.stringify(require('./index.js').{name}))"
    result = subprocess.run([node, "-e", script], cwd=TASK, capture_output=True, text=True,
                            check=True, timeout=60)
    # task-lib prints ##vso[task.debug] lines when loaded; the value is the last line.
    return json.loads(result.stdout.splitlines()[-1])


def test_task_json_contract() -> None:
    task = json.loads((TASK / "task.json").read_text())
    assert str(uuid.UUID(task["id"])) == task["id"]
    assert task["name"] == "AzPublish"
    assert task["execution"]["Node20_1"]["target"] == "index.js"
    inputs = {i["name"]: i for i in task["inputs"]}
    assert inputs["azureSubscription"]["type"] == "connectedService:AzureRM"
    assert set(inputs) == set(handler_table("INPUTS"))  # read by the handler, and only those
    assert len(task["friendlyName"]) <= 40  # the marketplace's limit
    # The CLI sets the output variables (the task does not set them again): the same names.
    assert {v["name"] for v in task["outputVariables"]} == set(AZURE_VARIABLES.values())


def test_task_mirrors_the_action_and_the_template() -> None:
    """The action, the task and the YAML template set the same AZPUBLISH_* variables."""
    action = yaml.safe_load((REPO / "action.yml").read_text())
    [publish] = [s for s in action["runs"]["steps"] if s.get("id") == "publish"]
    task_variables = handler_table("INPUT_VARIABLES")
    assert isinstance(task_variables, dict)
    assert set(task_variables.values()) == set(publish["env"])
    template = yaml.safe_load((TASK / "azpublish.yml").read_text())
    [step] = template["steps"]
    assert step["task"] == "AzureCLI@2" and step["inputs"]["addSpnToEnvironment"] is True
    template_variables = {k for k in step["env"] if k.startswith("AZPUBLISH_")}
    assert template_variables == set(publish["env"])
    parameters = {p["name"] for p in template["parameters"]}
    used = set(re.findall(r"parameters\.(\w+)", yaml.safe_dump(template["steps"])))
    assert parameters == used


def test_node_tests_against_the_emulator(emulator_env: RunningEmulator) -> None:
    node = require_node()
    cli = Path(sys.executable).with_name("azpublish")
    assert cli.is_file()
    app = emulator_env.create_app(plan="premium")
    env = {
        **{k: v for k, v in os.environ.items()
           if k not in ("AZPUBLISH_ARM_ENDPOINT", "AZURE_SUBSCRIPTION_ID")},
        "AZPUBLISH_TASK_TEST_CLI": str(cli),
        "AZPUBLISH_TASK_TEST_ARM": emulator_env.arm_endpoint,
        "AZPUBLISH_TASK_TEST_APP_URL": emulator_env.site_url(app),
        "AZPUBLISH_TASK_TEST_SUBSCRIPTION": emulator_env.subscription_id,
        "AZPUBLISH_TASK_TEST_APP": app,
        "AZPUBLISH_TASK_TEST_BROKEN_APP": emulator_env.create_app(),
    }
    result = subprocess.run([node, "--test", "--test-reporter=tap", "test/"], cwd=TASK,
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    assert re.search(r"^# skipped 0$", result.stdout, re.MULTILINE), result.stdout[-2000:]
    assert re.search(r"^# fail 0$", result.stdout, re.MULTILINE)
