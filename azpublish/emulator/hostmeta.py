"""What the Functions host decides about a function before (and without) the Python worker.

The host works in two stages, and where a function is refused decides what Azure shows:

1. Reading metadata (``function.json`` for model v1; the worker's index for v2). A function
   refused here (an invalid name, function.json that does not parse or declares no binding, a
   ``scriptFile`` that does not exist) is **not listed**: the admin list and ARM's list come from
   this stage. Its error is served at ``/admin/functions/{name}/status``.
2. Creating the function: its bindings are validated and resolved against the binding types the
   host registers itself and those of the extension bundle named in host.json. A function
   refused here (no trigger, two triggers, a binding type that is not registered) is **still
   listed**, since the list comes from stage 1, but it never runs: no route, no trigger. Its
   status holds the error.

Only functions that pass both are handed to the worker. A v1 script that then fails to import is
the worker's failure, not the host's: the function stays listed, its status is ``{}``, and the
error is in the host log and replayed whenever the function is invoked (see ``funchost``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FUNCTION_JSON = "function.json"
HTTP_TRIGGER = "httptrigger"
# Registered by the host itself, with no extension: http, timers, manual and warm-up triggers.
BUILT_IN_BINDINGS = frozenset({"httptrigger", "http", "timertrigger", "manualtrigger",
                               "warmuptrigger"})
# The binding types of the extensions in the v4 extension bundle
# (Microsoft.Azure.Functions.ExtensionBundle, its extensions.json), lower case.
BUNDLE_BINDINGS = frozenset({
    "blobtrigger", "blob", "queuetrigger", "queue", "table",
    "servicebustrigger", "servicebus", "eventhubtrigger", "eventhub",
    "eventgridtrigger", "eventgrid", "cosmosdbtrigger", "cosmosdb",
    "activitytrigger", "orchestrationtrigger", "entitytrigger", "durableclient",
    "orchestrationclient",
    "sendgrid", "twiliosms",
    "signalr", "signalrconnectioninfo", "signalrtrigger", "signalrendpoints",
    "signalrnegotiation",
    "rabbitmqtrigger", "rabbitmq", "kafkatrigger", "kafka",
    "sql", "sqltrigger", "mysql", "mysqltrigger",
    "webpubsub", "webpubsubconnection", "webpubsubrequest", "webpubsubtrigger",
    "daprbinding", "daprbindingtrigger", "daprinvoke", "daprpublish", "daprsecret",
    "daprserviceinvocationtrigger", "daprstate", "daprtopictrigger",
    "redispubsubtrigger", "redisstreamtrigger", "redislisttrigger", "redis",
    "fabricitem", "udfproperty", "userdatafunctioncontext",
    "mcptooltrigger", "mcptoolproperty", "mcpresourcetrigger", "mcpprompttrigger",
})
# The host's rules for names: a function's (never "host"), and a binding's ("$return" too;
# snake case since host 4.1038, but never a double underscore).
_FUNCTION_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,127}", re.IGNORECASE)
_BINDING_NAME = re.compile(r"(?!.*__)[a-z_][a-z0-9_]{0,127}|\$return", re.IGNORECASE)
# With no scriptFile and several files, the host takes the one with one of these names.
_PRIMARY_NAMES = ("index.js", "index.mjs", "index.cjs", "__init__.py")


class Refused(Exception):
    """The host will not have this function; the message is what it records for it."""


@dataclass(frozen=True)
class BindingTypes:
    """The binding types the host can resolve for one app."""

    bundle: bool  # host.json names an extension bundle
    own_extensions: bool  # no bundle, but the app ships its extensions in bin/

    def unresolved(self, types: Iterable[str]) -> list[str]:
        if self.own_extensions:
            return []  # bin/extensions.json does not say which types it registers
        known = BUILT_IN_BINDINGS | (BUNDLE_BINDINGS if self.bundle else frozenset())
        missing: list[str] = []
        for kind in types:
            if kind.lower() not in known and kind not in missing:
                missing.append(kind)
        return missing

    def error(self, missing: Sequence[str]) -> str:
        names = ", ".join(missing)
        if self.bundle:
            return (f"The binding type(s) '{names}' are not in the configured extension bundle: "
                    "check the type, and that the bundle version in host.json has it.")
        return (f"The binding type(s) '{names}' are not registered: check the type, and add "
                "an extensionBundle to host.json (or install the binding's extension).")


def binding_types(wwwroot: Path) -> BindingTypes:
    try:
        host = json.loads((wwwroot / "host.json").read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        host = {}
    bundle = isinstance(host, dict) and isinstance(host.get("extensionBundle"), dict) \
        and bool(host["extensionBundle"].get("id"))
    own = not bundle and (wwwroot / "bin" / "extensions.json").is_file()
    return BindingTypes(bundle=bundle, own_extensions=own)


def is_function_name(name: str) -> bool:
    return bool(_FUNCTION_NAME.fullmatch(name)) and name.lower() != "host"


# -- stage 1: metadata -----------------------------------------------------------------------


def _primary_script(folder: Path, script_file: Any) -> Path:
    if script_file:
        path = folder / str(script_file)
        if not path.is_file():
            raise Refused("The 'scriptFile' in function.json names a file that does not exist.")
        return path
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower() != FUNCTION_JSON)
    if len(files) == 1:
        return files[0]
    primary = next((p for p in files if p.stem.lower() == "run"
                    or p.name.lower() in _PRIMARY_NAMES), None)
    if primary is None:
        raise Refused("The function's primary script cannot be determined: name it "
                      "__init__.py, or set 'scriptFile' in function.json.")
    return primary


def read_function_json(wwwroot: Path, folder: Path) -> dict[str, Any]:
    """One v1 function as the host reads it from its folder (raises ``Refused``)."""
    if not is_function_name(folder.name):
        raise Refused(f"'{folder.name}' is not a valid function name.")
    try:
        config = json.loads((folder / FUNCTION_JSON).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:
        raise Refused(f"function.json cannot be read as JSON: {error}") from None
    if not isinstance(config, dict):
        raise Refused("function.json must hold a JSON object.")
    bindings = config.get("bindings")
    if not isinstance(bindings, list) or not bindings \
            or not all(isinstance(b, dict) for b in bindings):
        raise Refused("function.json must declare at least one binding.")
    script = _primary_script(folder, config.get("scriptFile"))
    # Relative to wwwroot, but not resolved: a script outside the app is the worker's refusal.
    relative = Path(os.path.relpath(script, wwwroot))
    return {
        "name": folder.name,
        "script_file": relative.as_posix(),
        "entry_point": str(config.get("entryPoint") or "main"),
        "bindings": bindings,
        "disabled": str(config.get("disabled", False)).lower() in ("true", "1"),
    }


def read_v1(wwwroot: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every function folder's metadata, and the folders the host refuses (name -> error)."""
    functions: list[dict[str, Any]] = []
    refused: dict[str, str] = {}
    for folder in sorted(p for p in wwwroot.iterdir() if (p / FUNCTION_JSON).is_file()):
        try:
            functions.append(read_function_json(wwwroot, folder))
        except Refused as error:
            refused[folder.name] = str(error)
    return functions, refused


