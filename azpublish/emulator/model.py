"""The emulator's records: apps, their sites (production and slots), deployments and logs.

Plain mutable dataclasses guarded by the store's lock; ``to_dict``/``from_dict`` give the JSON
kept on disk (secrets are sealed by the store, not here).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from azpublish.emulator.funchost import IndexedFunction
from azpublish.emulator.plans import PlanKind

PENDING, BUILDING, DEPLOYING, FAILED, SUCCESS = 0, 1, 2, 3, 4
INFO, WARNING, ERROR = 0, 1, 2


def utc_now() -> str:
    """Kudu's timestamp shape: ISO 8601, 7 fractional digits, ``Z``."""
    now = dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0Z"


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class LogEntry:
    message: str
    type: int = INFO
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_time: str = field(default_factory=utc_now)
    details: list[LogEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "log_time": self.log_time, "message": self.message,
                "type": self.type, "details": [d.to_dict() for d in self.details]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogEntry:
        return cls(message=data["message"], type=int(data["type"]), id=data["id"],
                   log_time=data["log_time"],
                   details=[cls.from_dict(d) for d in data.get("details", [])])


@dataclass
class Deployment:
    id: str
    kind: str  # "zipdeploy" or "publish"
    status: int = PENDING
    status_text: str = ""
    author: str | None = "N/A"  # Flex OneDeploy records have none
    author_email: str = "N/A"
    deployer: str = ""
    message: str = ""
    progress: str = ""
    received_time: str = field(default_factory=utc_now)
    start_time: str | None = None
    end_time: str | None = None
    complete: bool = False
    is_temp: bool = True
    is_readonly: bool = False
    site_name: str = ""
    log: list[LogEntry] = field(default_factory=list)
    # Monotonic-ish ordering key (received_time has ties at coarse clocks); also when the
    # deployment was accepted, in epoch seconds.
    sequence: float = field(default_factory=time.time)
    extracted: bool = False  # the package is unpacked: Linux Kudu shows the real record now
    remote_build: bool = False
    ended_epoch: float | None = None

    @property
    def temp_id(self) -> str:
        """The id of the temporary record Linux Kudu lists until the package is extracted."""
        return f"temp-{self.id[:8]}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["log"] = [entry.to_dict() for entry in self.log]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "log"}
        made = cls(**values)
        made.log = [LogEntry.from_dict(d) for d in data.get("log", [])]
        return made


def overlay(base: Mapping[str, str], top: Mapping[str, str]) -> dict[str, str]:
    """``top`` over ``base`` with names matched case-insensitively, as Kudu merges settings
    (the name keeps the casing it had first)."""
    merged = dict(base)
    names = {name.upper(): name for name in merged}
    for name, value in top.items():
        merged[names.setdefault(name.upper(), name)] = value
    return merged


def function_to_dict(function: IndexedFunction) -> dict[str, Any]:
    data = asdict(function)
    data["methods"] = list(function.methods)
    data["bindings"] = [dict(b) for b in function.bindings]
    return data


def function_from_dict(data: dict[str, Any]) -> IndexedFunction:
    return IndexedFunction(
        name=data["name"], trigger=data["trigger"], route=data.get("route"),
        methods=tuple(data.get("methods", ())), auth_level=data["auth_level"],
        bindings=tuple(data.get("bindings", ())), script_file=data["script_file"],
        entry_point=data["entry_point"], is_disabled=bool(data.get("is_disabled")),
        host_error=str(data.get("host_error") or ""), load_error=str(data.get("load_error") or ""),
    )


@dataclass
class Site:
    """The production site of an app, or one of its slots."""

    app: str
    slot: str | None
    settings: dict[str, str]
    publishing_password: str
    linux_fx_version: str
    host_keys: dict[str, str]
    site_config: dict[str, Any] = field(default_factory=dict)
    scm_allow: bool = True
    ftp_allow: bool = True
    restart_count: int = 0
    function_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    functions: list[IndexedFunction] = field(default_factory=list)
    route_prefix: str = "api"
    tags: dict[str, str] = field(default_factory=dict)  # ARM resource tags of the site or slot
    metadata: dict[str, str] = field(default_factory=dict)  # config/metadata (CURRENT_STACK...)
    deployments: list[Deployment] = field(default_factory=list)
    # (time, settings) versions, newest last: Kudu sees the newest one old enough.
    settings_history: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    deploying: str | None = None  # the id of the deployment that holds the site
    # Kudu's own settings (POST /api/settings; settings.xml on App Service): Kudu and its
    # builds see them over the app settings; ARM never does.
    deployment_settings: dict[str, str] = field(default_factory=dict)
    # index_lag: ARM lists no function before this (epoch seconds); not kept across restarts.
    functions_listed_after: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.app}/slots/{self.slot}" if self.slot else self.app

    @property
    def publishing_user(self) -> str:
        return f"${self.app}__{self.slot}" if self.slot else f"${self.app}"

    def newest_deployments(self) -> list[Deployment]:
        return sorted(self.deployments, key=lambda d: d.sequence, reverse=True)

    def last_success(self) -> Deployment | None:
        """The newest completed successful deployment: the one the site runs (Kudu's "active")."""
        return next((d for d in self.newest_deployments() if d.status == SUCCESS and d.complete),
                    None)

    def find_deployment(self, deployment_id: str) -> Deployment | None:
        return next((d for d in self.deployments if d.id == deployment_id), None)

    def kudu_settings(self, now: float, delay: float) -> dict[str, str]:
        """The app settings Kudu sees: the newest version at least ``delay`` seconds old."""
        visible = self.settings_history[0][1] if self.settings_history else self.settings
        for changed_at, version in self.settings_history:
            if changed_at <= now - delay:
                visible = version
        return overlay(visible, self.deployment_settings)


@dataclass
class App:
    name: str
    resource_group: str
    plan: PlanKind
    python: str
    location: str
    created: str
    sites: dict[str, Site]  # "" is production; other keys are slot names
    # config/slotConfigNames: what stays with a slot in a swap ("appSettingNames", ...).
    slot_config_names: dict[str, list[str]] = field(default_factory=dict)

    @property
    def production(self) -> Site:
        return self.sites[""]

    def site(self, slot: str | None) -> Site | None:
        return self.sites.get(slot or "")
