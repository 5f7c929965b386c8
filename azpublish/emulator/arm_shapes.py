"""The JSON bodies ARM answers with, built from the emulator's records.

Shapes follow what ``management.azure.com`` returns for Microsoft.Web (and what azure-mgmt-web
deserializes): resource envelopes with ``id``, ``name``, ``type``, ``location``, ``properties``.
"""

from __future__ import annotations

from typing import Any

from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.funchost import IndexedFunction
from azpublish.emulator.model import App, Site
from azpublish.emulator.plans import SKUS, plan_name

HTTP_TRIGGER = "httptrigger"


def group_id(ctx: EmulatorContext, group: str) -> str:
    return f"/subscriptions/{ctx.identity.subscription_id}/resourceGroups/{group}"


def site_id(ctx: EmulatorContext, app: App, site: Site) -> str:
    base = f"{group_id(ctx, app.resource_group)}/providers/Microsoft.Web/sites/{app.name}"
    return f"{base}/slots/{site.slot}" if site.slot else base


def site_name(app: App, site: Site) -> str:
    return f"{app.name}/{site.slot}" if site.slot else app.name


def plan_id(ctx: EmulatorContext, app: App) -> str:
    return (f"{group_id(ctx, app.resource_group)}/providers/Microsoft.Web/serverfarms/"
            f"{plan_name(app.name)}")


def envelope(ctx: EmulatorContext, app: App, resource_id: str, name: str, kind: str,
              properties: dict[str, Any]) -> dict[str, Any]:
    return {"id": resource_id, "name": name, "type": kind, "location": app.location,
            "properties": properties}


def flex_config(ctx: EmulatorContext, app: App) -> dict[str, Any]:
    return {
        "deployment": {"storage": {
            "type": "blobContainer",
            "value": f"{ctx.urls.base}/_emulator/storage/app-package-{app.name.lower()}",
            "authentication": {"type": "SystemAssignedIdentity"},
        }},
        "runtime": {"name": "python", "version": app.python},
        "scaleAndConcurrency": {"alwaysReady": [], "maximumInstanceCount": 100,
                                "instanceMemoryMB": 2048, "triggers": None},
    }


def site_config_properties(ctx: EmulatorContext, app: App, site: Site) -> dict[str, Any]:
    elastic = app.plan in ("premium", "flex", "consumption")
    properties: dict[str, Any] = {
        "numberOfWorkers": 1,
        "netFrameworkVersion": "v4.0",
        "linuxFxVersion": site.linux_fx_version,
        "windowsFxVersion": None,
        "requestTracingEnabled": False,
        "remoteDebuggingEnabled": False,
        "httpLoggingEnabled": False,
        "logsDirectorySizeLimit": 35,
        "detailedErrorLoggingEnabled": False,
        "publishingUsername": site.publishing_user,
        "scmType": "None",
        "use32BitWorkerProcess": False,
        "webSocketsEnabled": False,
        "alwaysOn": app.plan == "dedicated",
        "appCommandLine": "",
        "managedPipelineMode": "Integrated",
        "loadBalancing": "LeastRequests",
        "ftpsState": "FtpsOnly",
        "minTlsVersion": "1.2",
        "scmMinTlsVersion": "1.2",
        "http20Enabled": False,
        "functionAppScaleLimit": 200 if elastic else 0,
        "minimumElasticInstanceCount": 1 if app.plan == "premium" else 0,
        "functionsRuntimeScaleMonitoringEnabled": False,
        "appSettings": None,
    }
    properties.update(site.site_config)
    return properties