def check_worker_metadata(raw: Mapping[str, Any]) -> None:
    """What the host checks in a function the v2 worker indexed before listing it."""
    name = str(raw.get("name", ""))
    if not is_function_name(name):
        raise Refused(f"'{name}' is not a valid function name.")
    _check_binding_names(raw.get("bindings") or [])


def _check_binding_names(bindings: Sequence[Mapping[str, Any]]) -> None:
    seen: set[str] = set()
    for binding in bindings:
        name = binding.get("name")
        if not isinstance(name, str) or not _BINDING_NAME.fullmatch(name):
            raise Refused(f"The binding name {name} is invalid: use letters, digits and "
                          "single underscores (or $return).")
        if not binding.get("type"):
            raise Refused(f"Binding '{name}' has no type.")
        if name.lower() in seen:
            raise Refused(f"Binding name '{name}' is used more than once: binding names must "
                          "be unique.")
        seen.add(name.lower())


# -- stage 2: creating the function ----------------------------------------------------------


def is_trigger(binding: Mapping[str, Any]) -> bool:
    return str(binding.get("type", "")).lower().endswith("trigger") \
        and str(binding.get("direction", "in")).lower() != "out"


def creation_error(name: str, bindings: Sequence[Mapping[str, Any]],
                   types: BindingTypes) -> str | None:
    """Why the host cannot create the function ``name`` from these bindings, or None."""
    try:
        _check_binding_names(bindings)
    except Refused as error:
        return str(error)
    triggers = [b for b in bindings if is_trigger(b)]
    if len(triggers) > 1:
        return "More than one trigger binding: a function has exactly one."
    if not triggers:
        return "No trigger binding: a function needs one trigger input binding."
    missing = types.unresolved(str(b.get("type", "")) for b in bindings)
    if missing:
        return types.error(missing)
    route = str(triggers[0].get("route") or name).strip("/").lower()  # the name by default
    if str(triggers[0].get("type", "")).lower() == HTTP_TRIGGER \
            and route.startswith(("admin", "runtime")):
        return "The route conflicts with the host's built-in routes (admin, runtime)."
    return None


def in_error(name: str, error: str) -> str:
    """The host log line for a function it refused."""
    return f"The '{name}' function is in error: {error}"
