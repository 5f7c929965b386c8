"""The one error tree of azpublish, and the exit codes it maps to.

Every failure a user can cause or meet is an ``AzPublishError``. Each command's entry point
(``__main__`` for publish, ``lock_cli.main``, ``emulator.cli.main``) turns it into its message
and exit code; elsewhere one is caught only to add to it (the publish reports it before
``__main__`` returns), to fall back on purpose (a probe that may fail, a diagnosis that must
never fail a publish) or to undo (the deploy plan's cleanup). Each leaf knows its exit
code and says *where* (a file and line, an endpoint), *what* went wrong, and *what to do
next*::

    AzPublishError                      exit 1 (never raised directly)
    ├── UsageError                      exit 2  bad flags, env vars or [tool.azpublish] values
    ├── ProjectError                    exit 2  the function app itself is invalid
    │   └── UnsafePathError             exit 2  a path that would escape the archive or project
    ├── PackageError                    exit 2  the package could not be written, or is too big
    ├── BuildError                      exit 3  the build failed
    │   └── AuditError                  exit 3  binaries that cannot run on the target
    ├── DeployError                     exit 4  upload, deployment or remote build failed
    ├── VerificationError               exit 5  deployed, but the app does not work
    └── OutputError                     exit 7  stdout could not take the output

Messages pass through the redactor, so a secret handed to an error never reaches a terminal.
"""

from __future__ import annotations

from enum import IntEnum

from azpublish.redact import redact


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    BUILD = 3
    DEPLOY = 4
    VERIFY = 5
    STALE_LOCK = 6  # azpublish lock --check: requirements.txt is not what requirements.in gives
    OUTPUT = 7  # stdout could not take the output (closed, full): the run's outcome is on stderr


class AzPublishError(Exception):
    exit_code: ExitCode = ExitCode.INTERNAL
    reported = False  # set once a reporter has shown it, so __main__ does not print it twice

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = redact(what)
        self.where = redact(where) if where else None
        self.fix = redact(fix) if fix else None
        super().__init__(self.render())

    def render(self) -> str:
        """One line with where and what, then the remedy on a line of its own."""
        head = f"{self.where}: {self.what}" if self.where else self.what
        return f"{head}\n  hint: {self.fix}" if self.fix else head

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.render()!r})"


class UsageError(AzPublishError):
    exit_code = ExitCode.USAGE


class ProjectError(AzPublishError):
    exit_code = ExitCode.USAGE


class UnsafePathError(ProjectError):
    pass


class PackageError(AzPublishError):
    exit_code = ExitCode.USAGE


class BuildError(AzPublishError):
    exit_code = ExitCode.BUILD


class AuditError(BuildError):
    pass


class DeployError(AzPublishError):
    exit_code = ExitCode.DEPLOY


class VerificationError(AzPublishError):
    exit_code = ExitCode.VERIFY


class OutputError(AzPublishError):
    """What was asked for on stdout (a listing, the JSON report) could not be written."""

    exit_code = ExitCode.OUTPUT
