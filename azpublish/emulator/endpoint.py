"""``endpoint.json``: how clients find a running emulator, and the shell lines that use it."""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass, fields

from azpublish.emulator.layout import PRIVATE, StateLayout, read_json, write_json_atomic


@dataclass(frozen=True)
class EndpointInfo:
    arm_endpoint: str
    ca_bundle: str
    identity_endpoint: str
    identity_header: str
    subscription_id: str
    resource_group: str
    tenant_id: str
    pid: int
    admin_url: str
    url_scheme: str = "path"  # "hostnames": App Service host names; "path": path prefixes
    trust_bundle: str = ""  # the system's roots plus ca_bundle (older endpoint files: none)

    def env(self) -> dict[str, str]:
        """What azpublish and the Azure SDKs read to use this emulator."""
        return {
            "AZPUBLISH_ARM_ENDPOINT": self.arm_endpoint,
            "AZPUBLISH_CA_BUNDLE": self.ca_bundle,
            # The combined bundle: requests-based tools in the same shell still reach real hosts.
            "REQUESTS_CA_BUNDLE": self.trust_bundle or self.ca_bundle,
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
            "AZURE_SUBSCRIPTION_ID": self.subscription_id,
            "AZPUBLISH_EMULATOR_URL_SCHEME": self.url_scheme,
        }

    def export_lines(self) -> list[str]:
        return [f"export {name}={shlex.quote(value)}" for name, value in self.env().items()]


def write_endpoint(layout: StateLayout, info: EndpointInfo) -> None:
    # 0600: it holds the identity header, which is what lets a process obtain tokens.
    write_json_atomic(layout.endpoint_file, asdict(info), PRIVATE)


def read_endpoint(layout: StateLayout) -> EndpointInfo | None:
    if not layout.endpoint_file.exists():
        return None
    data = read_json(layout.endpoint_file)
    names = {f.name for f in fields(EndpointInfo)}
    if not names - {"url_scheme", "trust_bundle"} <= set(data):
        return None
    return EndpointInfo(**{k: data[k] for k in names if k in data})


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
