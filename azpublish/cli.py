"""The publish command: parse settings, run the pipeline, report. No logic of its own."""

from __future__ import annotations

from collections.abc import Sequence

from azpublish.errors import AzPublishError
from azpublish.pipeline import publish
from azpublish.report import Reporter
from azpublish.settings import resolve


def run_publish(argv: Sequence[str]) -> int:
    settings = resolve(argv)
    report = Reporter(json_mode=settings.json, verbose=settings.verbose)
    try:
        code = publish(settings, report)
    except AzPublishError as exc:
        report.error(exc)
        report.finish(int(exc.exit_code))
        exc.reported = True
        raise
    report.finish(code)
    return code
