"""Fault injection: the misbehaviour reliability tests and demos ask for, set at runtime.

Kinds:

- ``fail``: the next ``count`` requests whose path matches ``path`` (a glob, e.g.
  ``*/api/zipdeploy``) and ``method`` answer ``status`` (429 and 503 carry ``Retry-After``).
- ``drop_upload``: the next ``count`` uploads lose their connection after ``after_bytes`` bytes.
- ``slow_upload``: the next ``count`` uploads are read slowly, pausing ``seconds`` after each
  chunk (a slow network: an upload that is still going when a test needs it to be).
- ``settings_delay``: Kudu sees app-setting changes ``seconds`` late (until cleared).
- ``slow_build``: the next ``count`` builds take ``seconds`` longer.
- ``hold``: the next ``count`` deployments stop at each of ``stages`` (``pending``,
  ``building``, ``deploying``) until released, so further deployments get 409.

``app`` narrows a fault to one app; ``count`` of 0 means "until cleared". Faults are kept in
``faults.json`` so the CLI can set them before the emulator starts.
"""

from __future__ import annotations

import fnmatch
import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from azpublish.emulator.layout import StateLayout, read_json, write_json_atomic
from azpublish.errors import UsageError

FaultKind = Literal["fail", "drop_upload", "slow_upload", "settings_delay", "slow_build", "hold",
                    "sync_error"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
STAGES = ("pending", "building", "deploying")
FAIL_STATUSES = (400, 401, 403, 404, 408, 409, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    app: str | None = None
    path: str = "*"
    method: str | None = None
    status: int = 503
    retry_after: int | None = None
    count: int = 1
    seconds: float = 0.0
    after_bytes: int = 65536
    stages: tuple[str, ...] = ("pending",)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stages"] = list(self.stages)
        return data


def parse_fault(data: Mapping[str, Any], *, where: str) -> Fault:
    """A fault from JSON, checked so a typo is an error instead of a fault that never fires."""
    if not isinstance(data, Mapping):
        raise UsageError("a fault must be a JSON object", where=where)
    kind = data.get("kind")
    if kind not in FAULT_KINDS:
        raise UsageError(f"unknown fault kind {kind!r}", where=where,
                         fix=f"use one of: {', '.join(FAULT_KINDS)}")
    known = set(Fault.__dataclass_fields__) - {"id"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"unknown fault fields: {', '.join(sorted(unknown))}", where=where,
                         fix=f"fields are: {', '.join(sorted(known))}")
    try:
        fault = Fault(
            kind=kind,
            app=str(data["app"]) if data.get("app") else None,
            path=str(data.get("path") or "*"),
            method=str(data["method"]).upper() if data.get("method") else None,
            status=int(data.get("status", 503)),
            retry_after=int(data["retry_after"]) if data.get("retry_after") is not None else None,
            count=int(data.get("count", 1)),
            seconds=float(data.get("seconds", 0.0)),
            after_bytes=int(data.get("after_bytes", 65536)),
            stages=tuple(str(s) for s in data.get("stages", ("pending",))),
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(f"bad fault value: {exc}", where=where) from exc
    if fault.kind == "fail" and fault.status not in FAIL_STATUSES:
        raise UsageError(f"status {fault.status} is not offered", where=where,
                         fix=f"use one of: {', '.join(map(str, FAIL_STATUSES))}")
    if fault.count < 0 or fault.seconds < 0 or fault.after_bytes < 0:
        raise UsageError("count, seconds and after_bytes must not be negative", where=where)
    if fault.kind == "hold" and (not fault.stages or set(fault.stages) - set(STAGES)):
        raise UsageError(f"hold stages must be among {', '.join(STAGES)}", where=where)
    if fault.status == 429 and fault.retry_after is None:
        fault = replace(fault, retry_after=1)
    return fault


class FaultBook:
    """The active faults; each ``take_*`` consumes one use of the first matching fault."""

    def __init__(self, layout: StateLayout | None = None) -> None:
        self._layout = layout
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def load(self) -> None:
        if self._layout is None or not self._layout.faults_file.exists():
            return
        where = str(self._layout.faults_file)
        raw = read_json(self._layout.faults_file)
        with self._lock:
            self._faults = [replace(parse_fault({k: v for k, v in item.items() if k != "id"},
                                                where=where), id=item["id"]) for item in raw]

    def _save(self) -> None:
        if self._layout is not None:
            write_json_atomic(self._layout.faults_file, [f.as_dict() for f in self._faults])

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
            self._save()
        return fault

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            kept = [f for f in self._faults if f.id != fault_id]
            found = len(kept) != len(self._faults)
            self._faults = kept
            self._save()
        return found

    def clear(self) -> int:
        with self._lock:
            count = len(self._faults)
            self._faults = []
            self._save()
        return count

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _take(self, kind: str, app: str | None, extra: Any = None) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind != kind:
                    continue
                if fault.app is not None and (app is None or fault.app.lower() != app.lower()):
                    continue
                if extra is not None and not extra(fault):
                    continue
                if fault.count == 1:
                    del self._faults[index]
                elif fault.count > 1:
                    self._faults[index] = replace(fault, count=fault.count - 1)
                self._save()
                return fault
        return None

    def take_failure(self, method: str, path: str, app: str | None) -> Fault | None:
        def matches(fault: Fault) -> bool:
            method_ok = fault.method is None or fault.method == method.upper()
            return method_ok and fnmatch.fnmatchcase(path.lower(), fault.path.lower())

        failed = self._take("fail", app, matches)
        if failed is None and method.upper() == "POST" \
                and path.lower().rstrip("/").endswith("/syncfunctiontriggers"):
            return self._take("sync_error", app)
        return failed

    def take_drop(self, app: str | None) -> Fault | None:
        return self._take("drop_upload", app)

    def take_slow_upload(self, app: str | None) -> float:
        fault = self._take("slow_upload", app)
        return fault.seconds if fault else 0.0

    def take_slow_build(self, app: str | None) -> float:
        fault = self._take("slow_build", app)
        return fault.seconds if fault else 0.0

    def take_hold(self, app: str | None) -> Fault | None:
        return self._take("hold", app)

    def settings_delay(self, app: str) -> float | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == "settings_delay" and (
                    fault.app is None or fault.app.lower() == app.lower()
                ):
                    return fault.seconds
        return None
