"""What the Functions host itself says about functions it could not load: its admin API on the
app's own host name, reached with the master key (ARM's ``host/default/listkeys``).

- ``GET /admin/host/status``: ``state`` and, only when the host failed to start, ``errors``
  (its last start-up error, flattened to one line).
- ``GET /admin/functions/{name}/status``: ``{"errors": [...]}`` for a function the host
  refused: one it never listed (an invalid name or function.json, a script file that does not
  exist) or one listed but never created (no trigger, a binding type its extension bundle does
  not have); ``{}`` for any other, 404 for a name it never saw.

A Python import error is neither: it is the worker's, logged by the host (Log stream,
Application Insights). In function_app.py it leaves no function listed; in a v1 script the
function stays listed and fails when it runs. This module asks, briefly and at most a few
times, and never raises: a diagnosis that cannot be made says why in ``problem``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from azpublish.redact import redact

KEY_HEADER = "x-functions-key"  # a header, never ?code=: a URL ends up in messages
MAX_FUNCTIONS_ASKED = 8  # function status requests per diagnosis
REQUEST_TIMEOUT = 10.0  # seconds for each request
BUDGET = 30.0  # seconds for the whole diagnosis
SUMMARY_LENGTH = 300  # characters of an error kept on its one line
DETAIL_LENGTH = 4000  # characters of an error kept for the JSON report
TAIL_LINES = 6  # lines of a traceback shown with --verbose

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)')
_APP_ROOT = re.compile(r"(?:^|/)wwwroot/")
_PACKAGES = ".python_packages/"


@dataclass(frozen=True)
class LoadError:
    function: str | None  # None: the host's own error, not one function's
    summary: str  # one line: the exception and where the app raised it
    detail: str  # the host's text (bounded), e.g. a whole traceback

    def line(self) -> str:
        return f"{self.function or 'host'}: {self.summary}"

    def tail(self) -> list[str]:
        """The last lines of the host's text: the end of a traceback."""
        lines = [line for line in self.detail.splitlines() if line.strip()]
        return lines[-TAIL_LINES:]

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.function, "error": self.summary, "detail": self.detail}


@dataclass(frozen=True)
class Diagnosis:
    errors: tuple[LoadError, ...] = ()
    state: str | None = None  # the host's state, when it answered
    problem: str | None = None  # why the host could not be asked (or not about everything)
    not_asked: tuple[str, ...] = ()  # functions left out by MAX_FUNCTIONS_ASKED


def _app_relative(path: str) -> str | None:
    """``Orders/__init__.py`` for a path under the app's wwwroot; None outside it."""
    found = _APP_ROOT.search(path)
    return path[found.end():] if found else None


def _location(frames: Sequence[str]) -> str | None:
    """The innermost frame in the app's own code (not in .python_packages), else the innermost
    in the app's folder at all: the line to look at."""
    inside: list[tuple[str, str]] = []
    for text in frames:
        frame = _FRAME.match(text)
        relative = _app_relative(frame["path"]) if frame else None
        if frame and relative:
            inside.append((relative, frame["line"]))
    own = [f for f in inside if not f[0].startswith(_PACKAGES)]
    chosen = (own or inside)[-1:]
    return f"{chosen[0][0]}, line {chosen[0][1]}" if chosen else None


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 3].rstrip() + "..."


def summarize(text: str) -> str:
    """One line for an error as the host gives it: the exception that ended a Python traceback
    (with the app's line that raised it), or the first line of a message."""
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "(the host gave no text)"
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")]
    if not starts:
        return _shorten(lines[0].strip(), SUMMARY_LENGTH)
    # The last traceback block: its frames, then the exception, the first line not indented
    # after the last frame (a source line and carets come before it, indented).
    block = lines[starts[-1]:]
    last_frame = max((i for i, line in enumerate(block) if _FRAME.match(line)), default=0)
    end = next((i for i in range(last_frame + 1, len(block)) if not block[i][0].isspace()),
               len(block) - 1)
    where = _location(block[:end])
    summary = _shorten(block[end].strip(), SUMMARY_LENGTH)
    return f"{summary} ({where})" if where else summary


def error_texts(body: Any) -> list[str]:
    """The ``errors`` of a host or function status body; anything else there is ignored."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, str) and e.strip()]


def load_errors(function: str | None, body: Any) -> list[LoadError]:
    return [LoadError(function, summarize(redact(text)), _shorten(redact(text), DETAIL_LENGTH))
            for text in error_texts(body)]


class _Refused(Exception):
    """The host's admin API cannot be asked any further (unreachable, key refused)."""


def diagnose(base_url: str, master_key: str, functions: Sequence[str], *,
             verify: str | bool = True, clock: Callable[[], float] = time.monotonic,
             session: requests.Session | None = None) -> Diagnosis:
    """Ask the host at ``base_url`` (``https://<app host>``) about itself and, for each of
    ``functions`` (at most ``MAX_FUNCTIONS_ASKED``), why it is not loaded."""
    http = session or requests.Session()
    deadline = clock() + BUDGET
    asked, not_asked = list(functions[:MAX_FUNCTIONS_ASKED]), tuple(functions[MAX_FUNCTIONS_ASKED:])

    def get(path: str) -> requests.Response | None:
        """The answer; None for a 404 (a name the host does not know)."""
        remaining = deadline - clock()
        if remaining <= 0:
            raise _Refused(f"no time left after {BUDGET:.0f} s")
        try:
            response = http.get(f"{base_url.rstrip('/')}/{path}",
                                headers={KEY_HEADER: master_key, "Accept": "application/json"},
                                timeout=min(REQUEST_TIMEOUT, remaining), verify=verify)
        except requests.RequestException as exc:
            raise _Refused(f"GET /{path} failed: {type(exc).__name__}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _Refused(f"GET /{path} answered {response.status_code}")
        return response

    errors: list[LoadError] = []
    state: str | None = None
    try:
        host = get("admin/host/status")
        body = _json(host)
        state = str(body["state"]) if isinstance(body, dict) and "state" in body else None
        errors += load_errors(None, body)
        for name in asked:
            errors += load_errors(name, _json(get(f"admin/functions/{quote(name, safe='')}"
                                                  "/status")))
    except _Refused as refused:
        return Diagnosis(tuple(errors), state, redact(f"the host's admin API: {refused}"),
                         not_asked)
    finally:
        if session is None:
            http.close()
    return Diagnosis(tuple(errors), state, None, not_asked)


def _json(response: requests.Response | None) -> Any:
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return None
