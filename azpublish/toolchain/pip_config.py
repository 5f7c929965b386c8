"""pip's configuration as pip itself would merge it: the one place azpublish reads pip.conf
files and ``PIP_*`` variables (and notes the ``UV_*`` ones it leaves out).

pip's rules (``pip/_internal/configuration.py`` and ``cli/parser.py``), followed here:

- files, later ones winning for the same ``section.key``: global (``$XDG_CONFIG_DIRS/pip/pip.conf``
  with ``/etc/xdg`` as default, then ``/etc/pip.conf``), user (``~/.pip/pip.conf``, then
  ``$XDG_CONFIG_HOME/pip/pip.conf``; skipped when ``PIP_CONFIG_FILE`` names an existing file),
  site (``sys.prefix/pip.conf``), then ``PIP_CONFIG_FILE``; ``PIP_CONFIG_FILE=/dev/null``
  loads no file at all;
- then by section: ``[global]``, then the command's (``[install]``), then ``PIP_*`` variables;
  so ``[install]`` in any file beats ``[global]`` in any file, and a variable beats both;
- names are normalised (``PIP_EXTRA_INDEX_URL``, ``extra_index_url`` -> ``extra-index-url``);
  empty values count as unset.

Only the options that say where packages come from are kept (``SOURCE_OPTIONS``): anything else
a host sets (``PIP_TARGET``, ``PIP_USER``, ``PIP_CONSTRAINT``...) would change what an install
produces without the cache key knowing, so no installer is given it.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# pip option (config-file spelling) -> what it is; "default-timeout" is pip's alias of timeout.
SOURCE_OPTIONS = ("index-url", "extra-index-url", "find-links", "trusted-host", "cert",
                  "client-cert", "no-index", "timeout", "retries", "proxy", "pre")
_ALIASES = {"default-timeout": "timeout"}
# Section pip reads for the command azpublish runs (install; download and wheel use the same
# source options, and azpublish documents one set of settings for all of them).
COMMAND_SECTION = "install"
# uv variables that choose package sources: azpublish describes sources in pip's terms only,
# so these are left out of every installer's environment (and named, so that the user knows).
UV_SOURCE_VARIABLES = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX",
                       "UV_FIND_LINKS", "UV_NO_INDEX", "UV_INSECURE_HOST", "UV_INDEX_STRATEGY",
                       "UV_CONFIG_FILE", "UV_PRERELEASE", "UV_CONSTRAINT", "UV_OVERRIDE")


@dataclass(frozen=True)
class PipOptions:
    """The source options in effect, each with where it was read (a file or a variable)."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold credentials
    origins: Mapping[str, str] = field(default_factory=dict)  # option -> "PIP_X" or "file [sec]"
    files: tuple[Path, ...] = ()  # the configuration files that were read, in order
    ignored_uv: tuple[str, ...] = ()  # UV_* source variables present and not used


def config_files(environ: Mapping[str, str]) -> list[Path]:
    """pip's configuration files for ``environ``, lowest precedence first (existing or not)."""
    explicit = environ.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "")
    dirs = [d for d in (xdg_dirs if xdg_dirs.strip() else "/etc/xdg").split(":") if d]
    files = [*(Path(d) / "pip" / "pip.conf" for d in dirs), Path("/etc/pip.conf")]
    if not (explicit and Path(explicit).exists()):
        home = Path(environ.get("HOME") or Path.home())
        xdg_home = environ.get("XDG_CONFIG_HOME") or str(home / ".config")
        files += [home / ".pip" / "pip.conf", Path(xdg_home) / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return files


def read_pip_options(overrides: Mapping[str, str] | None = None,
                     environ: Mapping[str, str] | None = None) -> PipOptions:
    """The merged source options: files, then ``PIP_*`` of ``environ`` (default: this process),
    then ``overrides`` (``PIP_*`` spelling: azpublish's own flags, which win)."""
    environ = os.environ if environ is None else environ
    by_section: dict[str, dict[str, tuple[str, str]]] = {"global": {}, COMMAND_SECTION: {}}
    read: list[Path] = []
    for path in config_files(environ):
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError):
            continue  # pip refuses such a file too, and its own run then says why
        read.append(path)
        for section, options in by_section.items():
            if parser.has_section(section):
                for key, value in parser.items(section):
                    options[_normal(key)] = (value, f"{path} [{section}]")
    merged: dict[str, tuple[str, str]] = {}
    for options in by_section.values():
        merged.update(options)
    for source in (environ, overrides or {}):
        for name, value in source.items():
            if name.startswith("PIP_"):
                merged[_normal(name[4:])] = (value, name)
    kept = {key: (" ".join(value.split()), origin) for key, (value, origin) in merged.items()
            if key in SOURCE_OPTIONS and value.strip()}
    return PipOptions(values={k: v for k, (v, _) in kept.items()},
                      origins={k: o for k, (_, o) in kept.items()}, files=tuple(read),
                      ignored_uv=tuple(n for n in UV_SOURCE_VARIABLES if environ.get(n)))


def _normal(name: str) -> str:
    key = name.lower().replace("_", "-").removeprefix("--")
    return _ALIASES.get(key, key)
