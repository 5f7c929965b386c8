"""The emulator's URL scheme, in one place.

No resolver here knows ``*.localhost``, so apps are told apart by a path prefix and the host names
the emulator hands out carry it: clients form ``https://{host_name}/api/...`` unchanged.

- ARM: ``https://127.0.0.1:PORT/subscriptions/...``
- Kudu (SCM) of app A: ``https://127.0.0.1:PORT/scm/A``; of slot S: ``.../scm/A/slots/S``
- Function invocations: ``https://127.0.0.1:PORT/sites/A/api/<route>`` (slot: ``/sites/A/slots/S``)
- Administration: ``https://127.0.0.1:PORT/_emulator/...``
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class EmulatorUrls:
    host: str
    port: int

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base(self) -> str:
        return f"https://{self.authority}"

    def scm_host(self, app: str, slot: str | None) -> str:
        return f"{self.authority}/scm/{app}" + (f"/slots/{slot}" if slot else "")

    def site_host(self, app: str, slot: str | None) -> str:
        return f"{self.authority}/sites/{app}" + (f"/slots/{slot}" if slot else "")

    def scm_url(self, app: str, slot: str | None) -> str:
        return f"https://{self.scm_host(app, slot)}"

    def site_url(self, app: str, slot: str | None) -> str:
        return f"https://{self.site_host(app, slot)}"

    def scm_url_with_credentials(self, app: str, slot: str | None, user: str,
                                 password: str) -> str:
        userinfo = f"{quote(user, safe='$')}:{quote(password, safe='')}"
        return f"https://{userinfo}@{self.scm_host(app, slot)}"

    def invoke_url(self, app: str, slot: str | None, route_prefix: str, route: str) -> str:
        prefix = f"/{route_prefix.strip('/')}" if route_prefix.strip("/") else ""
        return f"{self.site_url(app, slot)}{prefix}/{route.lstrip('/')}"
