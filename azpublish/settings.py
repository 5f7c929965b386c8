"""Settings from flags, ``AZPUBLISH_*`` environment variables and ``[tool.azpublish]``.

One table, ``OPTIONS``, declares every publish option once; the argument parser, the environment
lookup, the pyproject lookup and the README's reference all come from it, so the GitHub Action
and the Pipelines task only have to set environment variables. Precedence: flag > env > file >
default.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from azpublish.command_line import Parser, choices_text, commands_epilog, version_text
from azpublish.errors import UsageError
from azpublish.redact import register_url_credentials
from azpublish.runtime import DEFAULT_PYTHON, SUPPORTED_PYTHONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

BuildMode = Literal["remote", "local", "custom"]
Kind = Literal["str", "bool", "int", "path", "size", "choice", "python", "duration"]

ENV_PREFIX = "AZPUBLISH_"


@dataclass(frozen=True)
class Option:
    name: str
    kind: Kind
    help: str
    default: Any = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    in_pyproject: bool = True
    short: str | None = None  # a one-letter alias of the flag, e.g. "-z"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def key(self) -> str:
        return self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("build", "choice", "where dependencies are installed", "remote",
           ("remote", "local", "custom")),
    Option("no_build", "bool", "alias of --build custom: publish the tree as it is", False),
    Option("project_dir", "path", "the function app folder (default: the nearest folder upwards "
           "holding host.json)", metavar="DIR", in_pyproject=False),
    Option("app", "str", "the function app's name", metavar="NAME"),
    Option("resource_group", "str", "the app's resource group", metavar="RG"),
    Option("subscription", "str", "the Azure subscription id", metavar="ID"),
    Option("slot", "str", "a deployment slot", metavar="NAME"),
    Option("python_version", "python", "the target Python (default: the app's, else "
           f"{DEFAULT_PYTHON})", metavar="X.Y"),
    Option("package", "path", "deploy this zip as it is, built before (promote one artefact "
           "through stages): nothing is built or packaged", metavar="FILE", in_pyproject=False),
    Option("no_deploy", "bool", "build and package only; needs --output-zip", False),
    Option("output_zip", "path", "where to write the package", metavar="FILE"),
    Option("dry_run", "bool", "print what would be packaged and done; write and upload nothing",
           False),
    Option("list_included_files", "bool", "print every archive path that would be packaged, "
           "then exit", False, in_pyproject=False),
    Option("list_ignored_files", "bool", "print every ignored path with the rule that excluded "
           "it, then exit", False, in_pyproject=False),
    Option("null", "bool", "with a listing: NUL-terminated records, names written byte for "
           "byte (as git's -z)", False, in_pyproject=False, short="-z"),
    Option("max_package_size", "size", "fail when the package is larger (e.g. 200MB, 1GiB)",
           metavar="SIZE"),
    Option("engine", "choice", "how --build local installs: in a container, with target "
           "wheels only, or auto (container if one answers)", "auto",
           ("auto", "container", "wheels")),
    Option("installer", "choice", "the installer of the container engine (default pip); the "
           "wheels engine always installs with uv", None, ("pip", "uv")),
    Option("base_image", "str", "the base image of the build container (Dockerfile.build's "
           "BASE_IMAGE)", metavar="IMAGE"),
    Option("build_image", "str", "a ready build image to use instead of building one",
           metavar="IMAGE"),
    Option("additional_packages", "str", "Debian packages to add to the build image",
           metavar="'PKG ...'"),
    Option("no_cache", "bool", "rebuild the dependencies even when the cache has them", False),
    Option("strict_lock", "bool", "fail when requirements.txt is stale for requirements.in "
           "(default: warn)", False),
    Option("no_preflight", "bool", "skip the import check of every function before upload "
           "(local and custom builds)", False),
    Option("preflight_timeout", "duration", "how long importing the app may take in the import "
           "check (e.g. 120, 5m)", 120.0, metavar="TIME"),
    Option("tenant", "str", "the Entra tenant to authenticate in", metavar="ID"),
    Option("plan", "choice", "the app's hosting plan when only a publish profile is given "
           "(Resource Manager says it otherwise); flexconsumption is the Action's name for "
           "flex", None, ("dedicated", "premium", "flex", "consumption", "flexconsumption")),
    Option("publish_profile", "str", "a publish profile (file path, or its XML) for basic auth "
           "to Kudu", metavar="FILE", in_pyproject=False),
    Option("arm_endpoint", "str", "the Resource Manager endpoint (sovereign clouds, the "
           "emulator)", metavar="URL"),
    Option("ca_bundle", "path", "a CA bundle to trust for TLS (verification is always on)",
           metavar="FILE"),
    Option("pip_extra_index_url", "str", "an extra package index for every build (credentials "
           "in it are kept secret)", metavar="URL"),
    Option("restore_settings", "bool", "put back the app settings this publish changed", False),
    Option("timeout", "duration", "how long to wait for the deployment (e.g. 900, 30m)", 1800.0,
           metavar="TIME"),
    Option("index_timeout", "duration", "how long to wait, after the deployment, for the host "
           "to list the package's functions (e.g. 120, 5m)", 120.0, metavar="TIME"),
    Option("allow_partial", "bool", "accept a deployment whose host indexes only some of the "
           "package's functions (a warning naming the missing ones, not exit 5)", False),
    Option("verify_url", "str", "after deploying, GET this path on the app and require a 2xx",
           metavar="PATH"),
    Option("force", "bool", "deploy an unchanged package; build for a --python-version the app "
           "does not run", False),
    Option("json", "bool", "print one JSON report on stdout at the end", False),
    Option("verbose", "bool", "more detail on stderr", False),
    Option("quiet", "bool", "only warnings and errors on stderr (the JSON report, CI outputs "
           "and annotations are unchanged)", False),
)


@dataclass(frozen=True)
class Settings:
    build: BuildMode = "remote"
    project_dir: Path | None = None
    app: str | None = None
    resource_group: str | None = None
    subscription: str | None = None
    slot: str | None = None
    python_version: str | None = None
    package: Path | None = None
    no_deploy: bool = False
    output_zip: Path | None = None
    dry_run: bool = False
    list_included_files: bool = False
    list_ignored_files: bool = False
    null: bool = False
    max_package_size: int | None = None
    engine: Literal["auto", "container", "wheels"] = "auto"
    installer: Literal["pip", "uv"] | None = None
    base_image: str | None = None
    build_image: str | None = None
    additional_packages: str | None = None
    no_cache: bool = False
    no_preflight: bool = False
    preflight_timeout: float = 120.0
    strict_lock: bool = False
    tenant: str | None = None
    plan: str | None = None
    publish_profile: str | None = field(default=None, repr=False)
    arm_endpoint: str | None = None
    ca_bundle: Path | None = None
    pip_extra_index_url: str | None = field(default=None, repr=False)
    restore_settings: bool = False
    timeout: float = 1800.0
    index_timeout: float = 120.0
    allow_partial: bool = False
    verify_url: str | None = None
    force: bool = False
    json: bool = False
    verbose: bool = False
    quiet: bool = False
    # Where each value came from ("flag", "env", "pyproject", "default"), for --verbose and errors.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    # What was given but has no effect (a mistyped variable, an option this run ignores).
    warnings: tuple[str, ...] = field(default=(), compare=False)


def build_parser(prog: str = "azpublish") -> argparse.ArgumentParser:
    parser = Parser(
        prog=prog,
        description="Build and publish a Python Azure Functions app. Every option can also be "
        f"set as {ENV_PREFIX}<OPTION> or as a key of [tool.azpublish] in pyproject.toml.",
        argument_default=argparse.SUPPRESS, epilog=commands_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=version_text())
    for opt in OPTIONS:
        shown = f"{opt.help}; {choices_text(opt.choices)}" if opt.choices else opt.help
        help_text = f"{shown} (env {opt.env})"
        flags = (opt.short, opt.flag) if opt.short else (opt.flag,)
        if opt.kind == "bool":
            parser.add_argument(*flags, dest=opt.name, action="store_true", help=help_text)
        else:
            parser.add_argument(*flags, dest=opt.name, metavar=opt.metavar or opt.name.upper(),
                                choices=opt.choices or None, help=help_text)
    return parser


def resolve(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Turn command-line arguments plus environment plus pyproject into ``Settings``."""
    environ = os.environ if environ is None else environ
    given = vars(build_parser().parse_args(list(argv)))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def take(opt: Option, file_table: Mapping[str, Any]) -> None:
        if opt.name in given:
            values[opt.name] = convert(opt, given[opt.name], f"option {opt.flag}")
            sources[opt.name] = "flag"
        elif environ.get(opt.env, "") != "":
            values[opt.name] = convert(opt, environ[opt.env], f"environment variable {opt.env}")
            sources[opt.name] = "env"
        elif opt.in_pyproject and (opt.key in file_table or opt.name in file_table):
            raw = file_table.get(opt.key, file_table.get(opt.name))
            values[opt.name] = convert(opt, raw, f"[tool.azpublish] key {opt.key!r}")
            sources[opt.name] = "pyproject"
        else:
            values[opt.name] = opt.default
            sources[opt.name] = "default"

    by_name = {opt.name: opt for opt in OPTIONS}
    take(by_name["project_dir"], {})
    root = project_dir_for_pyproject(values["project_dir"])
    table = read_pyproject_table(root) if root else {}
    unknown = sorted(set(table) - {o.key for o in OPTIONS} - {o.name for o in OPTIONS})
    if unknown:
        raise UsageError(f"unknown key(s) in [tool.azpublish]: {', '.join(unknown)}",
                         fix="see `azpublish --help` for the option names")
    for opt in OPTIONS:
        if opt.name != "project_dir":
            take(opt, table)

    if values.pop("no_build"):
        if sources["build"] != "default" and values["build"] != "custom":
            raise UsageError(f"--no-build conflicts with --build {values['build']}",
                             fix="use one of them: --no-build means --build custom")
        values["build"] = "custom"
        sources["build"] = sources["no_build"]
    sources.pop("no_build")

    register_url_credentials(values["pip_extra_index_url"])
    settings = Settings(**values, sources=sources)
    check_combinations(settings)
    return dataclasses.replace(settings, warnings=(*unknown_variables(environ),
                                                   *without_effect(settings)))


