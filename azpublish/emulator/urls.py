"""The emulator's URL schemes, in one place.

**Host names** (chosen where ``*.localhost`` resolves to loopback: systemd-resolved, glibc's
``myhostname`` NSS module), shaped like App Service's, all on the one HTTPS port:

- ARM: ``https://management.azurewebsites.localhost:PORT/subscriptions/...``
- Kudu (SCM) of app A: ``https://A.scm.azurewebsites.localhost:PORT``; of slot S:
  ``https://A-S.scm.azurewebsites.localhost:PORT``
- the app: ``https://A.azurewebsites.localhost:PORT/api/<route>`` (slot: ``A-S.``)

**Path prefixes** (the fallback where those names do not resolve): apps are told apart by a path
prefix, and the host names the emulator hands out carry it, so clients that form
``https://{host_name}/api/...`` work unchanged:

- ARM: ``https://127.0.0.1:PORT/subscriptions/...``
- Kudu of app A: ``https://127.0.0.1:PORT/scm/A``; of slot S: ``.../scm/A/slots/S``
- the app: ``https://127.0.0.1:PORT/sites/A/api/<route>`` (slot: ``/sites/A/slots/S``)

Both are always served; the scheme decides only which names are handed out. Administration
is at ``/_emulator/...`` under the ARM base.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

UrlScheme = Literal["hostnames", "path"]
URL_SCHEME_CHOICES = ("auto", "hostnames", "path")  # auto: host names where they resolve
DNS_SUFFIX = "azurewebsites.localhost"  # stands in for azurewebsites.net
ARM_HOST = f"management.{DNS_SUFFIX}"  # stands in for management.azure.com


@dataclass(frozen=True)
class EmulatorUrls:
    host: str
    port: int
    scheme: UrlScheme = "path"

    @property
    def authority(self) -> str:
        if self.scheme == "hostnames":
            return f"{ARM_HOST}:{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base(self) -> str:
        return f"https://{self.authority}"

    @property
    def scheme_note(self) -> str:
        if self.scheme == "hostnames":
            return f"Kudu at https://APP.scm.{DNS_SUFFIX}:{self.port}"
        return f"Kudu at {self.base}/scm/APP (*.{DNS_SUFFIX} does not resolve here)"

    @staticmethod
    def label(app: str, slot: str | None) -> str:
        """The first DNS label of a site: ``app`` or ``app-slot``, as App Service names it."""
        return f"{app}-{slot}" if slot else app

    def scm_host(self, app: str, slot: str | None) -> str:
        if self.scheme == "hostnames":
            return f"{self.label(app, slot)}.scm.{DNS_SUFFIX}:{self.port}"
        return f"{self.authority}/scm/{app}" + (f"/slots/{slot}" if slot else "")

    def site_host(self, app: str, slot: str | None) -> str:
        if self.scheme == "hostnames":
            return f"{self.label(app, slot)}.{DNS_SUFFIX}:{self.port}"
        return f"{self.authority}/sites/{app}" + (f"/slots/{slot}" if slot else "")

    def scm_url(self, app: str, slot: str | None) -> str:
        return f"https://{self.scm_host(app, slot)}"

    def site_url(self, app: str, slot: str | None) -> str:
        return f"https://{self.site_host(app, slot)}"

    def scm_url_with_credentials(self, app: str, slot: str | None, user: str,
                                 password: str) -> str:
        userinfo = f"{quote(user, safe='$')}:{quote(password, safe='')}"
        return f"https://{userinfo}@{self.scm_host(app, slot)}"

    def ftp_host(self) -> str:
        """Where publish profiles say FTP is (the emulator serves no FTP)."""
        return f"ftp.{DNS_SUFFIX}" if self.scheme == "hostnames" else self.host

    def ftp_url(self) -> str:
        return f"ftps://{self.ftp_host()}/site/wwwroot"

    def invoke_url(self, app: str, slot: str | None, route_prefix: str, route: str) -> str:
        prefix = f"/{route_prefix.strip('/')}" if route_prefix.strip("/") else ""
        return f"{self.site_url(app, slot)}{prefix}/{route.lstrip('/')}"
