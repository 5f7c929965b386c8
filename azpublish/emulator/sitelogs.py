"""Each site's log files, kept where App Service keeps them: under ``/home/LogFiles``.

Deployment steps (and build output) go to ``kudu/deployment/deployment.log``; the function host's
lines (start-up, functions refused, the worker's load and index failures, each invocation and
what the function printed or logged) to ``Application/Functions/Host/host.log``. Kudu's log
stream tails them and its VFS serves them.
Writing a log line never fails a deployment or an invocation: a line that cannot be written is
dropped.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from azpublish.emulator.layout import StateLayout
from azpublish.redact import redact

DEPLOYMENT_LOG = PurePosixPath("kudu/deployment/deployment.log")
HOST_LOG = PurePosixPath("Application/Functions/Host/host.log")
LOG_SUFFIXES = (".log", ".txt", ".htm")  # the files Kudu's log stream follows
MAX_BYTES = 1024 * 1024  # then the file is moved to "<name>.1", which the stream ignores
_write_lock = threading.Lock()


def stamp() -> str:
    """The time at the start of each line: UTC, milliseconds."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def append(layout: StateLayout, app: str, slot: str | None, log: PurePosixPath,
           lines: Iterable[str]) -> None:
    """Append ``lines`` (redacted, one timestamp each) to one of the site's logs."""
    path = layout.log_files(app, slot) / log
    at = stamp()
    text = "".join(f"{at} {redact(line.rstrip())}\n" for line in lines)
    if not text:
        return
    with _write_lock:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path.stat().st_size > MAX_BYTES:
                path.replace(path.with_name(path.name + ".1"))
            with path.open("a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError:
            return  # the site was deleted meanwhile, or the disk is full: logs are best effort


def log_files(folder: Path) -> list[Path]:
    """The files under ``folder`` the log stream follows, in a stable order."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in LOG_SUFFIXES and p.is_file() and not p.is_symlink())


def tail(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of ``path`` (at most the last 64 KiB are read)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-count:]


def read_new(paths: Iterable[Path], offsets: dict[Path, int]) -> list[str]:
    """Whole lines appended since ``offsets`` (updated in place); new files from the start,
    a file that shrank (it was moved away and begun afresh) from its start too."""
    lines: list[str] = []
    for path in paths:
        try:
            with path.open("rb") as handle:
                size = handle.seek(0, 2)
                start = offsets.get(path, 0)
                if size < start:
                    start = 0
                handle.seek(start)
                data = handle.read(size - start)
        except OSError:
            continue
        complete = data.rfind(b"\n") + 1  # leave a half-written line for the next read
        offsets[path] = start + complete
        lines.extend(data[:complete].decode("utf-8", "replace").splitlines())
    return lines
