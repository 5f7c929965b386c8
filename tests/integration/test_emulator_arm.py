"""ARM through azure-mgmt-web's WebSiteManagementClient (and raw requests where the SDK balks)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import CsmPublishingCredentialsPoliciesEntity, Site, StringDictionary

from tests.integration.conftest import HELLO, EmulatorFactory, RunningEmulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(emulator: RunningEmulator) -> Iterator[WebSiteManagementClient]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AZURE_CLIENT_ID", "MSI_ENDPOINT", "MSI_SECRET"):
            patch.delenv(name, raising=False)
        patch.setenv("IDENTITY_ENDPOINT", emulator.identity_endpoint)
        patch.setenv("IDENTITY_HEADER", emulator.identity_header)
        web = WebSiteManagementClient(ManagedIdentityCredential(), emulator.subscription_id,
                                      base_url=emulator.arm_endpoint,
                                      connection_verify=emulator.ca_bundle)
        with web:
            yield web


def test_site_describes_a_linux_function_app(emulator: RunningEmulator,
                                             client: WebSiteManagementClient) -> None:
    app = emulator.create_app(plan="premium")
    site = client.web_apps.get(emulator.resource_group, app)
    assert site.kind == "functionapp,linux"
    assert site.reserved is True
    assert site.sku == "ElasticPremium"
    assert site.server_farm_id.endswith(f"/serverfarms/{app}-plan")
    port = emulator.arm_endpoint.rsplit(":", 1)[1]
    scm = next(s.name for s in site.host_name_ssl_states if s.host_type == "Repository")
    assert scm == emulator.urls.scm_host(app, None) and port in scm
    assert scm in site.enabled_host_names
    assert site.default_host_name == emulator.urls.site_host(app, None)
    assert client.web_apps.get_configuration(emulator.resource_group, app).linux_fx_version \
        == "Python|3.11"


@pytest.mark.parametrize("plan, tier", [("dedicated", "Basic"), ("premium", "ElasticPremium"),
                                        ("flex", "FlexConsumption"), ("consumption", "Dynamic")])
def test_plan_tier_per_plan(emulator: RunningEmulator, client: WebSiteManagementClient,
                            plan: str, tier: str) -> None:
    app = emulator.create_app(plan=plan)
    farm = client.app_service_plans.get(emulator.resource_group, f"{app}-plan")
    assert farm.sku.tier == tier
    assert client.web_apps.get(emulator.resource_group, app).sku == tier


def test_flex_apps_carry_their_runtime_in_function_app_config(
        emulator: RunningEmulator, client: WebSiteManagementClient) -> None:
    app = emulator.create_app(plan="flex", python="3.12")
    site = client.web_apps.get(emulator.resource_group, app)
    assert site.function_app_config.runtime.name == "python"
    assert site.function_app_config.runtime.version == "3.12"
    assert not client.web_apps.get_configuration(emulator.resource_group, app).linux_fx_version


def test_app_settings_are_replaced_whole_and_restart_the_app(
        emulator: RunningEmulator, client: WebSiteManagementClient) -> None:
    app = emulator.create_app()
    before = emulator.app_info(app)["sites"][0]["restart_count"]
    settings = client.web_apps.list_application_settings(emulator.resource_group, app)
    assert settings.properties["FUNCTIONS_WORKER_RUNTIME"] == "python"
    client.web_apps.update_application_settings(
        emulator.resource_group, app, StringDictionary(properties={"ONLY": "this"}))
    after = client.web_apps.list_application_settings(emulator.resource_group, app)
    assert after.properties == {"ONLY": "this"}
    assert emulator.app_info(app)["sites"][0]["restart_count"] == before + 1
    client.web_apps.update_application_settings(
        emulator.resource_group, app, StringDictionary(properties={"ONLY": "this"}))
    assert emulator.app_info(app)["sites"][0]["restart_count"] == before + 1  # no change


def test_publishing_credentials_and_scm_policy(emulator: RunningEmulator,
                                               client: WebSiteManagementClient) -> None:
    app = emulator.create_app()
    user = client.web_apps.begin_list_publishing_credentials(emulator.resource_group,
                                                             app).result()
    assert user.publishing_user_name == f"${app}"
    assert len(user.publishing_password) >= 40
    port = emulator.arm_endpoint.rsplit(":", 1)[1]
    assert user.scm_uri.startswith(f"https://${app}:")
    assert user.scm_uri.endswith(f"@{emulator.urls.scm_host(app, None)}") and port in user.scm_uri
    assert client.web_apps.get_scm_allowed(emulator.resource_group, app).allow is True
    client.web_apps.update_scm_allowed(
        emulator.resource_group, app,
        CsmPublishingCredentialsPoliciesEntity(properties={"allow": False}))
    assert client.web_apps.get_scm_allowed(emulator.resource_group, app).allow is False


def test_sync_function_triggers_answers_200_like_the_service(
        emulator: RunningEmulator, client: WebSiteManagementClient) -> None:
    app = emulator.create_app()
    with pytest.raises(HttpResponseError) as raised:
        client.web_apps.sync_function_triggers(emulator.resource_group, app)
    assert raised.value.status_code == 200  # the SDK expects 204 and raises on the real 200
    raw = emulator.arm("POST", f"{emulator.site_path(app)}/syncfunctiontriggers")
    assert raw.status_code == 200
    client.web_apps.sync_functions(emulator.resource_group, app)  # 204, accepted by the SDK
    assert list(client.web_apps.list_functions(emulator.resource_group, app)) == []


def test_slot_variants(emulator: RunningEmulator, client: WebSiteManagementClient) -> None:
    app = emulator.create_app()
    emulator.create_slot(app, "staging")
    group = emulator.resource_group
    slot = client.web_apps.get_slot(group, app, "staging")
    assert slot.name == f"{app}/staging"
    repository = next(s.name for s in slot.host_name_ssl_states if s.host_type == "Repository")
    assert repository == emulator.urls.scm_host(app, "staging")
    assert client.web_apps.get_configuration_slot(group, app, "staging").linux_fx_version \
        == "Python|3.11"
    client.web_apps.update_application_settings_slot(
        group, app, "staging", StringDictionary(properties={"SLOT_ONLY": "1"}))
    assert client.web_apps.list_application_settings_slot(group, app, "staging").properties \
        == {"SLOT_ONLY": "1"}
    assert "SLOT_ONLY" not in client.web_apps.list_application_settings(group, app).properties
    user = client.web_apps.begin_list_publishing_credentials_slot(group, app, "staging").result()
    assert user.publishing_user_name == f"${app}__staging"
    assert user.scm_uri.endswith(f"@{repository}")
    assert client.web_apps.get_scm_allowed_slot(group, app, "staging").allow is True
    assert list(client.web_apps.list_instance_functions_slot(group, app, "staging")) == []
    with pytest.raises(HttpResponseError) as raised:
        client.web_apps.sync_function_triggers_slot(group, app, "staging")
    assert raised.value.status_code == 200
    with pytest.raises(ResourceNotFoundError):
        client.web_apps.get_slot(group, app, "nope")


def test_unknown_app_is_an_arm_shaped_404(emulator: RunningEmulator,
                                          client: WebSiteManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        client.web_apps.get(emulator.resource_group, "no-such-app-here")
    assert raised.value.error.code == "ResourceNotFound"
    raw = emulator.arm("GET", emulator.site_path("no-such-app-here"))
    assert raw.status_code == 404
    assert raw.json()["error"]["code"] == "ResourceNotFound"
    assert raw.headers["x-ms-request-id"]


def test_flex_refuses_website_run_from_package(emulator: RunningEmulator) -> None:
    app = emulator.create_app(plan="flex")
    answer = emulator.arm("PUT", f"{emulator.site_path(app)}/config/appsettings",
                          json={"properties": {"WEBSITE_RUN_FROM_PACKAGE": "1"}})
    assert answer.status_code == 400
    # The resource provider's own error: unwrapped and capitalised, as the service answers it.
    body = answer.json()
    assert set(body) == {"Code", "Message", "Target", "Details", "Innererror"}
    assert body["Code"] == "BadRequest" and "WEBSITE_RUN_FROM_PACKAGE" in body["Message"]
    fine = emulator.arm("PUT", f"{emulator.site_path(app)}/config/appsettings",
                        json={"properties": {"OTHER": "1"}})
    assert fine.status_code == 200


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"properties": "flat"}',
                                  b'{"properties": {"A": {"nested": 1}}}'])
def test_malformed_bodies_are_400(emulator: RunningEmulator, body: bytes) -> None:
    app = emulator.create_app()
    answer = emulator.arm("PUT", f"{emulator.site_path(app)}/config/appsettings", data=body,
                          headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidRequestContent"
    still = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list")
    assert still.status_code == 200


def test_api_version_is_required_and_recorded(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    missing = emulator.request("GET", f"{emulator.arm_endpoint}{emulator.site_path(app)}")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    assert emulator.arm("GET", emulator.site_path(app), api_version="1999-01-01").status_code \
        == 200
    journal = emulator.admin("GET", "/requests").json()
    assert any(e["path"] == emulator.site_path(app) and e["api_version"] == "1999-01-01"
               for e in journal)


def test_wrong_subscription_and_group(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    wrong_sub = emulator.site_path(app).replace(emulator.subscription_id,
                                                "00000000-0000-0000-0000-000000000000")
    assert emulator.arm("GET", wrong_sub).json()["error"]["code"] == "SubscriptionNotFound"
    wrong_group = emulator.site_path(app).replace(emulator.resource_group, "other-rg")
    assert emulator.arm("GET", wrong_group).json()["error"]["code"] == "ResourceGroupNotFound"


def test_slots_can_be_created_and_deleted_through_arm(emulator: RunningEmulator,
                                                      client: WebSiteManagementClient) -> None:
    app = emulator.create_app()
    group = emulator.resource_group
    created = client.web_apps.begin_create_or_update_slot(
        group, app, "blue", Site(location="West Europe"), polling_interval=0).result()
    assert created.name == f"{app}/blue"
    assert [s.name for s in client.web_apps.list_slots(group, app)] == [f"{app}/blue"]
    client.web_apps.delete_slot(group, app, "blue")
    assert list(client.web_apps.list_slots(group, app)) == []
    flex = emulator.create_app(plan="flex")
    refused = emulator.arm("PUT", f"{emulator.site_path(flex)}/slots/blue", json={})
    assert refused.status_code == 409


def test_tags_api_merges_deletes_and_checks_arm_limits(emulator: RunningEmulator) -> None:
    app = emulator.create_app(plan="flex")
    path = f"{emulator.site_path(app)}/providers/Microsoft.Resources/tags/default"

    def tags_call(method: str, body: dict[str, Any] | None = None) -> requests.Response:
        return emulator.arm(method, path, api_version="2021-04-01", json=body)

    assert tags_call("PUT", {"properties": {"tags": {"a": "1", "b": "2"}}}).status_code == 200
    merged = tags_call("PATCH", {"operation": "Merge", "properties": {"tags": {"b": "3"}}})
    assert merged.json()["properties"]["tags"] == {"a": "1", "b": "3"}
    assert merged.json()["type"] == "Microsoft.Resources/tags"
    deleted = tags_call("PATCH", {"operation": "Delete", "properties": {"tags": {"a": ""}}})
    assert deleted.json()["properties"]["tags"] == {"b": "3"}
    site = emulator.arm("GET", emulator.site_path(app)).json()
    assert site["tags"] == {"b": "3"} == site["properties"]["tags"]

    too_long = tags_call("PATCH", {"operation": "Merge",
                                   "properties": {"tags": {"c": "x" * 257}}})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "InvalidTagValueLength"
    bad_name = tags_call("PATCH", {"operation": "Merge", "properties": {"tags": {"a/b": "1"}}})
    assert bad_name.json()["error"]["code"] == "InvalidTagNameCharacters"
    assert tags_call("PATCH", {"operation": "Upsert", "properties": {"tags": {}}}
                     ).status_code == 400
    assert tags_call("GET").json()["properties"]["tags"] == {"b": "3"}  # refusals change nothing


@pytest.mark.parametrize("scheme", ["hostnames", "path"])
def test_each_scheme_hands_out_its_names_everywhere(emulators: EmulatorFactory,
                                                    scheme: str) -> None:
    """App Service's shapes over host names; a path prefix where *.localhost does not resolve.
    The names in hostNameSslStates, defaultHostName and scmUri all reach the emulator."""
    emulator = emulators(scheme)
    app = emulator.create_app()
    emulator.create_slot(app, "staging")
    port = emulator.arm_endpoint.rsplit(":", 1)[1]
    for slot in (None, "staging"):
        if scheme == "hostnames":
            label = f"{app}-{slot}" if slot else app
            arm = f"management.azurewebsites.localhost:{port}"
            scm_expected = f"{label}.scm.azurewebsites.localhost:{port}"
            site_expected = f"{label}.azurewebsites.localhost:{port}"
        else:
            arm = f"127.0.0.1:{port}"
            tail = f"/slots/{slot}" if slot else ""
            scm_expected, site_expected = f"{arm}/scm/{app}{tail}", f"{arm}/sites/{app}{tail}"
        assert emulator.arm_endpoint == f"https://{arm}"
        site = emulator.arm("GET", emulator.site_path(app, slot)).json()["properties"]
        scm = next(s["name"] for s in site["hostNameSslStates"] if s["hostType"] == "Repository")
        assert (scm, site["defaultHostName"]) == (scm_expected, site_expected)
        answer = emulator.request("GET", f"https://{scm}/api/deployments")
        assert answer.status_code == 200 and answer.json() == []
        credentials = emulator.arm(
            "POST", f"{emulator.site_path(app, slot)}/config/publishingcredentials/list").json()
        assert credentials["properties"]["scmUri"].endswith(f"@{scm}")


def test_swap_refusals_leave_both_sites_as_they_were(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.create_slot(app, "staging")
    emulator.set_settings(app, {"WHERE": "production"})
    swap = f"{emulator.site_path(app, 'staging')}/slotsswap"
    for body, said in (({}, "'targetSlot' is required"),
                       ({"targetSlot": "nowhere"}, "Cannot find slot 'nowhere'"),
                       ({"targetSlot": "staging"}, "cannot be the same")):
        answer = emulator.arm("POST", swap, json=body)
        assert answer.status_code == 400 and said in answer.json()["error"]["message"], body
    settings = emulator.arm("POST", f"{emulator.site_path(app)}/config/appsettings/list").json()
    assert settings["properties"]["WHERE"] == "production"


def test_function_app_stacks_describe_python_for_flex_and_filter(
        emulator: RunningEmulator) -> None:
    stacks = "/providers/Microsoft.Web/locations/West Europe/functionAppStacks"
    flex = emulator.arm("GET", stacks, api_version="2020-10-01", params={
        "stack": "python", "sku": "FC1", "removeDeprecatedStacks": "true"}).json()["value"]
    [python] = flex
    minors = python["properties"]["majorVersions"][0]["minorVersions"]
    versions = [m["value"] for m in minors]
    assert "3.11" in versions and "3.9" not in versions
    settings = next(m for m in minors if m["value"] == "3.11")["stackSettings"][
        "linuxRuntimeSettings"]
    assert settings["Sku"][0]["functionAppConfigProperties"]["runtime"] == {
        "name": "python", "version": "3.11"}
    assert emulator.arm("GET", stacks, params={"stack": "node"}).json()["value"] == []
    everywhere = emulator.arm("GET", "/providers/Microsoft.Web/functionAppStacks",
                              params={"stackOsType": "Linux"}).json()["value"]
    assert everywhere[0]["type"] == "Microsoft.Web/functionAppStacks"


def test_resource_lists_filter_by_type_group_and_name(emulator: RunningEmulator) -> None:
    app = emulator.create_app(resource_group="rg-listed")
    base = f"/subscriptions/{emulator.subscription_id}"
    by_type = emulator.arm("GET", f"{base}/resources", api_version="2021-04-01", params={
        "$filter": "resourceType eq 'Microsoft.Web/sites' and name eq '" + app + "'"}).json()
    assert [r["name"] for r in by_type["value"]] == [app]
    in_group = emulator.arm("GET", f"{base}/resourceGroups/rg-listed/resources",
                            api_version="2021-04-01").json()
    assert {r["type"] for r in in_group["value"]} == {"Microsoft.Web/sites",
                                                      "Microsoft.Web/serverFarms"}
    refused = emulator.arm("GET", f"{base}/resources", api_version="2021-04-01",
                           params={"$filter": "tagName eq 'x'"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "InvalidFilterInQueryString"


def test_a_swap_moves_content_and_kudu_settings_but_not_keys(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.create_slot(app, "staging")
    record = emulator.deploy_and_wait(app, emulator.v2_app(HELLO), slot="staging")
    assert record["status"] == 4
    assert emulator.kudu("POST", app, "/api/settings", slot="staging",
                         json={"SCM_COMMAND_IDLE_TIMEOUT": "90"}).status_code == 204
    keys_before = emulator.arm("POST", f"{emulator.site_path(app)}/host/default/listkeys").json()
    answer = emulator.arm("POST", f"{emulator.site_path(app)}/slotsswap",
                          json={"targetSlot": "staging", "preserveVnet": True})
    assert answer.status_code == 200, answer.text
    [moved] = emulator.kudu("GET", app, "/api/deployments").json()
    assert moved["id"] == record["id"]
    assert emulator.kudu("GET", app, "/api/deployments", slot="staging").json() == []
    assert emulator.kudu("GET", app, "/api/settings/SCM_COMMAND_IDLE_TIMEOUT").text == "90"
    assert [f["name"] for f in emulator.functions(app)] == [f"{app}/hello"]
    keys_after = emulator.arm("POST", f"{emulator.site_path(app)}/host/default/listkeys").json()
    assert keys_after["masterKey"] == keys_before["masterKey"]


def test_a_function_key_written_through_arm_opens_the_function(emulator: RunningEmulator
                                                               ) -> None:
    app = emulator.create_app()
    guarded = HELLO.replace("func.AuthLevel.ANONYMOUS", "func.AuthLevel.FUNCTION")
    assert emulator.deploy_and_wait(app, emulator.v2_app(guarded))["status"] == 4
    emulator.functions(app)
    key_path = f"{emulator.site_path(app)}/functions/hello/keys/ci"
    url = f"{emulator.site_url(app)}/api/hello"

    def status(code: str) -> int:
        return requests.get(url, params={"code": code}, verify=emulator.ca_bundle,
                            timeout=60).status_code

    created = emulator.arm("PUT", key_path, json={"properties": {"name": "ci",
                                                                 "value": "ci-key-0123456789ab"}})
    assert created.status_code == 201 and created.json() == {"name": "ci",
                                                             "value": "ci-key-0123456789ab"}
    assert status("ci-key-0123456789ab") == 200
    listed = emulator.arm("POST", f"{emulator.site_path(app)}/functions/hello/listkeys").json()
    assert listed["ci"] == "ci-key-0123456789ab"
    generated = emulator.arm("PUT", key_path, json={})
    assert generated.status_code == 200 and len(generated.json()["value"]) >= 40
    assert status("ci-key-0123456789ab") == 401  # replaced
    assert emulator.arm("DELETE", key_path).status_code == 204
    assert status(generated.json()["value"]) == 401
    assert emulator.arm("DELETE", key_path).status_code == 404
    short = emulator.arm("PUT", key_path, json={"properties": {"value": "short"}})
    assert short.status_code == 400
