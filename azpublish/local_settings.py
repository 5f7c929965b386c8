"""``local.settings.json``: the app settings a developer runs the app with locally.

It is never published (an always-rule keeps it out of the package). Its ``Values`` are what the
app reads from its environment; the import check gives them to the app as Azure would give the
app settings, so module-level ``os.environ[...]`` reads behave as they do on the developer's
machine. They often hold connection strings, so they are secrets: masked in whatever the check
reports, and never printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

FILE_NAME = "local.settings.json"
# Shorter values are not worth masking (and would mask innocent words such as "true").
_MIN_MASKED_LENGTH = 8


@dataclass(frozen=True)
class LocalSettings:
    path: Path
    values: dict[str, str] = field(default_factory=dict, repr=False)
    problem: str | None = None  # why the values could not be used, when they could not


def read_local_settings(root: Path) -> LocalSettings | None:
    """The project's local.settings.json, or None when there is none."""
    path = root / FILE_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        return LocalSettings(path, problem=f"not readable as JSON ({type(error).__name__})")
    if not isinstance(data, dict):
        return LocalSettings(path, problem="not a JSON object")
    if data.get("IsEncrypted") is True:
        return LocalSettings(path, problem='its values are encrypted ("IsEncrypted": true)')
    values = data.get("Values", {})
    if not isinstance(values, dict):
        return LocalSettings(path, problem='"Values" is not an object')
    return LocalSettings(path, {str(k): _text(v) for k, v in values.items() if v is not None})


def masked(text: str, values: dict[str, str]) -> str:
    """``text`` with every long enough value replaced by ``***``."""
    for value in sorted(values.values(), key=len, reverse=True):
        if len(value) >= _MIN_MASKED_LENGTH:
            text = text.replace(value, "***")
    return text


def _text(value: object) -> str:
    if isinstance(value, bool):  # the host reads JSON true as "True"
        return str(value)
    return value if isinstance(value, str) else json.dumps(value)