def site_body(ctx: EmulatorContext, app: App, site: Site) -> dict[str, Any]:
    urls = ctx.urls
    default_host = urls.site_host(app.name, site.slot)
    scm_host = urls.scm_host(app.name, site.slot)

    def ssl_state(name: str, host_type: str) -> dict[str, Any]:
        return {"name": name, "sslState": "Disabled", "ipBasedSslResult": None,
                "virtualIP": None, "virtualIPv6": None, "thumbprint": None,
                "certificateResourceId": None, "toUpdate": None, "toUpdateIpBasedSsl": None,
                "ipBasedSslState": "NotConfigured", "hostType": host_type}

    properties: dict[str, Any] = {
        "name": site_name(app, site),
        "state": "Running",
        "hostNames": [default_host],
        "repositorySiteName": app.name,
        "usageState": "Normal",
        "enabled": True,
        "adminEnabled": True,
        "enabledHostNames": [default_host, scm_host],
        "availabilityState": "Normal",
        "hostNameSslStates": [ssl_state(default_host, "Standard"),
                              ssl_state(scm_host, "Repository")],
        "serverFarmId": plan_id(ctx, app),
        "reserved": True,
        "isXenon": False,
        "hyperV": False,
        "lastModifiedTimeUtc": app.created,
        "storageRecoveryDefaultState": "Running",
        "contentAvailabilityState": "Normal",
        "runtimeAvailabilityState": "Normal",
        "siteConfig": {"numberOfWorkers": 1, "linuxFxVersion": site.linux_fx_version,
                       "functionAppScaleLimit": 0, "minimumElasticInstanceCount": 0},
        "deploymentId": app.name,
        "slotName": site.slot,
        "sku": SKUS[app.plan].tier,
        "scmSiteAlsoStopped": False,
        "clientAffinityEnabled": False,
        "clientCertEnabled": False,
        "clientCertMode": "Required",
        "hostNamesDisabled": False,
        "outboundIpAddresses": "127.0.0.1",
        "possibleOutboundIpAddresses": "127.0.0.1",
        "containerSize": 1536,
        "dailyMemoryTimeQuota": 0,
        "resourceGroup": app.resource_group,
        "defaultHostName": default_host,
        "httpsOnly": True,
        "redundancyMode": "None",
        "publicNetworkAccess": "Enabled",
        "keyVaultReferenceIdentity": "SystemAssigned",
    }
    if app.plan == "flex":
        properties["functionAppConfig"] = flex_config(ctx, app)
    body = envelope(ctx, app, site_id(ctx, app, site), site_name(app, site),
                     "Microsoft.Web/sites/slots" if site.slot else "Microsoft.Web/sites",
                     properties)
    body["kind"] = "functionapp,linux"
    body["tags"] = dict(site.tags)
    properties["tags"] = dict(site.tags)
    body["identity"] = {"type": "SystemAssigned", "tenantId": ctx.identity.tenant_id,
                        "principalId": ctx.identity.object_id}
    return body


def config_body(ctx: EmulatorContext, app: App, site: Site) -> dict[str, Any]:
    return envelope(ctx, app, f"{site_id(ctx, app, site)}/config/web", site_name(app, site),
                     "Microsoft.Web/sites/config", site_config_properties(ctx, app, site))


def settings_body(ctx: EmulatorContext, app: App, site: Site) -> dict[str, Any]:
    return envelope(ctx, app, f"{site_id(ctx, app, site)}/config/appsettings", "appsettings",
                     "Microsoft.Web/sites/config", dict(site.settings))


def credentials_body(ctx: EmulatorContext, app: App, site: Site) -> dict[str, Any]:
    scm_uri = ctx.urls.scm_url_with_credentials(app.name, site.slot, site.publishing_user,
                                                site.publishing_password)
    return envelope(ctx, app, f"{site_id(ctx, app, site)}/config/publishingcredentials",
                     site_name(app, site), "Microsoft.Web/sites/config", {
                         "name": None,
                         "publishingUserName": site.publishing_user,
                         "publishingPassword": site.publishing_password,
                         "publishingPasswordHash": None,
                         "publishingPasswordHashSalt": None,
                         "metadata": None,
                         "isDeleted": False,
                         "scmUri": scm_uri,
                     })


def policy_body(ctx: EmulatorContext, app: App, site: Site, which: str) -> dict[str, Any]:
    allow = site.scm_allow if which == "scm" else site.ftp_allow
    return envelope(ctx, app, f"{site_id(ctx, app, site)}/basicPublishingCredentialsPolicies/"
                               f"{which}", which,
                     "Microsoft.Web/sites/basicPublishingCredentialsPolicies", {"allow": allow})


