"""Every ``WebSiteManagementClient.web_apps`` call that concerns deploying a function app, and its
``_slot`` variant, against the emulator: each answer must come back and parse into the SDK's
model with the fields a deployment client reads.

The walk ends with a check that no such method of the SDK was forgotten: a method is either
walked here or listed in ``NOT_SERVED`` with the reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web import models as m
from azure.mgmt.web.operations import WebAppsOperations

from tests.integration.conftest import HELLO, RunningEmulator

pytestmark = pytest.mark.integration

# Deployment-adjacent methods the emulator does not serve, and why.
NOT_SERVED = {
    "create_deployment": "writes a Kudu deployment record by hand; clients deploy through Kudu",
    "delete_deployment": "as create_deployment",
    "begin_create_function": "portal-authored functions; a deployed package defines them",
    "delete_function": "as begin_create_function",
    "begin_create_instance_function": "as begin_create_function",
    "delete_instance_function": "as begin_create_function",
    "generate_new_site_publishing_password": "credential rotation, not deployment",
    "get_app_setting_key_vault_reference": "Key Vault references are not imitated",
    "get_app_settings_key_vault_references": "as get_app_setting_key_vault_reference",
    "get_functions_admin_token": "the host's admin token; clients use the master key",
    "get_instance_info": "per-instance details; one instance here",
    "list_instance_identifiers": "as get_instance_info",
    "list_configurations": "config/web history, not read by deployment clients",
    "list_sync_function_triggers": "the trigger payload the platform scales on",
    "list_sync_status": "as list_sync_function_triggers",
    "list_slot_differences_from_production": "swap preview, not the swap itself",
    "list_slot_differences_slot": "as list_slot_differences_from_production",
    "apply_slot_configuration": "swap with preview (two-phase swap)",
    "apply_slot_config_to_production": "as apply_slot_configuration",
    "reset_slot_configuration": "as apply_slot_configuration",
    "reset_production_slot_config": "as apply_slot_configuration",
}
# Name fragments that mark a method as concerning function-app deployment.
CONCERNS = ("configuration", "application_settings", "publishing", "scm_allowed", "ftp_allowed",
            "sync_function", "restart", "function", "host_key", "deployment", "metadata", "swap",
            "slot", "key_vault", "instance_i", "sync_status", "admin_token")
EXCLUDED_FRAGMENTS = ("backup", "snapshot", "hybrid", "vnet", "premier", "relay", "private",
                      "continuous", "triggered", "web_job", "process", "domain", "certificate",
                      "diagnostic", "network", "migrate", "perf", "usage", "site_extension",
                      "ms_deploy", "one_deploy", "source_control", "auth", "azure_storage",
                      "connection_string", "push", "container", "workflow", "deployment_status",
                      "host_name", "public", "basic_publishing", "log", "slot_differences",
                      "traffic", "restore", "clone", "copy", "analyze", "isolated", "swift")


@pytest.fixture(scope="module")
def client(emulator: RunningEmulator) -> Iterator[WebSiteManagementClient]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in emulator.env().items():
            patch.setenv(name, value)
        credential = ManagedIdentityCredential()
        web = WebSiteManagementClient(credential, emulator.subscription_id,
                                      base_url=emulator.arm_endpoint,
                                      credential_scopes=["https://management.azure.com/.default"],
                                      connection_verify=emulator.ca_bundle)
        with credential, web:
            yield web


@pytest.fixture(scope="module")
def deployed(emulator: RunningEmulator) -> str:
    """A Premium app and its slot, each with one deployed function."""
    app = emulator.create_app(plan="premium")
    emulator.create_slot(app, "staging")
    for slot in (None, "staging"):
        record = emulator.deploy_and_wait(app, emulator.v2_app(HELLO), slot=slot)
        assert record["status"] == 4, record
        emulator.functions(app, slot=slot, timeout=60)
    return app


def with_slot(method: Callable[..., Any], group: str, app: str, slot: str,
              args: tuple[Any, ...]) -> Any:
    """Call a ``_slot`` method: the SDK puts ``slot`` before a body but after a sub-resource
    name (``list_function_keys_slot(group, app, function, slot)``), so bind by name."""
    names = [p for p in inspect.signature(method).parameters
             if p not in ("resource_group_name", "name", "slot", "kwargs")]
    return method(resource_group_name=group, name=app, slot=slot, **dict(zip(names, args,
                                                                            strict=False)))


def calls(group: str, app: str, deployment: Callable[[str | None], str]
          ) -> list[tuple[str, Callable[[WebAppsOperations, str | None], Any],
                          Callable[[Any], bool]]]:
    """(method, call with the slot or None, what the parsed answer must show)."""

    def variant(name: str) -> Callable[..., Callable[[WebAppsOperations, str | None], Any]]:
        def bind(*args: Any) -> Callable[[WebAppsOperations, str | None], Any]:
            def call(ops: WebAppsOperations, slot: str | None) -> Any:
                if slot:
                    return with_slot(getattr(ops, f"{name}_slot"), group, app, slot, args)
                return getattr(ops, name)(group, app, *args)
            return call
        return bind

    settings = m.StringDictionary(properties={"WALKED": "1", "FUNCTIONS_WORKER_RUNTIME": "python",
                                              "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                              "FUNCTIONS_EXTENSION_VERSION": "~4"})
    policy = m.CsmPublishingCredentialsPoliciesEntity(properties={"allow": True})
    return [
        ("get", variant("get")(), lambda s: s.kind == "functionapp,linux"
         and any(h.host_type == "Repository" for h in s.host_name_ssl_states)),
        ("get_configuration", variant("get_configuration")(),
         lambda c: c.linux_fx_version == "Python|3.11"),
        ("update_configuration", variant("update_configuration")(
            m.SiteConfigResource(properties={"linuxFxVersion": "Python|3.11"})),
         lambda c: c.linux_fx_version == "Python|3.11"),
        ("create_or_update_configuration", variant("create_or_update_configuration")(
            m.SiteConfigResource(properties={"linuxFxVersion": "Python|3.11"})),
         lambda c: c.linux_fx_version == "Python|3.11"),
        ("update_application_settings", variant("update_application_settings")(settings),
         lambda d: d.properties["WALKED"] == "1"),
        ("list_application_settings", variant("list_application_settings")(),
         lambda d: d.properties["WALKED"] == "1"),
        ("begin_list_publishing_credentials",
         lambda ops, slot: variant("begin_list_publishing_credentials")()(ops, slot).result(),
         lambda u: u.publishing_user_name.startswith("$") and bool(u.scm_uri)),
        ("list_publishing_profile_xml_with_secrets",
         lambda ops, slot: b"".join(variant("list_publishing_profile_xml_with_secrets")(
             m.CsmPublishingProfileOptions(format="WebDeploy"))(ops, slot)),
         lambda xml: b'publishMethod="ZipDeploy"' in xml),
        ("get_scm_allowed", variant("get_scm_allowed")(), lambda p: p.allow is True),
        ("update_scm_allowed", variant("update_scm_allowed")(policy), lambda p: p.allow is True),
        ("get_ftp_allowed", variant("get_ftp_allowed")(), lambda p: p.allow is True),
        ("update_ftp_allowed", variant("update_ftp_allowed")(policy), lambda p: p.allow is True),
        ("sync_functions", variant("sync_functions")(), lambda r: r is None),
        ("restart", variant("restart")(), lambda r: r is None),
        ("list_functions", lambda ops, slot: list(
            ops.list_instance_functions_slot(group, app, slot) if slot
            else ops.list_functions(group, app)),
         lambda fs: [f.name.rsplit("/", 1)[-1] for f in fs] == ["hello"]
         and fs[0].invoke_url_template.endswith("/api/hello")),
        ("get_function", lambda ops, slot: (
            ops.get_instance_function_slot(group, app, "hello", slot) if slot
            else ops.get_function(group, app, "hello")),
         lambda f: f.config["bindings"][0]["type"] == "httpTrigger"),
        ("list_function_keys", variant("list_function_keys")("hello"),
         lambda k: bool(k.properties["default"]) if hasattr(k, "properties") and k.properties
         else bool(k["default"])),
        ("list_function_secrets", variant("list_function_secrets")("hello"),
         lambda s: bool(s.key) and "code=" in s.trigger_url),
        ("create_or_update_function_secret", variant("create_or_update_function_secret")(
            "hello", "walked", m.KeyInfo(name="walked", value="walked-key-0123456789")),
         lambda k: k.name == "walked" and k.value == "walked-key-0123456789"),
        ("delete_function_secret", variant("delete_function_secret")("hello", "walked"),
         lambda r: r is None),
        ("list_host_keys", variant("list_host_keys")(),
         lambda k: bool(k.master_key) and bool(k.function_keys["default"])),
        ("list_deployments", lambda ops, slot: list(variant("list_deployments")()(ops, slot)),
         lambda ds: len(ds) == 1 and ds[0].status == 4 and ds[0].active is True),
        ("get_deployment", lambda ops, slot: variant("get_deployment")(deployment(slot))(
            ops, slot), lambda d: d.status == 4 and d.deployer),
        ("update_metadata", variant("update_metadata")(
            m.StringDictionary(properties={"CURRENT_STACK": "python"})),
         lambda d: d.properties == {"CURRENT_STACK": "python"}),
        ("list_metadata", variant("list_metadata")(),
         lambda d: d.properties == {"CURRENT_STACK": "python"}),
    ]


def test_every_deployment_call_parses_for_the_site_and_its_slot(
        client: WebSiteManagementClient, emulator: RunningEmulator, deployed: str) -> None:
    group = emulator.resource_group

    def deployment(slot: str | None) -> str:
        return str(emulator.kudu("GET", deployed, "/api/deployments", slot=slot).json()[0]["id"])

    failures = []
    for name, call, shows in calls(group, deployed, deployment):
        for slot in (None, "staging"):
            try:
                answer = call(client.web_apps, slot)
            except HttpResponseError as exc:
                failures.append(f"{name} (slot {slot}): {exc.status_code} {exc.message}")
                continue
            if not shows(answer):
                failures.append(f"{name} (slot {slot}): unexpected answer {answer!r}")
    assert not failures, "\n".join(failures)


def test_slots_lists_and_swaps_through_the_sdk(client: WebSiteManagementClient,
                                              emulator: RunningEmulator) -> None:
    group = emulator.resource_group
    app = emulator.create_app(plan="dedicated")
    ops = client.web_apps
    ops.begin_create_or_update_slot(group, app, "blue", m.Site(location="West Europe")).result()
    assert [s.name for s in ops.list_slots(group, app)] == [f"{app}/blue"]
    assert app in [s.name for s in ops.list_by_resource_group(group)]
    assert app in [s.name for s in ops.list()]
    names = ops.update_slot_configuration_names(
        group, app, m.SlotConfigNamesResource(properties={"appSettingNames": ["STICKY"]}))
    assert names.app_setting_names == ["STICKY"]
    assert ops.list_slot_configuration_names(group, app).app_setting_names == ["STICKY"]
    ops.update_application_settings_slot(group, app, "blue", m.StringDictionary(
        properties={"STICKY": "blue", "MOVES": "blue"}))
    ops.begin_swap_slot(group, app, "blue", m.CsmSlotEntity(target_slot="production",
                                                           preserve_vnet=True)).result()
    production = ops.list_application_settings(group, app).properties
    assert production.get("MOVES") == "blue" and "STICKY" not in production
    ops.begin_swap_slot_with_production(group, app, m.CsmSlotEntity(target_slot="blue",
                                                                     preserve_vnet=True)).result()
    assert "MOVES" not in ops.list_application_settings(group, app).properties
    ops.delete_slot(group, app, "blue")
    assert list(ops.list_slots(group, app)) == []


def test_sync_function_triggers_answers_the_services_200(client: WebSiteManagementClient,
                                                          emulator: RunningEmulator,
                                                          deployed: str) -> None:
    """The service answers 200 where the SDK expects 204, so the SDK raises: as in Azure."""
    for call in (lambda: client.web_apps.sync_function_triggers(emulator.resource_group, deployed),
                 lambda: client.web_apps.sync_function_triggers_slot(
                     emulator.resource_group, deployed, "staging")):
        with pytest.raises(HttpResponseError) as raised:
            call()
        assert raised.value.status_code == 200


def test_no_deployment_method_of_the_sdk_is_forgotten() -> None:
    walked = {name for name, _, _ in calls("g", "a", lambda slot: "d")} | {
        "list_slots", "list_by_resource_group", "list", "begin_create_or_update_slot",
        "delete_slot", "update_slot_configuration_names", "list_slot_configuration_names",
        "begin_swap", "begin_swap_slot_with_production", "sync_function_triggers",
        "list_instance_functions", "get_instance_function"}
    # A method and its _slot variant count once (begin_swap_slot counts as begin_swap).
    methods = {n.removesuffix("_slot") for n in dir(WebAppsOperations) if not n.startswith("_")}
    concerned = {n for n in methods if any(c in n for c in CONCERNS)
                 and not any(x in n for x in EXCLUDED_FRAGMENTS)}
    forgotten = sorted(concerned - walked - set(NOT_SERVED))
    assert not forgotten, f"walk these or say in NOT_SERVED why not: {forgotten}"
