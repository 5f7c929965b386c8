"""Installed distributions a package needs, found through their metadata (no index involved)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def dependency_closure(root: str, environment: Mapping[str, str] | None = None, *,
                       exclude: Collection[str] = ()) -> tuple[list[metadata.Distribution],
                                                                list[str]]:
    """``root`` and every installed distribution it requires, and the names not installed.

    Markers are evaluated for ``environment`` (another interpreter's, say), without extras;
    with no environment, only requirements behind an extra are left out.
    """
    pending, seen = [root], {canonicalize_name(name) for name in exclude}
    found: list[metadata.Distribution] = []
    missing: list[str] = []
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        found.append(distribution)
        for text in distribution.requires or ():
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None:
                pending.append(requirement.name)
            elif environment is None:
                if "extra" not in str(marker):
                    pending.append(requirement.name)
            elif marker.evaluate({**environment, "extra": ""}):
                pending.append(requirement.name)
    return found, missing