def plan_body(ctx: EmulatorContext, app: App, sites_on_plan: int) -> dict[str, Any]:
    sku = SKUS[app.plan]
    body = envelope(ctx, app, plan_id(ctx, app), plan_name(app.name),
                     "Microsoft.Web/serverfarms", {
                         "name": plan_name(app.name),
                         "workerSize": "Default",
                         "status": "Ready",
                         "subscription": ctx.identity.subscription_id,
                         "maximumNumberOfWorkers": 20 if app.plan == "premium" else 10,
                         "geoRegion": app.location,
                         "numberOfSites": sites_on_plan,
                         "isSpot": False,
                         "reserved": True,
                         "perSiteScaling": False,
                         "elasticScaleEnabled": app.plan == "premium",
                         "maximumElasticWorkerCount": 20 if app.plan == "premium" else 1,
                         "isXenon": False,
                         "hyperV": False,
                         "targetWorkerCount": 0,
                         "targetWorkerSizeId": 0,
                         "provisioningState": "Succeeded",
                         "kind": sku.plan_kind,
                         "resourceGroup": app.resource_group,
                         "zoneRedundant": False,
                     })
    body["kind"] = sku.plan_kind
    body["sku"] = {"name": sku.name, "tier": sku.tier, "size": sku.name, "family": sku.family,
                   "capacity": 1 if app.plan in ("dedicated", "premium") else 0}
    return body


def function_body(ctx: EmulatorContext, app: App, site: Site,
                  function: IndexedFunction) -> dict[str, Any]:
    scm = ctx.urls.scm_url(app.name, site.slot)
    vfs = f"{scm}/api/vfs/home/site/wwwroot"
    folder = function.script_file.rpartition("/")[0]
    invoke = None
    if function.trigger.lower() == HTTP_TRIGGER:
        invoke = ctx.urls.invoke_url(app.name, site.slot, site.route_prefix,
                                     function.route if function.route is not None
                                     else function.name)
    name = f"{site_name(app, site)}/{function.name}"
    return envelope(ctx, app, f"{site_id(ctx, app, site)}/functions/{function.name}", name,
                     "Microsoft.Web/sites/functions", {
                         "name": function.name,
                         "function_app_id": site_id(ctx, app, site),
                         "script_root_path_href": f"{vfs}/{folder}/" if folder else f"{vfs}/",
                         "script_href": f"{vfs}/{function.script_file}",
                         "config_href": f"{vfs}/{folder}/function.json" if folder else None,
                         "test_data_href": None,
                         "secrets_file_href": None,
                         "href": f"{scm}/api/functions/{function.name}",
                         "config": {"name": function.name, "entryPoint": function.entry_point,
                                    "scriptFile": function.script_file,
                                    "language": "python", "functionDirectory": folder,
                                    "bindings": [dict(b) for b in function.bindings],
                                    "disabled": function.is_disabled},
                         "files": None,
                         "test_data": None,
                         "invoke_url_template": invoke,
                         "language": "python",
                         "isDisabled": function.is_disabled,
                     })


def metadata_endpoints(ctx: EmulatorContext) -> dict[str, Any]:
    """Like ``management.azure.com/metadata/endpoints``, with ARM pointing at the emulator."""
    base = ctx.urls.base + "/"
    return {
        "name": "AzpublishEmulator",
        "portal": base,
        "galleryEndpoint": base,
        "graphEndpoint": "https://graph.windows.net/",
        "graphAudienceIdentifier": "https://graph.windows.net/",
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "resourceManager": base,
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "batch": "https://batch.core.windows.net/",
        "appServiceResourceId": "https://appservice.azure.com",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "media": "https://rest.media.azure.net",
        "vmImageAliasDoc": "",
        "authentication": {
            "loginEndpoint": "https://login.microsoftonline.com/",
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "storageSyncEndpointSuffix": "afs.azure.net",
            "mhsmDns": "managedhsm.azure.net",
            "mysqlServerEndpoint": "mysql.database.azure.com",
            "postgresqlServerEndpoint": "postgres.database.azure.com",
        },
    }
