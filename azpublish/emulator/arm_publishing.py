"""``POST sites/{app}[/slots/{slot}]/publishxml``: the publish profile, as the portal downloads it.

The XML the service answers: a ``publishData`` with a Web Deploy (MSDeploy), an FTP and a Zip
Deploy profile carrying the publishing credentials (``format`` ``WebDeploy`` or ``Ftp``), or a
FileZilla 3 site list (``FileZilla3``). The emulator runs no FTP or Web Deploy server: those
profiles are there because clients parse them (the Azure CLI reads the FTP URL into
``az functionapp show``), and only the Zip Deploy one reaches anything.
"""

from __future__ import annotations

from xml.etree import ElementTree

from starlette.responses import Response

from azpublish.emulator.arm_routing import ArmCall, headers, site_route
from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.model import App, Site
from azpublish.emulator.responses import BadRequest, read_json_object

FORMATS = ("webdeploy", "ftp", "filezilla3")
PROFILE_EXTRAS = {"SQLServerDBConnectionString": "", "mySQLDBConnectionString": "",
                  "hostingProviderForumLink": "", "controlPanelLink": "https://portal.azure.com",
                  "webSystem": "WebSites"}


def _profile(parent: ElementTree.Element, attributes: dict[str, str]) -> None:
    profile = ElementTree.SubElement(parent, "publishProfile",
                                     {**attributes, **PROFILE_EXTRAS})
    ElementTree.SubElement(profile, "databases")


def publish_data(ctx: EmulatorContext, app: App, site: Site) -> bytes:
    urls = ctx.urls
    label = urls.label(app.name, site.slot)
    scm = urls.scm_host(app.name, site.slot)
    destination = urls.site_url(app.name, site.slot)
    user, password = site.publishing_user, site.publishing_password
    root = ElementTree.Element("publishData")
    _profile(root, {"profileName": f"{label} - Web Deploy", "publishMethod": "MSDeploy",
                    "publishUrl": scm, "msdeploySite": label, "userName": user,
                    "userPWD": password, "destinationAppUrl": destination})
    _profile(root, {"profileName": f"{label} - FTP", "publishMethod": "FTP",
                    "publishUrl": urls.ftp_url(), "ftpPassiveMode": "True",
                    "userName": f"{label}\\{user}", "userPWD": password,
                    "destinationAppUrl": destination})
    _profile(root, {"profileName": f"{label} - Zip Deploy", "publishMethod": "ZipDeploy",
                    "publishUrl": scm, "userName": user, "userPWD": password,
                    "destinationAppUrl": destination})
    return bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=False))


def filezilla_sites(ctx: EmulatorContext, app: App, site: Site) -> bytes:
    label = ctx.urls.label(app.name, site.slot)
    root = ElementTree.Element("FileZilla3")
    server = ElementTree.SubElement(ElementTree.SubElement(root, "Servers"), "Server")
    for tag, value in (("Host", ctx.urls.ftp_host()), ("Port", "21"), ("Protocol", "0"),
                       ("Type", "0"), ("User", f"{label}\\{site.publishing_user}"),
                       ("Pass", site.publishing_password), ("Logontype", "1"),
                       ("Name", label), ("RemoteDir", "1 0 4 site 7 wwwroot")):
        ElementTree.SubElement(server, tag).text = value
    return bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))


@site_route("POST", "publishxml")
async def _publish_xml(call: ArmCall) -> Response:
    app, site = call.target
    body = await read_json_object(call.request)
    wanted = str(body.get("format") or "WebDeploy")
    if wanted.lower() not in FORMATS:
        raise BadRequest("BadRequest", f"The publishing profile format '{wanted}' is not "
                         "supported; use WebDeploy, Ftp or FileZilla3.")
    content = (filezilla_sites(call.ctx, app, site) if wanted.lower() == "filezilla3"
               else publish_data(call.ctx, app, site))
    return Response(content, media_type="application/xml", headers=headers(call))
