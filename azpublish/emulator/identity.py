"""Who the emulator pretends to be: tenant, subscription and the managed identity's ids.

Made once per state directory (random GUIDs, as Azure's are) so tokens and resource ids stay
stable across restarts.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

from azpublish.emulator.layout import StateLayout, read_json, write_json_atomic

DEFAULT_RESOURCE_GROUP = "azpublish-rg"
DEFAULT_LOCATION = "West Europe"


@dataclass(frozen=True)
class EmulatorIdentity:
    tenant_id: str
    subscription_id: str
    object_id: str
    client_id: str
    resource_group: str = DEFAULT_RESOURCE_GROUP
    location: str = DEFAULT_LOCATION

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    @property
    def identity_resource_id(self) -> str:
        """What ``xms_mirid`` names: the system-assigned identity of the emulator itself."""
        return (f"/subscriptions/{self.subscription_id}/resourcegroups/{self.resource_group}"
                "/providers/Microsoft.Web/sites/azpublish-emulator")

    @classmethod
    def load(cls, layout: StateLayout) -> EmulatorIdentity:
        if layout.identity_file.exists():
            data = read_json(layout.identity_file)
            return cls(**{k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__})
        made = cls(
            tenant_id=str(uuid.uuid4()),
            subscription_id=str(uuid.uuid4()),
            object_id=str(uuid.uuid4()),
            client_id=str(uuid.uuid4()),
        )
        write_json_atomic(layout.identity_file, asdict(made))
        return made
