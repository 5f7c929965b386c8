"""The wheels engine: install the target's pre-built wheels on the host, without a container.

uv (``uv pip install --python-platform x86_64-manylinux_2_36 --python-version X.Y``) or pip
(``pip install --platform ... --implementation cp --abi cpXY``) picks wheels for the target and
evaluates environment markers for it. pip alone evaluates markers for the *running*
interpreter, so pip runs through this module (``python -m azpublish.build.wheels X.Y ...``),
which first points pip's marker environment at the target.

Source distributions: the install is binary-only. When it fails on a package that has no
wheel, that package alone is built from its sdist with the host's pip (``pip wheel --no-deps``);
a ``py3-none-any`` result runs anywhere and joins the install through a local find-links folder,
anything else is native code that needs the container engine, and is an error naming it.
When no distribution fits, pip lists what the indexes hold for the package, so the error can say
whether the name, the pin, the target Python or the platform is the problem (``availability``).

Index settings (``PIP_INDEX_URL`` ... from the request, from the environment and from pip's
config files) reach the installer only as environment variables; for uv they are translated
into uv's variables, since uv reads no pip configuration.
"""

from __future__ import annotations

import configparser
import dataclasses
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path

from packaging import tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from azpublish.build import module_hints
from azpublish.build.availability import (
    Inventory,
    Missing,
    explain,
    find_missing,
    parse_inventory,
)
from azpublish.build.engine import Installer, InstallRequest
from azpublish.errors import BuildError
from azpublish.redact import redact, register_secret, register_url_credentials
from azpublish.runtime import Target

FIX_NATIVE = ("build with the container engine (--engine container), which compiles it for the "
              "target, or let the server build (--build remote)")
MAX_SOURCE_BUILDS = 10
_TAIL_LINES = 30
INVENTORY_TIMEOUT = 120.0  # seconds for pip to list one project's files
# No version equals this, so listing a project's files never downloads one of them.
_NO_VERSION = "===azpublish-lists-files-only"

# The manylinux levels uv accepts in --python-platform (uv pip install --help).
_UV_GLIBC_MINORS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}

# pip option (config-file spelling) -> uv environment variable, for the options that decide
# where packages come from. Lists are space-separated in pip and in these uv variables.
_UV_VARIABLES = {
    "index-url": "UV_INDEX_URL",
    "extra-index-url": "UV_EXTRA_INDEX_URL",
    "find-links": "UV_FIND_LINKS",
    "trusted-host": "UV_INSECURE_HOST",
    "cert": "SSL_CERT_FILE",
    "client-cert": "SSL_CLIENT_CERT",
    "timeout": "UV_HTTP_TIMEOUT",
    "default-timeout": "UV_HTTP_TIMEOUT",
    "retries": "UV_HTTP_RETRIES",
}
_BOOLEAN_UV_VARIABLES = {"no-index": "UV_NO_INDEX"}

def default_installer() -> Installer:
    return "uv" if find_uv() else "pip"


@functools.cache
def find_uv() -> str | None:
    """The uv binary of the ``uv`` wheel installed with azpublish, else one on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def uv_platform(target: Target) -> str:
    """The newest manylinux level uv knows that the target's glibc still satisfies."""
    major, minor = target.glibc
    usable = [m for m in _UV_GLIBC_MINORS if major > 2 or m <= minor]
    if major < 2 or not usable:
        raise BuildError(f"glibc {major}.{minor} is older than any manylinux platform",
                         fix="target glibc 2.17 or newer")
    return f"{target.machine}-manylinux_2_{usable[-1]}"


def pip_platforms(target: Target) -> list[str]:
    """Every manylinux tag the target accepts, newest first: pip takes them literally."""
    major, minor = target.glibc
    top = minor if major == 2 else 40
    tags: list[str] = []
    for level in range(top, 4, -1):
        tags.append(f"manylinux_2_{level}_{target.machine}")
        legacy = _LEGACY_MANYLINUX.get(level)
        if legacy and (target.machine == "x86_64" or level >= 17):
            tags.append(f"{legacy}_{target.machine}")
    return tags


def target_environment(python_version: str, machine: str = "x86_64") -> dict[str, str]:
    """PEP 508 marker values of CPython X.Y on Linux, as uv assumes them for a target."""
    return {"implementation_name": "cpython", "implementation_version": f"{python_version}.0",
            "os_name": "posix", "platform_machine": machine, "platform_release": "",
            "platform_system": "Linux", "platform_version": "",
            "python_full_version": f"{python_version}.0",
            "platform_python_implementation": "CPython", "python_version": python_version,
            "sys_platform": "linux"}


