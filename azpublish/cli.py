"""The publish command: parse settings, run the pipeline, report. No logic of its own."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from azpublish.errors import AzPublishError, OutputError
from azpublish.pipeline import publish
from azpublish.report import Reporter
from azpublish.settings import resolve


def run_publish(argv: Sequence[str]) -> int:
    settings = resolve(argv)
    quiet_sdk_loggers(settings.verbose)
    report = Reporter(json_mode=settings.json, verbose=settings.verbose, quiet=settings.quiet)
    for warning in settings.warnings:
        report.warn(warning)
    try:
        code = publish(settings, report)
    except OutputError:
        raise  # stdout is gone: the outcome can only be said on stderr, by __main__
    except AzPublishError as exc:
        report.error(exc)
        report.finish(int(exc.exit_code))
        exc.reported = True
        raise
    try:
        report.finish(code)
    except OutputError as exc:
        exc.what += f" (the run itself ended with exit code {code})"
        raise
    return code


def quiet_sdk_loggers(verbose: bool) -> None:
    """The Azure SDKs log tracebacks for conditions azpublish handles (a 200 where 204 was
    expected); azpublish reports what matters itself, so they speak only on real errors."""
    level = logging.WARNING if verbose else logging.ERROR
    for name in ("azure", "msal", "urllib3"):
        logging.getLogger(name).setLevel(level)
    # Warns, with a traceback, of every error body it cannot parse, such as the empty 200 of a
    # trigger sync that the SDK takes for an error; azpublish tells those apart itself.
    logging.getLogger("azure.mgmt.web._utils.model_base").setLevel(logging.ERROR)
