"""The state store: apps, settings history as Kudu sees it, persistence, sealing, recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from azpublish.emulator.funchost import IndexedFunction
from azpublish.emulator.keys import EmulatorKeys, Sealer
from azpublish.emulator.layout import StateLayout
from azpublish.emulator.model import BUILDING, FAILED, Deployment, new_id
from azpublish.emulator.store import AppStore, NotFound, StateConflict
from azpublish.errors import UsageError

SECRET_URL = "https://user:very-secret-pw@index.invalid/simple"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store(root: Path, clock: Clock | None = None) -> AppStore:
    layout = StateLayout(root)
    layout.ensure()
    store = AppStore(layout, Sealer(EmulatorKeys.load(layout).seal_key), clock or Clock())
    store.load()
    return store


def test_create_app_gives_plan_specific_defaults(tmp_path: Path) -> None:
    store = _store(tmp_path)
    classic = store.create_app("classic", plan="dedicated", python="3.12",
                               resource_group="rg", location="here")
    flex = store.create_app("flexy", plan="flex", python="3.11", resource_group="rg",
                            location="here")
    assert classic.production.linux_fx_version == "Python|3.12"
    assert classic.production.settings["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert flex.production.linux_fx_version == ""
    assert "FUNCTIONS_WORKER_RUNTIME" not in flex.production.settings
    assert classic.production.publishing_user == "$classic"
    assert store.get_app("CLASSIC") is classic  # names are case-insensitive


@pytest.mark.parametrize("name", ["-x", "x-", "a_b", "a" * 61, "ä"])
def test_invalid_names_are_usage_errors(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError):
        _store(tmp_path).create_app(name, plan="dedicated", python="3.11",
                                    resource_group="rg", location="here")


def test_duplicates_and_missing_apps(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.create_app("one", plan="dedicated", python="3.11", resource_group="rg",
                     location="here")
    with pytest.raises(StateConflict):
        store.create_app("ONE", plan="dedicated", python="3.11", resource_group="rg",
                         location="here")
    with pytest.raises(NotFound):
        store.get_site("one", "nope")
    with pytest.raises(StateConflict):
        flex = store.create_app("f", plan="flex", python="3.11", resource_group="rg",
                                location="here")
        store.create_slot(flex.name, "staging")


def test_kudu_sees_settings_only_after_the_delay(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    app = store.create_app("lag", plan="dedicated", python="3.11", resource_group="rg",
                           location="here")
    site = app.production
    clock.now += 100
    assert store.replace_settings(app, site, {"A": "1"})
    clock.now += 1
    assert store.replace_settings(app, site, {"A": "2"})
    assert site.kudu_settings(clock.now, delay=0) == {"A": "2"}
    assert site.kudu_settings(clock.now, delay=1) == {"A": "1"}
    assert "A" not in site.kudu_settings(clock.now, delay=5)
    assert site.restart_count == 2
    assert not store.replace_settings(app, site, {"A": "2"})  # unchanged: no restart
    assert site.restart_count == 2


def test_state_round_trips_and_secrets_are_sealed_on_disk(tmp_path: Path) -> None:
    store = _store(tmp_path)
    app = store.create_app("kept", plan="premium", python="3.11", resource_group="rg",
                           location="here")
    store.create_slot("kept", "Staging")
    store.replace_settings(app, app.production, {"PIP_EXTRA_INDEX_URL": SECRET_URL})
    function = IndexedFunction(name="f", trigger="httpTrigger", route="r/{id}",
                               methods=("GET",), auth_level="function",
                               bindings=({"type": "httpTrigger", "direction": "in"},),
                               script_file="function_app.py", entry_point="f")
    # What the host made of a function that cannot run survives a restart of the emulator.
    failing = IndexedFunction(name="g", trigger="queueTrigger", route=None, methods=(),
                              auth_level="function", bindings=(), script_file="g/__init__.py",
                              entry_point="main", host_error="not registered",
                              load_error="Traceback ...")
    store.set_functions(app, app.production, [function, failing], "api")
    password = app.production.publishing_password
    key = app.production.function_keys["f"]["default"]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.parent.name != "secrets":
            data = path.read_bytes()
            assert b"very-secret-pw" not in data and password.encode() not in data, path
            assert key.encode() not in data, path
    again = _store(tmp_path)
    kept = again.get_app("kept")
    assert kept.production.settings == {"PIP_EXTRA_INDEX_URL": SECRET_URL}
    assert kept.production.publishing_password == password
    assert kept.production.functions == [function, failing]
    assert kept.production.function_keys["f"]["default"] == key
    assert kept.site("staging") is not None and kept.site("staging").slot == "staging"
    assert kept.plan == "premium"


def test_a_deployment_running_at_a_crash_is_failed_on_load(tmp_path: Path) -> None:
    store = _store(tmp_path)
    app = store.create_app("crash", plan="dedicated", python="3.11", resource_group="rg",
                           location="here")
    running = Deployment(id=new_id(), kind="zipdeploy", status=BUILDING)
    store.add_deployment(app.production, running)
    loaded = _store(tmp_path).get_app("crash").production.deployments[0]
    assert (loaded.status, loaded.complete, loaded.status_text) == (FAILED, True, "")
    assert "stopped while this deployment was in progress" in loaded.log[-1].message


def test_one_deployment_at_a_time_per_site(tmp_path: Path) -> None:
    store = _store(tmp_path)
    app = store.create_app("busy", plan="dedicated", python="3.11", resource_group="rg",
                           location="here")
    site = app.production
    assert store.try_begin_deployment(site, "a")
    assert not store.try_begin_deployment(site, "b")
    with pytest.raises(StateConflict):
        store.delete_app("busy")
    store.end_deployment(site, "b")  # not the holder: no effect
    assert store.is_deploying(site)
    store.end_deployment(site, "a")
    assert store.try_begin_deployment(site, "b")


def test_delete_removes_the_files(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.create_app("gone", plan="consumption", python="3.11", resource_group="rg",
                     location="here")
    assert (tmp_path / "apps" / "gone").is_dir()
    store.delete_app("gone")
    assert not (tmp_path / "apps" / "gone").exists()
    assert _store(tmp_path).apps() == []
