"""The emulator's state: apps and their sites in memory, mirrored to the state directory.

One lock guards everything; every change is written through before the lock is released, so a
restart (or a crash) loses nothing that was answered. Secrets are sealed on disk.
"""

from __future__ import annotations

import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azpublish.emulator.funchost import IndexedFunction
from azpublish.emulator.keys import Sealer
from azpublish.emulator.layout import PRIVATE, StateLayout, read_json, write_json_atomic
from azpublish.emulator.model import (
    ERROR,
    FAILED,
    App,
    Deployment,
    LogEntry,
    Site,
    function_from_dict,
    function_to_dict,
    utc_now,
)
from azpublish.emulator.plans import PLAN_KINDS, PlanKind
from azpublish.errors import UsageError
from azpublish.redact import register_secret, register_url_credentials

_SITE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,58}[A-Za-z0-9])?$")
_GROUP_NAME = re.compile(r"^[-\w._()]{0,89}[-\w_()]$")
_PYTHON = re.compile(r"^3\.\d{1,2}$")
HISTORY_LIMIT = 50
INTERRUPTED = "The emulator stopped while this deployment was in progress; it did not finish."


class StateConflict(Exception):
    """The change clashes with the current state (exists already, deployment running...)."""


class NotFound(Exception):
    """No such app or slot."""


def _new_key() -> str:
    # Function keys look like the host's: 56 URL-safe characters ending in "==".
    return secrets.token_urlsafe(40)[:54] + "=="


def _protect(site: Site) -> None:
    """Make the redactor mask this site's secrets wherever they would be printed."""
    register_secret(site.publishing_password)
    for key in site.host_keys.values():
        register_secret(key)
    for keys in site.function_keys.values():
        for key in keys.values():
            register_secret(key)
    protect_settings(site.settings)
    protect_settings(site.deployment_settings)


def protect_settings(settings: Mapping[str, str]) -> None:
    for value in settings.values():
        register_url_credentials(value)


def check_name(kind: str, name: str, pattern: re.Pattern[str] = _SITE_NAME) -> None:
    if not pattern.match(name):
        raise UsageError(
            f"invalid {kind} name {name!r}",
            fix="use 2-60 letters, digits and hyphens, not starting or ending with a hyphen"
            if pattern is _SITE_NAME else "use letters, digits, '-', '_', '.', '(' and ')'",
        )


