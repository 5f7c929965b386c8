"""What a run must undo, in one registry, and the signals that end a run.

Whatever must not outlive a run (temporary folders and files, an installer process, a container
that holds the index credential in its environment) is *held*: registered with the undo that
removes it, which runs when its block ends, however it ends. (The app settings a publish
changed are put back by the deploy plan's own cleanup, which runs shielded.) SIGTERM and
SIGHUP are raised where the program is, as Ctrl-C is, so the same undos run
for every way a run can end.

While an undo runs, those signals (Ctrl-C too) are *held back*: noted, said on stderr, and
raised once the undo is done, so that a second Ctrl-C or a supervisor's repeated SIGTERM cannot
leave half a cleanup (a container removed only in part, settings half put back). SIGKILL still
stops everything at once; what it leaves, the next run clears (the cache's staging folders,
containers by their label).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C's ``KeyboardInterrupt`` so every undo runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class _Held:
    what: str
    undo: Callable[[], None] = field(repr=False)


@dataclass
class _Registry:
    held: list[_Held] = field(default_factory=list)
    shield_depth: int = 0  # >0 while an undo (or a step that must not be cut) runs
    pending: int | None = None  # a signal that arrived while shielded
    lock: threading.Lock = field(default_factory=threading.Lock)


_REGISTRY = _Registry()


def outstanding() -> tuple[str, ...]:
    """What is held now, oldest first (for diagnostics and tests)."""
    with _REGISTRY.lock:
        return tuple(item.what for item in _REGISTRY.held)


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _on_signal(signum: int, _frame: object) -> None:
    if _REGISTRY.shield_depth:
        if _REGISTRY.pending is None:
            _REGISTRY.pending = signum
            doing = _REGISTRY.held[-1].what if _REGISTRY.held else "the cleanup"
            # os.write, not print: the signal may have landed inside a write to stderr.
            os.write(2, f"azpublish: {signal.Signals(signum).name} received: finishing the "
                        f"cleanup ({doing}) first; SIGKILL stops at once\n".encode())
        return
    _raise_for(signum)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM, SIGHUP and SIGINT raise where the program is (``Terminated``
    or ``KeyboardInterrupt``), except while shielded; the handlers are put back after (``main``
    may run inside another program, such as a test)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers
        return
    previous = {number: signal.signal(number, _on_signal) for number in HANDLED}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _REGISTRY.pending = None


@contextmanager
def shielded() -> Iterator[None]:
    """Hold signals back while the block runs; one that arrived is raised at its end. Only the
    main thread is shielded: signals are raised there alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _REGISTRY.shield_depth += 1
    try:
        yield
    finally:
        _REGISTRY.shield_depth -= 1
        if _REGISTRY.shield_depth == 0 and _REGISTRY.pending is not None:
            signum, _REGISTRY.pending = _REGISTRY.pending, None
            _raise_for(signum)


@contextmanager
def held(what: str, undo: Callable[[], None]) -> Iterator[None]:
    """Register ``undo`` (for ``what``, as messages name it) for the block; it runs, shielded,
    when the block ends, however it ends. ``undo`` must be safe to run when the thing is gone
    already (renamed into place, removed by its owner)."""
    item = _Held(what, undo)
    with _REGISTRY.lock:
        _REGISTRY.held.append(item)
    try:
        yield
    finally:
        with shielded():
            try:
                undo()
            finally:
                with _REGISTRY.lock:
                    _REGISTRY.held.remove(item)


@contextmanager
def owned_folder(make: Callable[[], Path]) -> Iterator[Path]:
    """The folder ``make`` creates, removed with all it holds when the block ends (unless it
    was moved away by then, as a finished build is into the cache)."""
    with ExitStack() as stack:
        with shielded():  # no signal between creating it and holding it
            folder = make()
            stack.enter_context(held(f"removing {folder}", removing_tree(folder)))
        yield folder


def temporary_folder(prefix: str, parent: Path | None = None) -> AbstractContextManager[Path]:
    """A new private folder (in TMPDIR unless ``parent``), removed with all it holds."""
    return owned_folder(lambda: Path(tempfile.mkdtemp(prefix=prefix, dir=parent)))


def removing_file(path: Path) -> Callable[[], None]:
    """The undo for a file that must not stay: remove it if it is (still) there."""

    def remove() -> None:
        with suppress(OSError):  # one we cannot remove, the step that wrote it reports
            path.unlink(missing_ok=True)

    return remove


def removing_tree(path: Path) -> Callable[[], None]:
    """The undo for a folder that must not stay: remove it and all it holds, if it is there."""
    return lambda: shutil.rmtree(path, ignore_errors=True)
