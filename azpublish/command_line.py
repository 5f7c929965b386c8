"""What every azpublish command line has in common: one parser class, so a bad flag gets the
same message, hint and exit code (2) in ``azpublish``, ``azpublish lock`` and
``azpublish emulator``, and no flag is ever guessed from an abbreviation."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from azpublish import __version__
from azpublish.errors import UsageError

__all__ = ["COMMANDS", "Parser", "choices_text", "commands_epilog", "version_text"]

# The subcommands, with what ``azpublish --help`` says of each; publish is the default.
COMMANDS = {
    "publish": "build, package and deploy the app (the default: `azpublish [OPTIONS]`)",
    "deploy": "deploy a zip built before, as it is: `azpublish deploy FILE [OPTIONS]` (the "
              "same as --package FILE)",
    "lock": "pin requirements for the app's Linux Python into requirements.txt",
    "emulator": "a local HTTPS stand-in for App Service (needs azpublish[emulator])",
}


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations, whose errors are ``UsageError``s (exit 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--ap` must not run as `--app`
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", fix=f"see {self.prog} --help")


def version_text() -> str:
    return f"azpublish {__version__}"


def choices_text(choices: Sequence[str]) -> str:
    """How a help line names the values an option takes."""
    return f"one of: {', '.join(choices)}"


def commands_epilog() -> str:
    lines = ["commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
    lines.append("see `azpublish COMMAND --help` for a command's options")
    return "\n".join(lines)
