"""The Azure CLI from PyPI, unchanged, against the emulator: the commands people deploy and
manage function apps with, on Premium, Dedicated and Flex Consumption apps.

The CLI (pinned in tests/clients/azure-cli.txt, installed by scripts/test-setup.sh) registers
the emulator as a custom cloud, signs in with ``az login --identity`` through the emulator's
managed-identity endpoint, and talks to it over the App Service host names. Telemetry is off;
the suite's network guard would fail the run on anything that left loopback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import RunningEmulator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
AZ = ROOT / ".cache" / "azure-cli" / "bin" / "az"
EXAMPLE = ROOT / "examples" / "hello"
PINS = ROOT / "tests" / "clients" / "azure-cli.txt"


@dataclass
class AzureCli:
    env: dict[str, str]
    group: str

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(AZ), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def __call__(self, *args: str, timeout: float = 600) -> Any:
        """``az ARGS -o json``, parsed; a failure shows what the CLI said."""
        done = self.run(*args, "-o", "json", timeout=timeout)
        assert done.returncode == 0, f"az {' '.join(args)} failed:\n{done.stderr[-4000:]}"
        return json.loads(done.stdout) if done.stdout.strip() else None

    def app(self, *args: str, app: str, timeout: float = 600) -> Any:
        """``az functionapp ARGS -g GROUP -n APP``."""
        return self("functionapp", *args, "-g", self.group, "-n", app, timeout=timeout)


@pytest.fixture(scope="module")
def az(emulator: RunningEmulator, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[AzureCli]:
    if not AZ.is_file():
        pytest.skip(f"the Azure CLI is not installed in {AZ.parent.parent}: run "
                    "bash scripts/test-setup.sh (make test does)")
    config = tmp_path_factory.mktemp("azure-cli-config")
    seed_version_check(config)
    env = {**os.environ, **emulator.env(), "AZURE_CONFIG_DIR": str(config),
           "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_SURVEY_MESSAGE": "false",
           "AZURE_CORE_NO_COLOR": "true", "AZURE_CORE_ONLY_SHOW_ERRORS": "true"}
    cli = AzureCli(env, emulator.resource_group)
    # A trailing slash, as people write it: the CLI then asks for //metadata/endpoints.
    cli("cloud", "register", "-n", "AzpublishEmulator", "--endpoint-resource-manager",
        f"{emulator.arm_endpoint}/")
    cli("cloud", "set", "-n", "AzpublishEmulator")
    cli("login", "--identity")
    yield cli


def seed_version_check(config: Path) -> None:
    """What a fresh CLI would fetch from Microsoft's storage on first start (its latest
    versions), written beforehand: the CLI then has no reason to leave the machine."""
    pinned = next(line.split("==", 1)[1].strip() for line in PINS.read_text().splitlines()
                  if line.startswith("azure-cli=="))
    (config / "versionCheck.json").write_text(json.dumps({
        "versions": {"azure-cli": {"local": pinned}, "core": {"local": pinned}},
        "update_time": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")}))


def hello_zip(folder: Path, greeting: str = "Hello") -> Path:
    """examples/hello as a zip the CLI uploads (the server installs requirements.txt)."""
    path = folder / f"hello-{greeting.lower()}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sorted(EXAMPLE.iterdir()):
            if source.name in ("host.json", "requirements.txt"):
                archive.write(source, source.name)
        archive.writestr("function_app.py", (EXAMPLE / "function_app.py").read_text()
                         .replace('f"Hello, {name}!"', f'f"{greeting}, {{name}}!"'))
    return path


def greeting_of(emulator: RunningEmulator, url: str) -> str:
    answer = requests.get(url, params={"name": "cli"}, verify=emulator.ca_bundle, timeout=60)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["message"])


def test_the_cli_signs_in_through_the_emulators_managed_identity(
        az: AzureCli, emulator: RunningEmulator) -> None:
    account = az("account", "show")
    assert account["id"] == emulator.subscription_id
    assert account["environmentName"] == "AzpublishEmulator"
    assert account["user"]["type"] == "servicePrincipal"
    assert account["user"]["assignedIdentityInfo"] == "MSI"


def test_show_list_config_profiles_and_restart(az: AzureCli, emulator: RunningEmulator) -> None:
    app = emulator.create_app(plan="premium")
    shown = az.app("show", app=app)
    assert shown["defaultHostName"] == emulator.site_url(app).removeprefix("https://")
    assert shown["kind"] == "functionapp,linux" and shown["state"] == "Running"
    listed = az("functionapp", "list", "-g", az.group, "--query", "[].name")
    assert app in listed
    assert app in az("functionapp", "list", "--query", "[].name")  # the whole subscription
    assert az.app("config", "show", app=app)["linuxFxVersion"] == "Python|3.11"
    profiles = {p["publishMethod"]: p
                for p in az.app("deployment", "list-publishing-profiles", app=app)}
    assert set(profiles) == {"MSDeploy", "FTP", "ZipDeploy"}
    zip_profile = profiles["ZipDeploy"]
    assert f"https://{zip_profile['publishUrl']}" == emulator.scm_url(app)
    assert zip_profile["userName"] == f"${app}"
    deployments = requests.get(f"https://{zip_profile['publishUrl']}/api/deployments",
                               auth=(zip_profile["userName"], zip_profile["userPWD"]),
                               verify=emulator.ca_bundle, timeout=30)
    assert deployments.status_code == 200  # the profile's credentials open Kudu
    before = emulator.app_info(app)["sites"][0]["restart_count"]
    az.app("restart", app=app)
    assert emulator.app_info(app)["sites"][0]["restart_count"] == before + 1
    resources = az("resource", "list", "-g", az.group, "--resource-type", "Microsoft.Web/sites",
                   "--query", "[].name")
    assert app in resources and f"{app}-plan" not in resources


def test_app_settings_list_set_delete_and_slot_sticky_names(az: AzureCli,
                                                             emulator: RunningEmulator) -> None:
    app = emulator.create_app(plan="dedicated")
    names = {s["name"] for s in az.app("config", "appsettings", "list", app=app)}
    assert {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"} <= names
    az.app("config", "appsettings", "set", "--settings", "GREETING=hi", "--slot-settings",
           "STICKY=1", app=app)
    settings = {s["name"]: s for s in az.app("config", "appsettings", "list", app=app)}
    assert settings["GREETING"]["value"] == "hi" and settings["GREETING"]["slotSetting"] is False
    assert settings["STICKY"]["slotSetting"] is True
    sticky = emulator.arm("GET", f"{emulator.site_path(app)}/config/slotConfigNames").json()
    assert sticky["properties"]["appSettingNames"] == ["STICKY"]
    az.app("config", "appsettings", "delete", "--setting-names", "GREETING", app=app)
    left = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list").json()
    assert "GREETING" not in left["properties"] and left["properties"]["STICKY"] == "1"


@pytest.mark.parametrize("plan", ["premium", "dedicated", "flex"])
def test_remote_build_deploy_then_the_function_answers(
        az: AzureCli, emulator: RunningEmulator, tmp_path: Path, plan: str) -> None:
    app = emulator.create_app(plan=plan)
    az.app("deployment", "source", "config-zip", "--src", str(hello_zip(tmp_path)),
           "--build-remote", "true", app=app)
    emulator.functions(app, timeout=60)
    [function] = az.app("function", "list", app=app)
    assert function["name"] == f"{app}/hello"
    shown = az.app("function", "show", "--function-name", "hello", app=app)
    assert greeting_of(emulator, shown["invokeUrlTemplate"]) == "Hello, cli!"
    keys = az.app("keys", "list", app=app)
    assert keys["masterKey"] and keys["functionKeys"]["default"]
    [deployment] = az.app("log", "deployment", "list", app=app)
    assert deployment["status"] == 4
    log = az.app("log", "deployment", "show", "--deployment-id", deployment["id"], app=app)
    assert any("Deployment successful." in entry["message"] for entry in log)


@pytest.mark.parametrize("plan", ["premium", "dedicated"])
def test_functionapp_deploy_and_slot_swap(az: AzureCli, emulator: RunningEmulator,
                                          tmp_path: Path, plan: str) -> None:
    """Deploy to a new slot with OneDeploy, swap it into production: production serves the
    slot's package, the sticky setting stays with its slot, the other moves."""
    app = emulator.create_app(plan=plan)
    az.app("config", "appsettings", "set", "--settings", "SCM_DO_BUILD_DURING_DEPLOYMENT=true",
           "ENABLE_ORYX_BUILD=true", app=app)
    az.app("deployment", "source", "config-zip", "--src", str(hello_zip(tmp_path)),
           "--build-remote", "true", app=app)
    az.app("deployment", "slot", "create", "--slot", "staging", app=app)
    assert [s["name"] for s in az.app("deployment", "slot", "list", app=app)] == ["staging"]
    az.app("config", "appsettings", "set", "--slot", "staging", "--settings", "MOVES=staged",
           "--slot-settings", "STAYS=staging-only", app=app)
    az.app("deploy", "--slot", "staging", "--type", "zip", "--src-path",
           str(hello_zip(tmp_path, "Howdy")), app=app)
    emulator.functions(app, slot="staging", timeout=60)
    slot_url = f"{emulator.site_url(app, 'staging')}/api/hello"
    production_url = f"{emulator.site_url(app)}/api/hello"
    assert greeting_of(emulator, slot_url) == "Howdy, cli!"
    assert greeting_of(emulator, production_url) == "Hello, cli!"

    az.app("deployment", "slot", "swap", "--slot", "staging", app=app)
    assert greeting_of(emulator, production_url) == "Howdy, cli!"
    assert greeting_of(emulator, slot_url) == "Hello, cli!"
    production = {s["name"]: s["value"]
                  for s in az.app("config", "appsettings", "list", app=app)}
    staging = {s["name"]: s["value"]
               for s in az.app("config", "appsettings", "list", "--slot", "staging", app=app)}
    assert production.get("MOVES") == "staged" and "MOVES" not in staging
    assert staging.get("STAYS") == "staging-only" and "STAYS" not in production
