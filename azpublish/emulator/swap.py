"""A slot swap, as App Service does it: the two sites exchange what they run — the deployed
content (wwwroot and its deployment history), the function index, the stack and site
configuration, and every app setting except the slot-sticky ones (``config/slotConfigNames``),
which stay with their slot. Keys stay with the slot name too.
"""

from __future__ import annotations

from pathlib import Path

from azpublish.emulator.model import App, Site
from azpublish.emulator.store import AppStore, StateConflict

# What travels with the content, Kudu's own settings included (they live in the site's
# storage). Host and function keys are kept per slot name.
SWAPPED_FIELDS = ("functions", "route_prefix", "deployments", "linux_fx_version", "site_config",
                  "functions_listed_after", "deployment_settings")


def sticky_settings(app: App) -> frozenset[str]:
    return frozenset(name.upper() for name in app.slot_config_names.get("appSettingNames") or ())


def _exchange(first: Path, second: Path) -> None:
    """Swap two directories by renames; put things back if a rename fails half-way."""
    parked = first.with_name(first.name + ".swapping")
    first.rename(parked)
    try:
        second.rename(first)
    except OSError:
        parked.rename(first)
        raise
    parked.rename(second)


def swap_sites(store: AppStore, app: App, one: Site, other: Site) -> None:
    if one is other:
        raise StateConflict("a slot cannot be swapped with itself")
    sticky = sticky_settings(app)
    with store.changing(app):
        if one.deploying or other.deploying:
            raise StateConflict("a deployment is in progress on one of the slots; swap when it "
                                "completes")
        _exchange(store.layout.site_dir(app.name, one.slot),
                  store.layout.site_dir(app.name, other.slot))
        for name in SWAPPED_FIELDS:
            mine, theirs = getattr(one, name), getattr(other, name)
            setattr(one, name, theirs)
            setattr(other, name, mine)
        for site, incoming in ((one, dict(other.settings)), (other, dict(one.settings))):
            kept = {k: v for k, v in site.settings.items() if k.upper() in sticky}
            moved = {k: v for k, v in incoming.items() if k.upper() not in sticky}
            store.replace_settings(app, site, {**moved, **kept})