class AppStore:
    def __init__(self, layout: StateLayout, sealer: Sealer,
                 clock: Callable[[], float] = time.time) -> None:
        self.layout = layout
        self._sealer = sealer
        self._clock = clock
        self._apps: dict[str, App] = {}
        self.lock = threading.RLock()

    # -- loading and saving ------------------------------------------------------------------

    def load(self) -> None:
        """Read every app; deployments that were running when the emulator died are failed."""
        with self.lock:
            self._apps.clear()
            if not self.layout.apps_dir.exists():
                return
            for app_file in sorted(self.layout.apps_dir.glob("*/app.json")):
                app = self._read_app(app_file)
                self._apps[app.name.lower()] = app
                for site in app.sites.values():
                    self._read_deployments(site)

    def _read_app(self, path: Path) -> App:
        data = read_json(path)
        sites: dict[str, Site] = {}
        for key, raw in data["sites"].items():
            sealed = self._sealer.unseal(raw["sealed"], where=str(path))
            site = Site(
                app=data["name"], slot=raw.get("slot"), settings=sealed["settings"],
                publishing_password=sealed["publishing_password"],
                linux_fx_version=raw["linux_fx_version"], host_keys=sealed["host_keys"],
                site_config=raw.get("site_config", {}), scm_allow=raw.get("scm_allow", True),
                ftp_allow=raw.get("ftp_allow", True), restart_count=raw.get("restart_count", 0),
                function_keys=sealed.get("function_keys", {}),
                deployment_settings=sealed.get("deployment_settings", {}),
                functions=[function_from_dict(f) for f in raw.get("functions", [])],
                route_prefix=raw.get("route_prefix", "api"), tags=raw.get("tags", {}),
                metadata=raw.get("metadata", {}),
            )
            site.settings_history = [(0.0, dict(site.settings))]
            _protect(site)
            sites[key] = site
        return App(name=data["name"], resource_group=data["resource_group"], plan=data["plan"],
                   python=data["python"], location=data["location"], created=data["created"],
                   sites=sites, slot_config_names=data.get("slot_config_names", {}))

    def _read_deployments(self, site: Site) -> None:
        folder = self.layout.deployments_dir(site.app, site.slot)
        for path in sorted(folder.glob("*.json")):
            deployment = Deployment.from_dict(read_json(path))
            if not deployment.complete:
                deployment.status = FAILED
                deployment.status_text = ""
                deployment.complete = True
                deployment.is_temp = False
                deployment.end_time = utc_now()
                deployment.log.append(LogEntry(INTERRUPTED, ERROR))
                write_json_atomic(path, deployment.to_dict())
            site.deployments.append(deployment)

    def save_app(self, app: App) -> None:
        with self.lock:
            sites = {}
            for key, site in app.sites.items():
                sealed = self._sealer.seal({
                    "settings": site.settings, "publishing_password": site.publishing_password,
                    "host_keys": site.host_keys, "function_keys": site.function_keys,
                    "deployment_settings": site.deployment_settings,
                })
                sites[key] = {
                    "slot": site.slot, "sealed": sealed, "linux_fx_version": site.linux_fx_version,
                    "site_config": site.site_config, "scm_allow": site.scm_allow,
                    "ftp_allow": site.ftp_allow, "restart_count": site.restart_count,
                    "functions": [function_to_dict(f) for f in site.functions],
                    "route_prefix": site.route_prefix, "tags": site.tags,
                    "metadata": site.metadata,
                }
            write_json_atomic(self.layout.app_dir(app.name) / "app.json", {
                "name": app.name, "resource_group": app.resource_group, "plan": app.plan,
                "python": app.python, "location": app.location, "created": app.created,
                "sites": sites, "slot_config_names": app.slot_config_names,
            }, PRIVATE)

    def save_deployment(self, site: Site, deployment: Deployment) -> None:
        with self.lock:
            path = self.layout.deployments_dir(site.app, site.slot) / f"{deployment.id}.json"
            write_json_atomic(path, deployment.to_dict())

    @contextmanager
    def changing(self, app: App) -> Iterator[None]:
        """Hold the lock for a change to ``app`` and write it through afterwards."""
        with self.lock:
            yield
            self.save_app(app)

    # -- apps and sites ----------------------------------------------------------------------

    def apps(self) -> list[App]:
        with self.lock:
            return sorted(self._apps.values(), key=lambda a: a.name.lower())

    def get_app(self, name: str) -> App:
        with self.lock:
            app = self._apps.get(name.lower())
        if app is None:
            raise NotFound(name)
        return app

    def get_site(self, name: str, slot: str | None) -> tuple[App, Site]:
        app = self.get_app(name)
        site = app.site(slot.lower() if slot else None)
        if site is None:
            raise NotFound(f"{name}/slots/{slot}")
        return app, site

    def _new_site(self, app: str, slot: str | None, python: str, plan: str,
                  settings: dict[str, str]) -> Site:
        site = Site(
            app=app, slot=slot, settings=settings,
            publishing_password=secrets.token_urlsafe(45)[:60],
            linux_fx_version="" if plan == "flex" else f"Python|{python}",
            host_keys={"masterKey": _new_key(), "default": _new_key()},
        )
        site.settings_history = [(self._clock(), dict(settings))]
        _protect(site)
        return site

    def create_app(self, name: str, *, plan: str, python: str, resource_group: str,
                   location: str) -> App:
        check_name("app", name)
        check_name("resource group", resource_group, _GROUP_NAME)
        if plan not in PLAN_KINDS:
            raise UsageError(f"unknown plan {plan!r}", fix=f"use one of: {', '.join(PLAN_KINDS)}")
        if not _PYTHON.match(python):
            raise UsageError(f"invalid Python version {python!r}", fix="use e.g. 3.11")
        settings = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
        if plan != "flex":
            settings.update({"FUNCTIONS_WORKER_RUNTIME": "python",
                             "FUNCTIONS_EXTENSION_VERSION": "~4"})
        with self.lock:
            if name.lower() in self._apps:
                raise StateConflict(f"an app named {name!r} exists already")
            plan_kind: PlanKind = plan  # type: ignore[assignment]
            app = App(name=name, resource_group=resource_group, plan=plan_kind, python=python,
                      location=location, created=utc_now(),
                      sites={"": self._new_site(name, None, python, plan, settings)})
            self._apps[name.lower()] = app
            self.layout.wwwroot(name, None).mkdir(parents=True, exist_ok=True)
            self.save_app(app)
            return app

    def create_slot(self, name: str, slot: str) -> Site:
        check_name("slot", slot)
        app = self.get_app(name)
        if app.plan == "flex":
            raise StateConflict("Flex Consumption apps do not support deployment slots")
        with self.changing(app):
            if slot.lower() in app.sites:
                raise StateConflict(f"the slot {slot!r} of {name!r} exists already")
            production = app.production
            site = self._new_site(app.name, slot.lower(), app.python, app.plan,
                                  dict(production.settings))
            site.linux_fx_version = production.linux_fx_version
            app.sites[slot.lower()] = site
            self.layout.wwwroot(app.name, site.slot).mkdir(parents=True, exist_ok=True)
            return site

    def delete_app(self, name: str) -> None:
        with self.lock:
            app = self.get_app(name)
            if any(site.deploying for site in app.sites.values()):
                raise StateConflict(f"a deployment to {name!r} is in progress")
            del self._apps[name.lower()]
        shutil.rmtree(self.layout.app_dir(app.name), ignore_errors=True)

    def delete_slot(self, name: str, slot: str) -> None:
        app = self.get_app(name)
        with self.changing(app):
            site = app.sites.get(slot.lower())
            if site is None:
                raise NotFound(f"{name}/slots/{slot}")
            if site.deploying:
                raise StateConflict(f"a deployment to {name}/slots/{slot} is in progress")
            del app.sites[slot.lower()]
        shutil.rmtree(self.layout.site_dir(app.name, slot.lower()), ignore_errors=True)

    # -- changes to a site -------------------------------------------------------------------

    def replace_settings(self, app: App, site: Site, settings: Mapping[str, str]) -> bool:
        """Full replacement, as ARM does; a real change restarts the site. True when changed."""
        new = {str(k): str(v) for k, v in settings.items()}
        protect_settings(new)
        with self.changing(app):
            if new == site.settings:
                return False
            site.settings = new
            site.restart_count += 1
            site.settings_history.append((self._clock(), dict(new)))
            del site.settings_history[:-HISTORY_LIMIT]
            return True

    def change_deployment_settings(self, app: App, site: Site, values: Mapping[str, str],
                                   deleted: tuple[str, ...] = ()) -> None:
        """Kudu's own settings: set ``values``, drop ``deleted`` (names match in any case).

        StateConflict while a deployment holds the site: Kudu takes the deployment lock.
        """
        protect_settings(values)
        with self.changing(app):
            if site.deploying is not None:
                raise StateConflict(f"a deployment to {site.label} is in progress")
            gone = {name.upper() for name in (*values, *deleted)}
            kept = {k: v for k, v in site.deployment_settings.items() if k.upper() not in gone}
            site.deployment_settings = {**kept, **values}

    def set_functions(self, app: App, site: Site, functions: list[IndexedFunction],
                      route_prefix: str) -> None:
        with self.changing(app):
            site.functions = functions
            site.route_prefix = route_prefix
            for function in functions:
                keys = site.function_keys.setdefault(function.name, {})
                if "default" not in keys:
                    keys["default"] = _new_key()
                    register_secret(keys["default"])

    def update(self, app: App, change: Callable[[Site], Any], site: Site) -> None:
        with self.changing(app):
            change(site)

    # -- the deployment lock -----------------------------------------------------------------

    def try_begin_deployment(self, site: Site, deployment_id: str) -> bool:
        with self.lock:
            if site.deploying is not None:
                return False
            site.deploying = deployment_id
            return True

    def end_deployment(self, site: Site, deployment_id: str) -> None:
        with self.lock:
            if site.deploying == deployment_id:
                site.deploying = None

    def add_deployment(self, site: Site, deployment: Deployment) -> None:
        with self.lock:
            site.deployments.append(deployment)
            self.save_deployment(site, deployment)

    def is_deploying(self, site: Site) -> bool:
        with self.lock:
            return site.deploying is not None
