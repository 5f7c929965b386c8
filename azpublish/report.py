"""What the user sees: human lines on stderr, one JSON object on stdout, progress bars.

Everything passes through ``redact``; the JSON document is assembled from plain data at the end
so that a failure still produces a complete, parseable report.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from azpublish.ci import CiSystem, Level, detect, locate
from azpublish.errors import AzPublishError, OutputError
from azpublish.redact import redact, secrets_snapshot
from azpublish.run_report import ErrorFacts, RunReport

# Stages whose output is long (pip's, the deployment log): folded into a group in CI logs.
GROUPED_STAGES = {"build": "build", "deploy": "deploy (deployment log)"}


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def to_bytes(text: str) -> bytes:
    """A name's bytes as the file system has them: undecodable bytes come back as they were."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file system produced (not from a name)
        return text.encode("utf-8", "backslashreplace")


@dataclass
class Reporter:
    json_mode: bool = False
    verbose: bool = False
    quiet: bool = False  # warnings and errors only on stderr (the report and outputs unchanged)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    run: RunReport = field(default_factory=RunReport)  # what the run found and did
    warnings: list[str] = field(default_factory=list)
    ci: CiSystem | None = field(default_factory=lambda: detect(os.environ))

    def __post_init__(self) -> None:
        self.console = Console(file=self.stderr, highlight=False, soft_wrap=True)
        self._masked: set[str] = set()
        self._group: str | None = None
        self._ci_prelude()

    def _ci(self, lines: Sequence[str]) -> None:
        for text in lines:
            self.stderr.write(text + "\n")
        self.stderr.flush()

    def _ci_prelude(self, *, close_group: bool = False) -> None:
        """Before any output: mask secrets registered since the last line, and open or close
        the log group of the current pipeline stage."""
        if self.ci is None:
            return
        new = secrets_snapshot() - self._masked
        for secret in sorted(new):
            self._ci(self.ci.mask(secret))
        self._masked |= new
        stage = None if close_group else GROUPED_STAGES.get(str(self.run.stage))
        if stage != self._group:
            if self._group is not None:
                self._ci(self.ci.group_end())
            if stage is not None:
                self._ci(self.ci.group_start(f"azpublish: {stage}"))
            self._group = stage

    def _annotate(self, level: Level, message: str, where: str | None) -> None:
        if self.ci is None:
            return
        root = self.run.project.root if self.run.project else None
        location = locate(where, project_root=root, checkout=self.ci.checkout)
        if where and location is None:  # not a file: the text keeps it
            message = f"{where}: {message}"
        self._ci(self.ci.annotate(level, message, location))

    def info(self, message: str) -> None:
        if self.quiet:
            return
        self._ci_prelude()
        self.console.print(redact(message), markup=False)

    def detail(self, message: str) -> None:
        if self.verbose:
            self.info(message)

    def warn(self, message: str) -> None:
        self._ci_prelude()
        self.warnings.append(redact(message))
        self._annotate("warning", message, None)
        self.console.print(f"warning: {redact(message)}", style="yellow", markup=False)

    def error(self, exc: AzPublishError) -> None:
        self._ci_prelude(close_group=True)
        self._annotate("error", exc.what + (f"\nhint: {exc.fix}" if exc.fix else ""), exc.where)
        self.console.print(f"error: {exc.render()}", style="bold red", markup=False)
        self.run.error = ErrorFacts(exc.what, exc.where, exc.fix, int(exc.exit_code))

    def line(self, text: str) -> None:
        """Machine-readable output (listings) on stdout."""
        self._ci_prelude()
        self.out(redact(text) + "\n")

    def out(self, text: str, *, flush: bool = False) -> None:
        """Write to stdout (see ``_writing_stdout``)."""
        with self._writing_stdout():
            self.stdout.write(text)
            if flush:
                self.stdout.flush()

    @contextmanager
    def _writing_stdout(self) -> Iterator[None]:
        """A closed or full stdout is an ``OutputError``; a broken pipe stays a
        ``BrokenPipeError`` (the reader left on purpose, as with ``| head``)."""
        try:
            if self.stdout is None:  # Python starts so when file descriptor 1 is closed
                raise OSError(errno.EBADF, "stdout is closed")
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"could not write to stdout: {exc.strerror or exc}",
                              where="stdout",
                              fix="give the output somewhere to go (a file or a pipe with room), "
                                  "or run without --json and the listings") from exc

    def null_records(self, records: Iterable[Sequence[str]]) -> None:
        """Machine-readable output byte for byte (``-z``): each field ends in a NUL, names go
        out as the bytes they are on disk (undecodable bytes arrive as surrogate escapes)."""
        self._ci_prelude()
        with self._writing_stdout():
            self.stdout.flush()
            buffer = getattr(self.stdout, "buffer", None)
            for record in records:
                data = b"".join(to_bytes(redact(field)) + b"\0" for field in record)
                if buffer is None:  # a text-only stream: the same bytes, as text
                    self.stdout.write(data.decode("utf-8", "surrogateescape"))
                else:
                    buffer.write(data)
            (buffer or self.stdout).flush()

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if self.quiet:
            return
        self._ci_prelude()
        table = Table(title=title, title_justify="left", show_edge=False)
        for i, column in enumerate(columns):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*(redact(cell) for cell in row))
        self.console.print(table)

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Any]:
        """Yields ``advance(n)``; draws a bar only on an interactive terminal."""
        if self.quiet or not self.console.is_terminal:
            yield lambda _n: None
            return
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn())
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.update(task, completed=n)

    def finish(self, exit_code: int) -> None:
        if self.ci is not None:
            self._ci_prelude(close_group=True)
            self._ci(self.ci.finish(self.run, self.warnings, exit_code))
        if not self.json_mode:
            return
        document = self.run.document(self.warnings, exit_code)
        self.out(redact(json.dumps(document, indent=2, sort_keys=True, default=str)) + "\n",
                 flush=True)
