"""Running azpublish in a child and signalling it once it has reached a stage: what the signal
tests share."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence


def exit_status(signum: int) -> int:
    """Ctrl-C's 130, else the shell's 128 + the signal."""
    return 130 if signum == signal.SIGINT else 128 + signum


def signal_when(args: Sequence[str], env: Mapping[str, str], reached: Callable[[int], object],
                signum: int, *, stage: str, wait: float = 120.0, answer_within: float = 120.0,
                poll: float = 0.05) -> tuple[int, str]:
    """Start ``azpublish ARGS``, send ``signum`` once ``reached(pid)`` is true (within ``wait``
    seconds, the child still running); its exit status and stderr once it has ended (within
    ``answer_within``: a child that does not end is a failure, and is killed)."""
    child = subprocess.Popen([sys.executable, "-m", "azpublish", *args], env=dict(env),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + wait
        while not reached(child.pid):
            assert child.poll() is None, child.communicate()[1].decode()
            assert time.monotonic() < deadline, f"{stage} never started"
            time.sleep(poll)
        child.send_signal(signum)
        _, err = child.communicate(timeout=answer_within)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err.decode()
