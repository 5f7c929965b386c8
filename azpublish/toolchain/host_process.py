"""Running an installer on this host: output redacted line by line, the last lines kept for the
error message."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from azpublish.errors import BuildError
from azpublish.redact import redact

TAIL_LINES = 120


@dataclass(frozen=True)
class Finished:
    status: int
    tail: tuple[str, ...]  # the last lines of its output (stdout and stderr), redacted


def run_streamed(command: Sequence[str], env: Mapping[str, str], cwd: Path,
                 log: Callable[[str], None], tail_lines: int = TAIL_LINES) -> Finished:
    """Run ``command``, giving each non-empty output line, redacted, to ``log``."""
    tail: list[str] = []
    try:
        process = subprocess.Popen(list(command), cwd=cwd, env=dict(env),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                                   errors="replace")
    except OSError as error:
        raise BuildError(f"cannot run {command[0]}: {error.strerror}",
                         fix="check the installation of azpublish and its installers"
                         ) from error
    assert process.stdout is not None
    with process:
        for raw in process.stdout:
            if raw.strip():
                line = redact(raw.rstrip())
                log(line)
                tail = [*tail[-(tail_lines - 1):], line]
    return Finished(process.returncode, tuple(tail))


def run_captured(command: Sequence[str], env: Mapping[str, str], cwd: Path,
                 timeout: float) -> Finished | None:
    """Run ``command`` quietly; its redacted output lines, or None when it could not run."""
    try:
        result = subprocess.run(list(command), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, encoding="utf-8",
                                errors="replace", check=False, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (result.stdout + result.stderr).splitlines()
    return Finished(result.returncode, tuple(redact(line) for line in lines))
