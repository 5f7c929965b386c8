"""URL scheme, configuration, endpoint exports, path matching and CLI usage errors."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from azpublish.emulator.arm_routing import SITE, match
from azpublish.emulator.cli import main
from azpublish.emulator.config import EmulatorConfig, load_config, save_config
from azpublish.emulator.endpoint import EndpointInfo
from azpublish.emulator.layout import StateLayout
from azpublish.emulator.middleware import app_of
from azpublish.emulator.urls import EmulatorUrls
from azpublish.errors import UsageError


def test_urls_put_the_app_in_the_path() -> None:
    urls = EmulatorUrls("127.0.0.1", 8443)
    assert urls.scm_host("a", None) == "127.0.0.1:8443/scm/a"
    assert urls.scm_url("a", "stage") == "https://127.0.0.1:8443/scm/a/slots/stage"
    assert urls.site_host("a", None) == "127.0.0.1:8443/sites/a"
    assert urls.invoke_url("a", None, "api", "items/{id}") == \
        "https://127.0.0.1:8443/sites/a/api/items/{id}"
    assert urls.invoke_url("a", None, "", "/root") == "https://127.0.0.1:8443/sites/a/root"
    assert urls.scm_url_with_credentials("a", None, "$a", "p/w:d") == \
        "https://$a:p%2Fw%3Ad@127.0.0.1:8443/scm/a"
    assert EmulatorUrls("::1", 1).base == "https://[::1]:1"


def test_config_changes_are_checked_and_kept(tmp_path: Path) -> None:
    config = EmulatorConfig().updated({"settings_propagation_delay": "2.5",
                                       "max_upload_bytes": 10,
                                       "flex_rejected_settings": "a, B"}, where="t")
    assert config.settings_propagation_delay == 2.5 and config.max_upload_bytes == 10
    assert config.flex_rejected == frozenset({"A", "B"})
    for bad in ({"nope": 1}, {"max_upload_bytes": "lots"}, {"hold_timeout_seconds": -1}):
        with pytest.raises(UsageError):
            config.updated(bad, where="t")
    layout = StateLayout(tmp_path)
    save_config(layout, config)
    assert load_config(layout) == config


def test_endpoint_exports_are_shell_quoted() -> None:
    info = EndpointInfo(arm_endpoint="https://127.0.0.1:1", ca_bundle="/tmp/a dir/ca.pem",
                        identity_endpoint="http://127.0.0.1:2/msi/token",
                        identity_header="h'x", subscription_id="s", resource_group="rg",
                        tenant_id="t", pid=1, admin_url="https://127.0.0.1:1/_emulator")
    parsed = {}
    for line in info.export_lines():
        name, _, value = line.removeprefix("export ").partition("=")
        parsed[name] = shlex.split(value)[0]
    assert parsed["AZPUBLISH_CA_BUNDLE"] == parsed["REQUESTS_CA_BUNDLE"] == "/tmp/a dir/ca.pem"
    assert parsed["IDENTITY_HEADER"] == "h'x"
    assert set(parsed) == {"AZPUBLISH_ARM_ENDPOINT", "AZPUBLISH_CA_BUNDLE",
                           "REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                           "AZURE_SUBSCRIPTION_ID", "AZPUBLISH_EMULATOR_URL_SCHEME"}


def test_arm_paths_match_case_insensitively() -> None:
    pattern = tuple((SITE + "/config/web").split("/"))
    path = "subscriptions/S/resourceGroups/RG/providers/Microsoft.Web/sites/My%20App/config/WEB"
    assert match(pattern, path.split("/")) == {"sub": "S", "rg": "RG", "name": "My App"}
    assert match(pattern, path.split("/")[:-1]) is None


@pytest.mark.parametrize("path, app", [
    ("/scm/one/api/zipdeploy", "one"), ("/sites/two/api/x", "two"),
    ("/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/three/config/web",
     "three"),
    ("/metadata/endpoints", None),
])
def test_faults_know_which_app_a_path_is_about(path: str, app: str | None) -> None:
    assert app_of(path) == app


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZPUBLISH_EMULATOR_STATE_DIR", raising=False)
    assert main(["list-apps"]) == 2
    assert "no state directory given" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
