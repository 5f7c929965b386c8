"""``azpublish lock`` on the command line: its flags, their ``AZPUBLISH_*`` defaults, exit codes.

Exit codes: 0 done (or, with ``--check``, the lock is up to date); 2 usage or project error;
3 the resolution failed; 6 (``--check``) the lock is stale, with a unified diff on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from azpublish.command_line import Parser, version_text
from azpublish.errors import AzPublishError, UsageError
from azpublish.lock import (
    STALE_EXIT_CODE,
    LockEngine,
    LockRequest,
    check,
    choose_engine,
    lock,
    recorded_digest,
    requires_python_target,
    write_lock,
)
from azpublish.project import find_root
from azpublish.redact import redact, register_url_credentials
from azpublish.report import Reporter
from azpublish.runtime import DEFAULT_PYTHON
from azpublish.settings import check_python_version

ENGINES = ("auto", "container", "wheels")
# Option -> the environment variable that gives its default.
ENVIRONMENT = {"python_version": "AZPUBLISH_PYTHON_VERSION",
               "pip_extra_index_url": "AZPUBLISH_PIP_EXTRA_INDEX_URL",
               "engine": "AZPUBLISH_ENGINE", "base_image": "AZPUBLISH_BASE_IMAGE"}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="azpublish lock",
        description="Compile requirements.in (or [project] dependencies of pyproject.toml) "
                    "into a pinned, hashed requirements.txt resolved for the app's Linux "
                    "Python. Exit 6 with --check when the lock is stale.")
    parser.add_argument("-V", "--version", action="version", version=version_text())
    parser.add_argument("--project-dir", type=Path, help="the function app (holds host.json)")
    parser.add_argument("--python-version",
                        help=f"target Python (env AZPUBLISH_PYTHON_VERSION; default "
                             f"{DEFAULT_PYTHON})")
    parser.add_argument("--engine", choices=ENGINES,
                        help="container: pip-tools in the build image; wheels: uv for the "
                             "target platform; auto: container when Docker answers "
                             "(env AZPUBLISH_ENGINE)")
    parser.add_argument("--pip-extra-index-url", help="an extra package index; may hold "
                        "credentials, which never reach the lock (env "
                        "AZPUBLISH_PIP_EXTRA_INDEX_URL)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 6 with a diff when the lock is stale")
    parser.add_argument("--upgrade", action="store_true",
                        help="ignore the pins of the existing lock")
    parser.add_argument("--upgrade-package", action="append", default=[], metavar="NAME",
                        help="ignore the existing pin of NAME (repeatable)")
    parser.add_argument("--base-image", help="base of the build image (env "
                        "AZPUBLISH_BASE_IMAGE)")
    parser.add_argument("--build-image", help="a ready build image to resolve in")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the resolver's own output")
    parser.add_argument("--output", type=Path, default=Path("requirements.txt"),
                        metavar="FILE", help="the lock file (default requirements.txt)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an output file that azpublish lock did not write")
    return parser


def parse_request(argv: Sequence[str], environ: Mapping[str, str] | None = None,
                  cwd: Path | None = None) -> tuple[LockRequest, argparse.Namespace]:
    """(the request, the parsed flags); flags win over ``AZPUBLISH_*`` variables."""
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(list(argv))
    for option, variable in ENVIRONMENT.items():
        if getattr(args, option) is None and environ.get(variable):
            setattr(args, option, environ[variable])
    root = find_root(args.project_dir, cwd)
    if args.python_version:
        where = ("--python-version" if "--python-version" in argv
                 else ENVIRONMENT["python_version"])
        python_version = check_python_version(args.python_version, where)
    else:
        python_version = requires_python_target(root) or DEFAULT_PYTHON
    engine = args.engine or "auto"
    if engine not in ENGINES:
        raise UsageError(f"{engine!r} is not an engine", where=ENVIRONMENT["engine"],
                         fix=f"use one of {', '.join(ENGINES)}")
    if args.upgrade and args.upgrade_package:
        raise UsageError("--upgrade already upgrades every package",
                         where="--upgrade-package", fix="give one or the other")
    index_env: dict[str, str] = {}
    if args.pip_extra_index_url:
        register_url_credentials(args.pip_extra_index_url)
        index_env["PIP_EXTRA_INDEX_URL"] = args.pip_extra_index_url
    request = LockRequest(
        root=root, python_version=python_version,
        engine=cast(LockEngine, engine), index_env=index_env, upgrade=args.upgrade,
        upgrade_packages=tuple(args.upgrade_package), base_image=args.base_image,
        build_image=args.build_image, output=args.output)
    return request, args


def refuse_foreign_output(path: Path, *, force: bool) -> None:
    """A requirements.txt written by hand is the user's work: overwriting it needs --force."""
    if force or not path.is_file():
        return
    if recorded_digest(path.read_text(encoding="utf-8", errors="replace")) is None:
        raise UsageError(f"{path.name} was not written by azpublish lock; locking would "
                         "replace it", where=str(path),
                         fix="move its lines to requirements.in (or [project] dependencies) "
                         "and run azpublish lock again, or pass --force to replace it")


def main(argv: Sequence[str], report: Reporter | None = None) -> int:
    """``azpublish lock ARGS``: the exit code; errors are printed as ``error: ...``."""
    report = report or Reporter()
    try:
        request, args = parse_request(argv)
        report.verbose = report.verbose or args.verbose
        # Which engine, said whatever the verbosity: a fallback changes how the lock is made.
        request = dataclasses.replace(request, engine=choose_engine(request, report.info))
        if args.check:
            result = check(request, report.detail)
            if result.up_to_date:
                report.info(f"{request.output} is up to date with its input for Python "
                            f"{request.python_version}")
                return 0
            report.out(redact(result.diff), flush=True)
            report.info(f"{request.output} is stale: run `azpublish lock --python-version "
                        f"{request.python_version}` and commit the result")
            return STALE_EXIT_CODE
        refuse_foreign_output(request.output_path, force=args.force)
        locked = lock(request, report.detail)
        path = write_lock(request, locked)
        pins = sum(1 for line in locked.text.splitlines() if "==" in line
                   and not line.startswith((" ", "#")))
        report.info(f"wrote {path} ({pins} pinned packages, Python {request.python_version} "
                    f"on Linux) with {locked.tool}, engine {locked.engine}")
        return 0
    except AzPublishError as exc:
        report.error(exc)
        return int(exc.exit_code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