class WheelsEngine:
    name = "wheels"

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python  # runs pip (installer "pip", and sdist builds)

    def identity(self, request: InstallRequest) -> Mapping[str, str]:
        if request.installer == "uv":
            version, platform = _uv_version(self._uv()), uv_platform(request.target)
        else:
            version, platform = _pip_version(self.python), pip_platforms(request.target)[0]
        return {"engine": self.name, "installer": request.installer,
                "installer_version": version, "platform": platform,
                "python": request.target.python_version}

    def install(self, request: InstallRequest, log: Callable[[str], None]) -> None:
        _register_secrets(request.index_env)
        settings = pip_settings(request.index_env)
        built: set[str] = set()
        with tempfile.TemporaryDirectory(prefix="azpublish-wheelhouse-") as wheelhouse:
            extra_links = [wheelhouse]
            while True:
                _empty(request.output)
                code, tail = self._run(self._install_command(request, settings),
                                       self._env(request, settings, extra_links),
                                       request.project_root, log)
                if code == 0:
                    _remove_uv_lock(request)
                    return
                missing = find_missing(tail, request.installer)
                if missing is None:
                    raise BuildError(
                        f"{request.installer} could not install the requirements for "
                        f"{request.target.describe()} (exit {code}):\n" + "\n".join(tail[-12:]),
                        where=str(request.requirement_files[0]),
                        fix="check the requirement and the index settings (PIP_INDEX_URL, "
                        "PIP_EXTRA_INDEX_URL) named above; if a package has no wheel for the "
                        "target, " + FIX_NATIVE)
                if (not missing.exists or missing.name in built or len(built) >= MAX_SOURCE_BUILDS
                        or module_hints.is_windows_only(missing.name)):
                    raise self.explain(missing, request, log)
                log(f"{missing.name} has no wheel for the target; building it from source, "
                    "which works only for pure-Python packages")
                self._build_pure_wheel(missing, request, settings, Path(wheelhouse), log)
                built.add(missing.name)

    # -- running the installers ------------------------------------------------------------

    def _uv(self) -> str:
        uv = find_uv()
        if uv is None:
            raise BuildError("uv is not installed", where="--installer uv",
                             fix="install it (pip install uv) or use --installer pip")
        return uv

    def _install_command(self, request: InstallRequest,
                         settings: Mapping[str, str] | None = None) -> list[str]:
        target, version = request.target, request.target.python_version
        requirements = ["-r", str(request.main_file)] if request.requirement_files else []
        if request.installer == "uv":
            # `uv pip` reads no variable for --no-index (UV_NO_INDEX is ignored): a flag.
            no_index = (["--no-index"] if (settings or {}).get("no-index", "").lower()
                        in ("1", "true", "yes", "on") else [])
            return [self._uv(), "pip", "install", *no_index, "--target", str(request.output),
                    "--python", self.python, "--python-platform", uv_platform(target),
                    "--python-version", version, "--only-binary", ":all:", "--no-progress",
                    *requirements]
        abi = f"cp{version.replace('.', '')}"
        platforms = [arg for tag in pip_platforms(target) for arg in ("--platform", tag)]
        # Through this module, so that markers are evaluated for the target (see __main__).
        return [self.python, "-m", __name__, version, target.machine,
                "install", "--target", str(request.output), *platforms,
                "--only-binary=:all:", "--implementation", "cp", "--python-version", version,
                "--abi", abi, "--abi", "abi3", "--abi", "none", "--no-compile",
                "--no-input", "--progress-bar", "off", "--disable-pip-version-check",
                *requirements]

    def _env(self, request: InstallRequest, settings: Mapping[str, str],
             extra_links: Sequence[str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"NO_COLOR": "1", "PYTHONUTF8": "1"})
        links = " ".join(filter(None, [settings.get("find-links", ""), *extra_links]))
        if request.installer == "pip":
            env.update(request.index_env)
            env["PIP_FIND_LINKS"] = links
            if request.index_env.get("PIP_CERT"):
                # requests lets these variables override pip's --cert: the request's CA wins.
                env["REQUESTS_CA_BUNDLE"] = env["CURL_CA_BUNDLE"] = request.index_env["PIP_CERT"]
            return env
        # uv reads none of pip's settings: translate them, and stay out of the user's uv.toml
        # so that the result depends only on what the cache key records.
        for option, variable in _UV_VARIABLES.items():
            if settings.get(option):
                env[variable] = settings[option]
        for option, variable in _BOOLEAN_UV_VARIABLES.items():
            if settings.get(option, "").lower() in ("1", "true", "yes", "on"):
                env[variable] = "1"
        env["UV_FIND_LINKS"] = ",".join(links.split())
        # pip takes the best version across all indexes; uv by default stops at the first
        # index that has the package. Matching pip keeps the wheels engine's result the same
        # as the container's pip install.
        env.setdefault("UV_INDEX_STRATEGY", "unsafe-best-match")
        env["UV_NO_CONFIG"] = "1"
        return env

    def _run(self, command: list[str], env: Mapping[str, str], cwd: Path,
             log: Callable[[str], None]) -> tuple[int, list[str]]:
        """Run with output streamed, line by line and redacted, to ``log``; returns the exit
        code and the last lines (redacted) for the error message."""
        tail: list[str] = []
        try:
            process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, encoding="utf-8", errors="replace")
        except OSError as error:
            raise BuildError(f"cannot run {command[0]}: {error.strerror}",
                             fix="check the installation of azpublish and its installers"
                             ) from error
        assert process.stdout is not None
        with process:
            for raw in _lines(process.stdout):
                line = redact(raw)
                log(line)
                tail = [*tail[-(_TAIL_LINES * 4):], line]
        return process.returncode, tail

    def _build_pure_wheel(self, missing: Missing, request: InstallRequest,
                          settings: Mapping[str, str], wheelhouse: Path,
                          log: Callable[[str], None]) -> None:
        with tempfile.TemporaryDirectory(prefix="azpublish-sdist-") as scratch:
            command = [self.python, "-m", "pip", "wheel", "--no-deps", "--no-input",
                       "--disable-pip-version-check", "--progress-bar", "off",
                       f"--no-binary={missing.name}", "--wheel-dir", scratch, missing.spec]
            env = self._env(dataclasses.replace(request, installer="pip"), settings, [])
            code, tail = self._run(command, env, request.project_root, log)
            if code != 0 and find_missing(tail, "pip") is not None:
                raise self.explain(missing, request, log)  # no source distribution either
            wheels = list(Path(scratch).glob("*.whl"))
            if code != 0 or len(wheels) != 1 or not _is_pure(wheels[0]):
                raise _native_source(missing, request, built=code == 0)
            shutil.move(str(wheels[0]), wheelhouse / wheels[0].name)
            log(f"built {wheels[0].name} (pure Python) from the source distribution")

    # -- saying why nothing fits -----------------------------------------------------------

    def explain(self, missing: Missing, request: InstallRequest, log: Callable[[str], None],
                source_fix: str | None = FIX_NATIVE) -> BuildError:
        """The error for a package with no usable distribution, from what the indexes hold.
        The container engine uses it too (with no ``source_fix``: it compiled already)."""
        log(f"listing the files the package indexes have for {missing.name}")
        inventory = self.inventory(missing.name, request)
        main = request.requirement_files[0] if request.requirement_files else None
        return explain(missing, inventory, request.target, target_tags(request.target), main,
                       source_fix)

    def inventory(self, name: str, request: InstallRequest) -> Inventory | None:
        """Every file of ``name`` on the indexes, as pip's verbose output lists them (so pip's
        index settings, credentials and find-links apply); None when pip gave no answer."""
        _register_secrets(request.index_env)
        settings = pip_settings(request.index_env)
        env = self._env(dataclasses.replace(request, installer="pip"), settings, [])
        with tempfile.TemporaryDirectory(prefix="azpublish-inventory-") as scratch:
            command = [self.python, "-m", "pip", "download", "-vv", "--no-deps", "--no-input",
                       "--disable-pip-version-check", "--progress-bar", "off", "--dest", scratch,
                       name + _NO_VERSION]
            try:
                result = subprocess.run(command, cwd=request.project_root, env=env,
                                        stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                        encoding="utf-8", errors="replace", check=False,
                                        timeout=INVENTORY_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                return None
        return parse_inventory(name, (result.stdout + result.stderr).splitlines())


# -- pip's configuration, as pip itself would read it -----------------------------------------


def pip_settings(index_env: Mapping[str, str],
                 environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The source-related pip options in effect: config files, then ``PIP_*`` variables of
    this process, then the request's ``index_env`` — each later one wins, as in pip."""
    environ = os.environ if environ is None else environ
    settings: dict[str, str] = {}
    for path in _pip_config_files(environ):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue  # pip would refuse it too; the install then says why
        for section in ("global", "install"):
            if parser.has_section(section):
                settings.update({key: " ".join(value.split())
                                 for key, value in parser.items(section)})
    for source in (environ, index_env):
        for name, value in source.items():
            if name.startswith("PIP_"):
                settings[name[4:].lower().replace("_", "-")] = " ".join(value.split())
    return settings


def _pip_config_files(environ: Mapping[str, str]) -> Iterator[Path]:
    explicit = environ.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    home = Path(environ.get("HOME") or Path.home())
    xdg_home = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    candidates = [*(Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d), Path("/etc/pip.conf"),
                  home / ".pip" / "pip.conf", xdg_home / "pip" / "pip.conf",
                  Path(sys.prefix) / "pip.conf"]
    if explicit:
        candidates.append(Path(explicit))
    yield from (path for path in candidates if path.is_file())


# -- the target and the failures ----------------------------------------------------------------


def target_tags(target: Target) -> frozenset[tags.Tag]:
    """The wheel tags the target accepts: those pip's and uv's target options select."""
    version, platforms = target.python, pip_platforms(target)
    interpreter = f"cp{version[0]}{version[1]}"
    return frozenset([*tags.cpython_tags(version, [interpreter], platforms),
                      *tags.compatible_tags(version, interpreter, platforms)])


def _native_source(missing: Missing, request: InstallRequest, built: bool) -> BuildError:
    """Only a source distribution, and it is not pure Python (or did not build at all)."""
    where = str(request.requirement_files[0])
    why = ("its source distribution builds native code" if built
           else "and it could not be built from source as pure Python")
    return BuildError(f"package {missing.name!r} has no wheel for {request.target.describe()}, "
                      f"{why}", where=where, fix=FIX_NATIVE)


def _register_secrets(index_env: Mapping[str, str]) -> None:
    for name, value in index_env.items():
        register_url_credentials(value)
        if any(word in name.upper() for word in ("PASSWORD", "TOKEN", "SECRET")):
            register_secret(value)


def _is_pure(wheel: Path) -> bool:
    try:
        _, _, _, tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        return False
    return all(tag.abi == "none" and tag.platform == "any" and tag.interpreter.startswith("py")
               for tag in tags)


def _remove_uv_lock(request: InstallRequest) -> None:
    """uv leaves its (empty) lock file in the --target folder; it is not part of the app."""
    lock = request.output / ".lock"
    if request.installer == "uv" and lock.is_file() and lock.stat().st_size == 0:
        lock.unlink()


def _empty(folder: Path) -> None:
    """A failed attempt may have left files; each attempt starts from an empty folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for item in folder.iterdir():
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()


def _lines(stream: Iterator[str]) -> Iterator[str]:
    for line in stream:
        stripped = line.rstrip()
        if stripped:
            yield stripped


@functools.cache
def _uv_version(uv: str) -> str:
    result = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"{uv} --version failed: {result.stderr.strip()}",
                         fix="reinstall uv (pip install --force-reinstall uv)")
    return result.stdout.split()[1] if len(result.stdout.split()) > 1 else result.stdout.strip()


@functools.cache
def _pip_version(python: str) -> str:
    if python == sys.executable:
        return metadata.version("pip")
    result = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise BuildError(f"pip is not available for {python}", fix="install pip for it")
    return result.stdout.split()[1]


def _pip_for_target(argv: list[str]) -> int:
    """``python -m azpublish.build.wheels X.Y MACHINE <pip arguments>``: pip, with environment
    markers evaluated for CPython X.Y on Linux instead of the running interpreter."""
    version, machine, *pip_args = argv
    environment = target_environment(version, machine)
    from pip._vendor.packaging import markers

    markers.default_environment = lambda: dict(environment)  # type: ignore[assignment,return-value]
    from pip._internal.cli.main import main

    return main(pip_args)


if __name__ == "__main__":
    sys.exit(_pip_for_target(sys.argv[1:]))
