"""Running an installer on this host: output redacted line by line, the last lines kept for the
error message."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from azpublish.cleanup import held, shielded
from azpublish.errors import BuildError
from azpublish.redact import redact

TAIL_LINES = 120
STOP_GRACE_SECONDS = 5.0  # for an installer to remove its own temporary files


@dataclass(frozen=True)
class Finished:
    status: int
    tail: tuple[str, ...]  # the last lines of its output (stdout and stderr), redacted


def run_streamed(command: Sequence[str], env: Mapping[str, str], cwd: Path,
                 log: Callable[[str], None], tail_lines: int = TAIL_LINES) -> Finished:
    """Run ``command``, giving each non-empty output line, redacted, to ``log``."""
    tail: list[str] = []
    with ExitStack() as stack:
        with shielded():  # no signal between starting it and holding it
            try:
                process = subprocess.Popen(list(command), cwd=cwd, env=dict(env),
                                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True,
                                           encoding="utf-8", errors="replace")
            except OSError as error:
                raise BuildError(f"cannot run {command[0]}: {error.strerror}",
                                 fix="check the installation of azpublish and its installers"
                                 ) from error
            stack.enter_context(process)
            stack.enter_context(held(f"stopping {Path(command[0]).name} (pid {process.pid})",
                                     stopping(process)))
        assert process.stdout is not None
        for raw in process.stdout:
            if raw.strip():
                line = redact(raw.rstrip())
                log(line)
                tail = [*tail[-(tail_lines - 1):], line]
        process.wait()
    return Finished(process.returncode, tuple(tail))


def stopping(process: subprocess.Popen[str]) -> Callable[[], None]:
    """The undo for an installer process: one still running when its caller stops (a signal
    to azpublish alone does not reach it) is asked to stop, then killed, and waited for, so
    that nothing writes into folders being removed."""

    def stop() -> None:
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    return stop


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