# AZPUBLISH_* names that are not options: the cache folder, an interpreter per Python version
# (AZPUBLISH_PYTHON_3_11), the emulator's own settings and the Pipelines task's test hooks.
_OTHER_VARIABLES = re.compile(r"AZPUBLISH_(?:CACHE_DIR|PYTHON_\d+_\d+|EMULATOR_\w+|TASK_TEST_\w*)")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each AZPUBLISH_* variable that no option reads (a typo is otherwise
    silently ignored, while the same typo in [tool.azpublish] is an error)."""
    known = [opt.env for opt in OPTIONS]
    found = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known or _OTHER_VARIABLES.fullmatch(name):
            continue
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        found.append(f"the environment variable {name} is not an azpublish setting, so it is "
                     "ignored" + (f": did you mean {near[0]}?" if near else
                                  " (see `azpublish --help`)"))
    return found


# Options that only matter to some runs: given for another, they would be silently ignored.
_LOCAL_ONLY = ("engine", "installer", "base_image", "build_image", "additional_packages")
# What shapes a build or a package: nothing, when --package deploys one made before.
_BUILD_ONLY = ("build", "no_build", "project_dir", "max_package_size", "no_cache", "strict_lock",
               "no_preflight", "preflight_timeout", *_LOCAL_ONLY)
_DEPLOY_ONLY = ("restore_settings", "verify_url", "app", "slot", "force", "index_timeout",
                "allow_partial")


def without_effect(settings: Settings) -> list[str]:
    # Said for this run's own flags and variables; [tool.azpublish] is standing configuration
    # that other runs of the app may need.
    given = {name for name, source in settings.sources.items() if source in ("flag", "env")}
    by_name = {opt.name: opt for opt in OPTIONS}
    found = []
    if settings.build != "local":
        for name in sorted(given & set(_LOCAL_ONLY)):
            found.append(f"{by_name[name].flag} has no effect with --build {settings.build} "
                         "(it shapes a local build only)")
    if settings.package is not None:
        for name in sorted(given & set(_BUILD_ONLY)):
            found.append(f"{by_name[name].flag} has no effect with --package (the package is "
                         "built already; what it holds decides how it is deployed)")
    if settings.no_deploy and not settings.dry_run:
        for name in sorted(given & set(_DEPLOY_ONLY)):
            found.append(f"{by_name[name].flag} has no effect with --no-deploy (nothing is "
                         "deployed)")
    return found


def check_combinations(settings: Settings) -> None:
    if settings.quiet and settings.verbose:
        raise UsageError("--quiet and --verbose are exclusive", fix="choose one")
    if settings.package is not None:
        clash = next((flag for flag, given in (
            ("--no-deploy", settings.no_deploy), ("--output-zip", settings.output_zip),
            ("--list-included-files", settings.list_included_files),
            ("--list-ignored-files", settings.list_ignored_files)) if given), None)
        if clash:
            raise UsageError(f"--package deploys a zip made before; {clash} is about making "
                             "one", fix=f"drop {clash}, or drop --package to build the app")
    if settings.no_deploy and settings.output_zip is None and not settings.dry_run:
        raise UsageError("--no-deploy needs --output-zip FILE to say where the package goes",
                         fix="add --output-zip app.zip (or use --dry-run to only look)")
    if settings.list_included_files and settings.list_ignored_files:
        raise UsageError("--list-included-files and --list-ignored-files are exclusive",
                         fix="ask for one listing at a time")
    if settings.null and not (settings.list_included_files or settings.list_ignored_files):
        raise UsageError("-z/--null only shapes the output of --list-included-files or "
                         "--list-ignored-files", fix="add one of them, or drop -z")
    if settings.arm_endpoint and not settings.arm_endpoint.lower().startswith("https://"):
        raise UsageError(f"--arm-endpoint {settings.arm_endpoint!r} is not an https:// URL: "
                         "azpublish sends your Azure credential there",
                         where="--arm-endpoint", fix="give the endpoint's https:// URL")
    if settings.null and settings.json:
        raise UsageError("-z/--null and --json are exclusive: each chooses the listing's format",
                         fix="use -z for NUL-separated names, or --json for one JSON document")


def project_dir_for_pyproject(project_dir: Path | None) -> Path | None:
    """The app root whose pyproject.toml may hold settings; None when there is no app here.

    A missing app is reported by discovery, with the reporter (and so --json) in place.
    """
    from azpublish.errors import ProjectError
    from azpublish.project import find_root

    try:
        return find_root(project_dir)
    except ProjectError:
        return None


def read_pyproject_table(root: Path) -> Mapping[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"not valid TOML: {exc}", where=str(path),
                         fix="fix the file or remove its [tool.azpublish] table") from None
    table = data.get("tool", {}).get("azpublish", {})
    if not isinstance(table, dict):
        raise UsageError("[tool.azpublish] must be a table", where=str(path))
    return table


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def convert(opt: Option, raw: Any, where: str) -> Any:
    """Check and convert one raw value; every failure names its source."""
    if opt.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise UsageError(f"{where}: {raw!r} is not a boolean", fix="use true or false")
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise UsageError(f"{where}: expected a {opt.kind}, got {type(raw).__name__}")
    text = str(raw).strip()
    if opt.kind == "choice":
        if text not in opt.choices:
            raise UsageError(f"{where}: {text!r} is not one of {', '.join(opt.choices)}")
        return text
    if opt.kind == "path":
        return Path(text).expanduser()
    if opt.kind == "int":
        if not text.isdigit():
            raise UsageError(f"{where}: {text!r} is not a whole number")
        return int(text)
    if opt.kind == "size":
        return parse_size(text, where)
    if opt.kind == "duration":
        return parse_duration(text, where)
    if opt.kind == "python":
        return check_python_version(text, where)
    return text


def parse_size(text: str, where: str) -> int:
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"{where}: {text!r} is not a size",
                         fix="write it like 200MB, 1GiB or 5000000")
    unit = (match.group(2) or "").lower().removesuffix("b")
    return int(float(match.group(1)) * _UNITS[unit])


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$", re.IGNORECASE)


def parse_duration(text: str, where: str) -> float:
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"{where}: {text!r} is not a duration",
                         fix="write seconds (900) or with a unit: 90s, 30m, 1h")
    factor = {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2).lower()]
    return float(match.group(1)) * factor


def check_python_version(text: str, where: str) -> str:
    if text not in SUPPORTED_PYTHONS:
        raise UsageError(f"{where}: Python {text!r} is not a Functions runtime version",
                         fix=f"use one of {', '.join(SUPPORTED_PYTHONS)}")
    return text


def settings_field_names() -> set[str]:
    return {f.name for f in fields(Settings)} - {"sources", "warnings"}
