"""Entry point: ``main(argv) -> exit code``, whatever the command and however it ends."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from azpublish.cleanup import Terminated, signals_as_interrupts
from azpublish.command_line import COMMANDS
from azpublish.errors import AzPublishError, ExitCode
from azpublish.redact import redact

# What `azpublish emulator` needs beyond a publish: the extra `azpublish[emulator]`.
EMULATOR_LIBRARIES = ("starlette", "uvicorn")


def main(argv: Sequence[str] | None = None) -> int:
    """``azpublish [COMMAND] ARGS``: the command is publish unless the first word names
    another (``command_line.COMMANDS``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args and args[0] in COMMANDS else "publish"
    if args[:1] == [command]:
        args = args[1:]
    if command == "deploy":  # `deploy FILE ...` is the publish of --package FILE
        if args[:1] in (["-h"], ["--help"]):
            args = ["--help"]
        elif not args or args[0].startswith("-"):
            print("error: azpublish deploy: give the package first: azpublish deploy FILE "
                  "[OPTIONS]\n  hint: see azpublish --help", file=sys.stderr)
            return ExitCode.USAGE
        else:
            args = ["--package", *args]
        command = "publish"
    if command == "emulator":  # a server: it stops on SIGTERM itself
        try:
            from azpublish.emulator.cli import main as emulator_main
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in EMULATOR_LIBRARIES:
                raise
            print(f"error: azpublish emulator needs its extra, which is not installed (no "
                  f"{exc.name})\n  hint: pip install 'azpublish[emulator]'", file=sys.stderr)
            return ExitCode.USAGE
        return emulator_main(args)
    try:
        with signals_as_interrupts():
            if command == "lock":
                from azpublish.lock_cli import main as lock_main

                return lock_main(args)
            return run(args)
    except Terminated as stopped:
        print(f"error: stopped by {stopped}; nothing further was uploaded, and what this run "
              "had started was cleaned up", file=sys.stderr)
        return 128 + stopped.signum
    except KeyboardInterrupt:
        print("error: interrupted; nothing further was uploaded", file=sys.stderr)
        return 130


def run(args: list[str]) -> int:
    """The publish, with every way it can end turned into an exit code."""
    from azpublish.cli import run_publish

    try:
        return run_publish(args)
    except AzPublishError as exc:
        # run_publish has already reported it (human and JSON); this is the backstop for errors
        # raised before a reporter exists, such as bad flags.
        if not exc.reported:
            print(f"error: {exc.render()}", file=sys.stderr)
        return int(exc.exit_code)
    except BrokenPipeError:
        return closed_pipe()
    except Exception as exc:  # a bug: say so, without leaking secrets through the traceback text
        print(f"internal error: {redact(repr(exc))}\n  hint: please report this as a bug in "
              "azpublish, with the command you ran", file=sys.stderr)
        return int(ExitCode.INTERNAL)


def closed_pipe() -> int:
    """The reader of our output went away (``azpublish ... | head -1``): end quietly with the
    shell's status for SIGPIPE, and keep Python's exit-time flush from failing again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE


BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader closed


if __name__ == "__main__":
    sys.exit(main())
