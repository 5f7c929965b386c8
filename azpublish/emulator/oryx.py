"""The emulator's remote build: what Kudu/Oryx does on the server after a zip deploy.

Oryx deletes ``.python_packages`` and runs pip with the app's Python, the app settings being
environment variables (so ``PIP_EXTRA_INDEX_URL`` with credentials reaches pip). Every line of
pip's output is streamed to the deployment log, redacted first.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from azpublish.redact import redact, register_secret, register_url_credentials
from azpublish.runtime import interpreter_version

PACKAGES_DIR = ".python_packages"
TARGET = ".python_packages/lib/site-packages"
NO_REQUIREMENTS = ("Could not find requirements.txt, pyproject.toml, or setup.py; "
                   "Not installing dependencies.")
REVIEW_HINT = ("Please review your requirements.txt | "
               "More information: https://aka.ms/troubleshoot-python")
_TRUE = ("true", "1")
_SECRET_WORDS = ("PASSWORD", "PASSWD", "PWD", "TOKEN", "KEY", "SECRET", "CREDENTIAL", "SAS")
# Values that cannot be secrets and would mask innocent text if registered.
_NOT_SECRET = re.compile(r"(?i)^(true|false|yes|no|on|off|none|null|[0-9.]+)$")
_KEY_VALUE = re.compile(r"(?:^|[;?&])\s*([A-Za-z_]+)\s*=\s*([^;&\s]+)")
_VERSION = re.compile(r"^\d+\.\d+$")
_PROBE = "import sys; sys.stdout.write('%d.%d %s' % (sys.version_info[:2] + (sys.executable,)))"


def _setting(settings: Mapping[str, str], name: str) -> str | None:
    """App setting names are case-insensitive on App Service."""
    return next((v for k, v in settings.items() if k.upper() == name), None)


def build_requested(app_settings: Mapping[str, str]) -> bool:
    """Whether the server builds after a zip deploy (reference section 4)."""
    scm_build = (_setting(app_settings, "SCM_DO_BUILD_DURING_DEPLOYMENT") or "").strip().lower()
    oryx = (_setting(app_settings, "ENABLE_ORYX_BUILD") or "").strip().lower()
    run_from_package = (_setting(app_settings, "WEBSITE_RUN_FROM_PACKAGE") or "").strip()
    return scm_build in _TRUE and (oryx in _TRUE or not oryx) and run_from_package != "1"


def python_version_of(linux_fx_version: str) -> str | None:
    """``Python|3.11`` (any case) -> ``3.11``; None for other stacks or no version."""
    stack, _, version = linux_fx_version.strip().partition("|")
    version = version.strip()
    return version if stack.strip().lower() == "python" and _VERSION.match(version) else None


@dataclass(frozen=True)
class BuildOutcome:
    ok: bool
    summary: str  # one line for the deployment's log entry


def register_app_secrets(app_settings: Mapping[str, str]) -> None:
    """Teach the redactor every credential an app setting may carry, before pip can echo it."""
    for name, value in app_settings.items():
        register_url_credentials(value)
        if any(word in name.upper() for word in _SECRET_WORDS) and not _NOT_SECRET.match(value):
            register_secret(value)
        # Connection strings (AccountKey=...;Password=...) and SAS URLs (...&sig=...).
        for key, secret in _KEY_VALUE.findall(value):
            if key.upper() == "SIG" or any(w in key.upper() for w in _SECRET_WORDS):
                register_secret(secret.strip())


def build_env(app_settings: Mapping[str, str],
              base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment pip runs in: a minimal base, the emulator's PIP_*, then the app settings.

    The emulator's environment is not passed wholesale; HOME stays so that the machine's pip
    configuration (global and per-user files) keeps working.
    """
    base = os.environ if base is None else base
    env = {"PATH": base.get("PATH", os.defpath), "HOME": base.get("HOME", "/"),
           "LANG": base.get("LANG", "C.UTF-8")}
    env.update({k: v for k, v in base.items() if k.startswith("PIP_") or k == "XDG_CONFIG_HOME"})
    env.update({k: str(v) for k, v in app_settings.items() if k and "=" not in k})
    return env


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _stream(process: subprocess.Popen[bytes], emit: Callable[[str], None]) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        for line in raw.decode("utf-8", errors="replace").rstrip("\r\n").split("\r"):
            if line.strip():
                emit(line)


def _run_pip(command: list[str], wwwroot: Path, env: Mapping[str, str],
             emit: Callable[[str], None], timeout: float) -> int | None:
    """pip's exit code, or None when it ran past ``timeout`` and was killed."""
    expired = threading.Event()
    with subprocess.Popen(command, cwd=wwwroot, env=dict(env), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True) as process:

        def kill() -> None:
            expired.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # pip's children (sdist builds) too

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _stream(process, emit)
            code = process.wait()
        except BaseException:  # a failing log callback must not leave pip running
            kill()
            raise
        finally:
            timer.cancel()
    return None if expired.is_set() and code != 0 else code


def run_build(wwwroot: Path, python: Path, app_settings: Mapping[str, str],
              log: Callable[[str], None], *, cache_dir: Path, slow_seconds: float = 0.0,
              timeout: float = 1800.0) -> BuildOutcome:
    """Build ``wwwroot`` in place as Oryx does; every log line is redacted before ``log``."""
    register_app_secrets(app_settings)

    def emit(line: str) -> None:
        log(redact(line))

    started = time.monotonic()
    version = interpreter_version(str(python)) or "unknown"
    emit("Running oryx build...")
    emit(f"Command: oryx build {wwwroot} -o {wwwroot} --platform python "
         f"--platform-version {version} -p packagedir={TARGET}")
    emit("Operation performed by the azpublish emulator, imitating Microsoft Oryx")
    emit("Detecting platforms...")
    emit("Detected following platforms:")
    emit(f"  python: {version}")
    emit(f"Python Version: {python}")
    if slow_seconds > 0:  # fault injection: a build that takes a while
        time.sleep(slow_seconds)
    try:
        _remove(wwwroot / PACKAGES_DIR)
    except OSError as error:
        return BuildOutcome(False, redact(f"Could not remove {PACKAGES_DIR}: {error}"))
    if not (wwwroot / "requirements.txt").is_file():
        emit(NO_REQUIREMENTS)
        emit(f"Done in {time.monotonic() - started:.0f} sec(s).")
        return BuildOutcome(True, "Oryx build succeeded")
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [str(python), "-u", "-m", "pip", "install", "--cache-dir", str(cache_dir),
               "--prefer-binary", "-r", "requirements.txt", f"--target={TARGET}", "--upgrade"]
    emit("Running pip install...")
    emit(" ".join(command))
    try:
        code = _run_pip(command, wwwroot, build_env(app_settings), emit, timeout)
    except OSError as error:
        summary = redact(f"Could not start {python}: {error}")
        emit(summary)
        return BuildOutcome(False, summary)
    if code is None:
        summary = f"pip install was stopped after {timeout:g} s | Exit code: -9 | {REVIEW_HINT}"
    elif code != 0:
        summary = f"pip install failed | Exit code: {code} | {REVIEW_HINT}"
    else:
        emit(f"Done in {time.monotonic() - started:.0f} sec(s).")
        return BuildOutcome(True, "Oryx build succeeded")
    emit(summary)
    return BuildOutcome(False, summary)
