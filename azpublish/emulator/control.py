"""How the CLI changes an emulator's apps and faults: through a running emulator's admin API, or,
when none runs on the state directory, by editing it directly under the server lock.

Both paths answer the same plain data (the admin API's JSON), so the CLI prints one shape.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import requests

from azpublish.emulator.auth import ADMIN_HEADER
from azpublish.emulator.endpoint import EndpointInfo, process_alive, read_endpoint
from azpublish.emulator.faults import FaultBook, parse_fault
from azpublish.emulator.filelock import FileLock, LockBusy
from azpublish.emulator.identity import EmulatorIdentity
from azpublish.emulator.keys import EmulatorKeys, Sealer
from azpublish.emulator.layout import StateLayout
from azpublish.emulator.store import AppStore, NotFound, StateConflict
from azpublish.emulator.summaries import app_summary
from azpublish.errors import DeployError, UsageError

WAIT_FOR_LOCK = 15.0
TIMEOUT = 30.0


class Control(Protocol):
    def list_apps(self) -> list[dict[str, Any]]: ...
    def create_app(self, name: str, *, plan: str, python: str,
                   resource_group: str | None) -> dict[str, Any]: ...
    def create_slot(self, name: str, slot: str) -> dict[str, Any]: ...
    def delete_app(self, name: str) -> None: ...
    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]: ...
    def list_faults(self) -> list[dict[str, Any]]: ...
    def remove_fault(self, fault_id: str) -> None: ...
    def clear_faults(self) -> int: ...
    def release(self, name: str, slot: str | None) -> None: ...


class RemoteControl:
    """Talks to the running emulator's ``/_emulator`` routes."""

    def __init__(self, info: EndpointInfo, admin_key: str) -> None:
        self._info = info
        self._session = requests.Session()
        self._session.headers[ADMIN_HEADER] = admin_key

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self._info.admin_url}{path}"
        try:
            # verify per request: a session's verify loses to REQUESTS_CA_BUNDLE in requests.
            response = self._session.request(method, url, timeout=TIMEOUT,
                                             verify=self._info.ca_bundle, **kwargs)
        except requests.RequestException as exc:
            raise DeployError(f"the emulator does not answer: {exc}", where=url,
                              fix="check that it still runs (azpublish emulator start)") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                message, fix = body.get("error", response.text), body.get("fix")
            except ValueError:
                message, fix = response.text, None
            raise UsageError(str(message), where=f"{method} {path} ({response.status_code})",
                             fix=fix)
        return response.json()

    def list_apps(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/apps")
        return result

    def create_app(self, name: str, *, plan: str, python: str,
                   resource_group: str | None) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/apps", json={
            "name": name, "plan": plan, "python": python, "resource_group": resource_group})
        return result

    def create_slot(self, name: str, slot: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/apps/{name}/slots", json={"slot": slot})
        return result

    def delete_app(self, name: str) -> None:
        self._call("DELETE", f"/apps/{name}")

    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/faults", json=spec)
        return result

    def list_faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def remove_fault(self, fault_id: str) -> None:
        self._call("DELETE", f"/faults/{fault_id}")

    def clear_faults(self) -> int:
        return int(self._call("DELETE", "/faults")["removed"])

    def release(self, name: str, slot: str | None) -> None:
        self._call("POST", f"/apps/{name}/release", params={"slot": slot} if slot else None)


class LocalControl:
    """Edits a state directory no emulator is running on (the caller holds the server lock)."""

    def __init__(self, layout: StateLayout) -> None:
        layout.ensure()
        keys = EmulatorKeys.load(layout)
        self._identity = EmulatorIdentity.load(layout)
        self._store = AppStore(layout, Sealer(keys.seal_key))
        self._store.load()
        self._faults = FaultBook(layout)
        self._faults.load()

    def list_apps(self) -> list[dict[str, Any]]:
        return [app_summary(a, None) for a in self._store.apps()]

    def create_app(self, name: str, *, plan: str, python: str,
                   resource_group: str | None) -> dict[str, Any]:
        try:
            app = self._store.create_app(
                name, plan=plan, python=python,
                resource_group=resource_group or self._identity.resource_group,
                location=self._identity.location)
        except StateConflict as conflict:
            raise UsageError(str(conflict), fix="pick another name or delete-app it") from None
        return app_summary(app, None)

    def create_slot(self, name: str, slot: str) -> dict[str, Any]:
        try:
            self._store.create_slot(name, slot)
        except NotFound:
            raise UsageError(f"no app named {name!r}", fix="create-app it first") from None
        except StateConflict as conflict:
            raise UsageError(str(conflict)) from None
        return app_summary(self._store.get_app(name), None)

    def delete_app(self, name: str) -> None:
        try:
            self._store.delete_app(name)
        except NotFound:
            raise UsageError(f"no app named {name!r}", fix="see list-apps") from None

    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._faults.add(parse_fault(spec, where="fault add")).as_dict()

    def list_faults(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self._faults.list()]

    def remove_fault(self, fault_id: str) -> None:
        if not self._faults.remove(fault_id):
            raise UsageError(f"no fault {fault_id!r}", fix="see fault list")

    def clear_faults(self) -> int:
        return self._faults.clear()

    def release(self, name: str, slot: str | None) -> None:
        raise UsageError("no emulator is running on this state directory, so nothing is held")


@contextmanager
def open_control(state_dir: Path, *, wait: float = WAIT_FOR_LOCK) -> Iterator[Control]:
    """A running emulator's admin API, else the state directory itself (locked meanwhile)."""
    layout = StateLayout(state_dir.resolve())
    if layout.root.exists() and not layout.root.is_dir():
        raise UsageError("the state directory is not a directory", where=str(layout.root))
    layout.root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(layout.server_lock)
    deadline = time.monotonic() + wait
    while True:
        try:
            lock.acquire(blocking=False)
        except LockBusy:
            info = read_endpoint(layout)
            if info is not None and process_alive(info.pid):
                keys = EmulatorKeys.load(layout)
                yield RemoteControl(info, keys.admin_key)
                return
            if time.monotonic() > deadline:
                raise UsageError("the state directory stays locked, but no emulator announces "
                                 "itself in endpoint.json", where=str(layout.root),
                                 fix="wait until the emulator has started, or stop the other "
                                     "process using it") from None
            time.sleep(0.1)
            continue
        try:
            yield LocalControl(layout)
        finally:
            lock.release()
        return
