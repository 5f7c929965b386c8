"""The emulator's tunable behaviour, including what the reference leaves unconfirmed.

Kept in ``config.json``; ``start`` flags and ``PATCH /_emulator/config`` change it at runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from azpublish.emulator.layout import StateLayout, read_json, write_json_atomic
from azpublish.emulator.quirks import QUIRKS, parse_quirks
from azpublish.errors import UsageError

GIB = 1024**3


@dataclass(frozen=True)
class EmulatorConfig:
    # Seconds before Kudu's /api/settings (and the build) sees an ARM app-settings change.
    settings_propagation_delay: float = 0.0
    # Uploads larger than this are refused with 413 (Kudu's documented zip limit is 2 GiB).
    max_upload_bytes: int = 2 * GIB
    # An upload that sends nothing for this long is cut, and the deployment lock it holds is
    # let go (App Service's front end drops a connection idle for 230 s).
    upload_idle_timeout_seconds: float = 230.0
    # Lifetime of issued tokens; managed-identity tokens live about a day.
    token_lifetime_seconds: int = 86400
    # What /api/zipdeploy answers on a Flex Consumption app (unconfirmed: 404 or 400).
    flex_zipdeploy_status: int = 404
    # What POST .../syncfunctiontriggers answers (the service: 200; the SDK expects 204).
    sync_triggers_status: int = 200
    # App settings ARM refuses (400) on Flex Consumption apps, comma-separated. The reference
    # confirms WEBSITE_RUN_FROM_PACKAGE; Microsoft lists more as unsupported there.
    flex_rejected_settings: str = "WEBSITE_RUN_FROM_PACKAGE"
    build_timeout_seconds: float = 1800.0
    index_timeout_seconds: float = 60.0
    # The Functions host cuts HTTP-triggered runs at 230 s (the load balancer's idle limit).
    invoke_timeout_seconds: float = 230.0
    # A held deployment continues by itself after this long, so nothing waits forever.
    hold_timeout_seconds: float = 600.0
    # Which of the real service's quirks to imitate (see quirks.py): all of them by default.
    quirks: str = "all"
    # flex_not_found: 404 for this long after the 202, and again this long after completion.
    flex_not_found_seconds: float = 3.0
    flex_recycled_not_found_seconds: float = 2.0
    # index_lag: the function list is empty for this long after the functions were indexed.
    index_lag_seconds: float = 3.0
    # Kudu's log stream: a heartbeat line after this long without a new line (Kudu: 60 s), and
    # the end of the stream after this long in all (Kudu ends it after SCM_LOGSTREAM_TIMEOUT
    # seconds without a new line, 2 hours by default; that applies too).
    logstream_heartbeat_seconds: float = 20.0
    logstream_timeout_seconds: float = 60.0

    def updated(self, changes: Mapping[str, Any], *, where: str) -> EmulatorConfig:
        known = {f.name: f for f in fields(self)}
        values: dict[str, Any] = {}
        for name, raw in changes.items():
            if name not in known:
                raise UsageError(f"unknown setting {name!r}", where=where,
                                 fix=f"use one of: {', '.join(sorted(known))}")
            kind = type(getattr(self, name))
            try:
                value = kind(raw)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"{name} must be a {kind.__name__}, not {raw!r}",
                                 where=where) from exc
            if isinstance(value, (int, float)) and value < 0:
                raise UsageError(f"{name} must not be negative", where=where)
            if name == "quirks":
                parse_quirks(value, where=f"{where}: quirks")
            values[name] = value
        return replace(self, **values)

    def quirk(self, name: str) -> bool:
        assert name in QUIRKS, name
        return name in parse_quirks(self.quirks)

    @property
    def flex_rejected(self) -> frozenset[str]:
        return frozenset(s.strip().upper() for s in self.flex_rejected_settings.split(",")
                         if s.strip())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_config(layout: StateLayout) -> EmulatorConfig:
    if not layout.config_file.exists():
        return EmulatorConfig()
    data = read_json(layout.config_file)
    known = {f.name for f in fields(EmulatorConfig)}
    return EmulatorConfig().updated({k: v for k, v in data.items() if k in known},
                                    where=str(layout.config_file))


def save_config(layout: StateLayout, config: EmulatorConfig) -> None:
    write_json_atomic(layout.config_file, config.as_dict())
