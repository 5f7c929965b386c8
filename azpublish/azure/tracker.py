"""Following the deployment we started until it ends, showing its log as it grows.

The deployment is the one the deploy call named (``SCM-DEPLOYMENT-ID``, the 202's body or its
``Location``), or else the single record whose ``message`` is the (unique) message we sent —
never "whatever is newest", which may be someone else's or the previous one. A named record
may answer 404 for a while (``NOT_FOUND_GRACE``): Kudu creates it late, Flex loses it briefly.
Polling is bounded by a timeout; success is status 4 and nothing else: a failed build (3, whose
reason is only in the log), a Flex status (-1, 5, 6), an unknown status or a poll that keeps
failing all raise ``DeployError`` (exit 4).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from azpublish.azure.kudu import KuduClient, KuduError, Started
from azpublish.errors import DeployError
from azpublish.redact import redact

PENDING, BUILDING, DEPLOYING, FAILED, SUCCESS = 0, 1, 2, 3, 4
CANCELLED, CONFLICT, PARTIAL = -1, 5, 6  # Flex Consumption only
RUNNING = {PENDING: "pending", BUILDING: "building", DEPLOYING: "deploying"}
ERROR_ENTRY, WARNING_ENTRY = 2, 1
FAILURE_LINES = 40  # of log in a failure message; the tail of pip's output matters most
# How long a deployment we know the id of may answer 404 before azpublish gives up on it. Linux
# Kudu creates the record only once the zip is extracted (a big package takes minutes), and
# Flex's deployment worker answers 404 for a while after the 202 and when it is recycled.
NOT_FOUND_GRACE = 300.0  # seconds
NOT_FOUND_NOTICE = 30.0  # seconds between "still not found" lines
HEARTBEAT = 15.0  # seconds without a log line before a "still waiting" line
INDENT = "  "

LogPairs = Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]]


@dataclass(frozen=True)
class DeploymentOutcome:
    deployment_id: str
    status: int  # 4 success (3 failed never returns: it raises)
    status_text: str
    log: tuple[str, ...]  # every log line shown, in order (redacted)


def track_deployment(kudu: KuduClient, started: Started, *, message: str, timeout: float,
                     on_line: Callable[[str], None], poll_interval: float = 2.0,
                     not_found_grace: float = NOT_FOUND_GRACE,
                     heartbeat: float = HEARTBEAT,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> DeploymentOutcome:
    """Poll the deployment ``started`` names (or the one carrying ``message``) until it ends.

    A sync deploy (``started.status_code == 200``) is checked the same way: Kudu answers 200
    even when the build failed. ``on_line`` gets each new log line, redacted, and a line while
    the record is not found.
    """
    begin = clock()
    said = [begin]  # when the last line was shown: a long silence gets a heartbeat
    emit = on_line

    def show(line: str) -> None:
        said[0] = clock()
        emit(line)

    on_line = show
    log = _LogFollower(kudu, on_line)
    record: dict[str, Any] | None = None
    missing = _NotFoundWindow(not_found_grace, on_line, clock)
    trouble = _Trouble(on_line, clock)
    while True:
        try:
            current = _poll(kudu, started, message, log)
        except _RecordNotFound as absent:
            missing.note(absent.deployment_id, seen=record is not None, kudu=kudu)
        except _PollFailed as failed:
            # The deployment runs on whatever the status endpoint does: keep following it,
            # within --timeout, and say so.
            trouble.note(failed.error, begin, timeout)
        else:
            missing.reset()
            trouble.reset()
            if current is not None:
                record = current
                deployment_id = str(record["id"])
                if deployment_finished(record, log.pairs(), where=_where(kudu, deployment_id),
                                       log_url=_log_url(kudu, deployment_id)):
                    return DeploymentOutcome(deployment_id, SUCCESS,
                                             str(record.get("status_text") or ""),
                                             tuple(log.lines))
        elapsed = clock() - begin
        # A missing record and a failing status poll have notices of their own.
        if record is not None and trouble.last is None and elapsed < timeout \
                and clock() - said[0] >= heartbeat:
            state = str(record.get("status_text") or "").rstrip(".") or "in progress"
            on_line(f"{INDENT}still waiting: {state} ({elapsed:.0f} s of at most "
                    f"{timeout:g} s)")
        if elapsed >= timeout:
            if trouble.last is not None:
                raise _lost_track(kudu, started, message, trouble.last, timeout)
            raise _timed_out(kudu, record, message, timeout, started.deployment_id)
        sleep(min(poll_interval, timeout - elapsed))


class _PollFailed(Exception):
    def __init__(self, error: KuduError) -> None:
        super().__init__(error.what)
        self.error = error


class _Trouble:
    """Polls failing for the service's reasons: counted, and said now and then."""

    def __init__(self, on_line: Callable[[str], None], clock: Callable[[], float]) -> None:
        self._on_line = on_line
        self._clock = clock
        self._said: float | None = None
        self.last: KuduError | None = None
        self.failures = 0

    def reset(self) -> None:
        if self.last is not None:
            self._on_line(f"{INDENT}Kudu answers again; following the deployment")
        self.last, self.failures, self._said = None, 0, None

    def note(self, error: KuduError, begin: float, timeout: float) -> None:
        self.last = error
        self.failures += 1
        now = self._clock()
        if self._said is None or now - self._said >= NOT_FOUND_NOTICE:
            self._said = now
            self._on_line(f"{INDENT}could not read the deployment's status ({error.what}); "
                          f"still following it ({now - begin:.0f} s of at most {timeout:g} s)")


class _RecordNotFound(Exception):
    def __init__(self, deployment_id: str) -> None:
        super().__init__(deployment_id)
        self.deployment_id = deployment_id


class _NotFoundWindow:
    """Bounds how long a named deployment may answer 404, and says so while it does."""

    def __init__(self, grace: float, on_line: Callable[[str], None],
                 clock: Callable[[], float]) -> None:
        self._grace = grace
        self._on_line = on_line
        self._clock = clock
        self._since: float | None = None
        self._said: float | None = None

    def reset(self) -> None:
        self._since = self._said = None

    def note(self, deployment_id: str, *, seen: bool, kudu: KuduClient) -> None:
        now = self._clock()
        if self._since is None:
            self._since = now
        waited = now - self._since
        where = _where(kudu, deployment_id)
        if waited >= self._grace:
            state = "disappeared" if seen else "never appeared"
            raise DeployError(
                f"deployment {deployment_id} {state}: Kudu answered 404 for {waited:.0f} s",
                where=where, fix="the deployment may still be running: look at "
                f"{kudu.describe('api/deployments')}; publish again if it is not there")
        if self._said is None or now - self._said >= NOT_FOUND_NOTICE:
            self._said = now
            why = ("Kudu lost it for a moment" if seen
                   else "Kudu creates it once the package is unpacked")
            self._on_line(f"{INDENT}deployment {deployment_id} not found yet ({why}); waiting "
                          f"{waited:.0f} of at most {self._grace:.0f} s")


def deployment_finished(record: Mapping[str, Any], log: LogPairs, *, where: str,
                        log_url: str) -> bool:
    """True on success, False while it runs; ``DeployError`` for every other status."""
    status = _status(record)
    if status == SUCCESS:
        return True
    if status in RUNNING:
        return False
    deployment = f"deployment {record.get('id')}"
    if status == FAILED:
        text = str(record.get("status_text") or "").strip()
        lines = failure_excerpt(log) or [f"(the deployment log has no error entry; see "
                                         f"{log_url})"]
        raise DeployError(f"{deployment} failed" + (f": {text}" if text else "") + "\n"
                          + "\n".join(f"    {line}" for line in lines), where=where,
                          fix=f"read the log above (all of it: {log_url}); for a remote build "
                          "check requirements.txt and the package index settings")
    if status == CANCELLED:
        raise DeployError(f"{deployment} was cancelled before it finished", where=where,
                          fix=f"publish again; the log is at {log_url}")
    if status == CONFLICT:
        raise DeployError(f"{deployment} was refused: another deployment was running on the "
                          "app (status 5, conflict)", where=where,
                          fix="wait for the other deployment to finish, then publish again")
    if status == PARTIAL:
        lines = failure_excerpt(log)
        raise DeployError(f"{deployment} only partly succeeded (status 6)"
                          + "".join(f"\n    {line}" for line in lines), where=where,
                          fix=f"read the deployment log at {log_url}, fix what failed and "
                          "publish again")
    shown = record.get("status", "none")
    raise DeployError(f"Kudu reported status {shown!r} for {deployment}, which azpublish "
                      "does not know; the outcome is unknown, so it is not reported as success",
                      where=where, fix=f"look at the deployment log at {log_url}")


def failure_excerpt(log: LogPairs, limit: int = FAILURE_LINES) -> list[str]:
    """At most ``limit`` lines saying why a deployment failed.

    The error entries (warnings if there are none) first, then the tail of the detail lines:
    the build step's output (the last entry with details before the first error — where pip's
    complaint is) followed by the error entries' own details, each line once.
    """
    def lines_of(entry: Mapping[str, Any]) -> list[str]:
        text = str(entry.get("message") or "")
        return [line.rstrip() for line in text.splitlines() if line.strip()]

    bad = [pair for pair in log if pair[0].get("type") == ERROR_ENTRY] or \
        [pair for pair in log if pair[0].get("type") == WARNING_ENTRY]
    if not bad:
        return []
    head = [line for entry, _ in bad for line in lines_of(entry)][: max(1, limit // 4)]
    first_bad = next(i for i, pair in enumerate(log) if pair[0] is bad[0][0])
    build = next((children for _, children in reversed(log[:first_bad]) if children), [])
    details: list[str] = []
    seen = {line.strip() for line in head}
    for child in [*build, *(c for _, children in bad for c in children)]:
        for line in lines_of(child):
            if line.strip() not in seen:
                seen.add(line.strip())
                details.append(line)
    room = max(0, limit - len(head))
    if len(details) > room:
        skipped = len(details) - room + 1
        details = [f"… ({skipped} earlier lines in the deployment log)",
                   *details[skipped:]] if room else []
    return [redact(line) for line in [*head, *details]]


# -- polling --------------------------------------------------------------------------------------


class _LogFollower:
    """Shows each log entry once (by id), its children after it; re-fetches details that grow.

    Details are fetched once per entry, except for the newest entry that has them (a build's
    output grows while pip runs) and the one that was newest at the previous poll (its last
    lines may have arrived since): at most two detail requests per poll beyond new entries.
    """

    def __init__(self, kudu: KuduClient, on_line: Callable[[str], None]) -> None:
        self._kudu = kudu
        self._on_line = on_line
        self._shown: set[str] = set()
        self._entries: list[tuple[str, dict[str, Any]]] = []  # (key, entry), in log order
        self._children: dict[str, list[dict[str, Any]]] = {}
        self._growing: str | None = None
        self.lines: list[str] = []

    def poll(self, deployment_id: str) -> None:
        entries = [(_key(entry, index), entry)
                   for index, entry in enumerate(self._kudu.log(deployment_id))]
        with_details = [key for key, entry in entries if _details_url(entry)]
        newest = with_details[-1] if with_details else None
        refresh = {newest, self._growing}
        for key, entry in entries:
            if key not in self._shown:
                self._shown.add(key)
                self._emit(1, entry.get("message"))
            url = _details_url(entry)
            if url and (key not in self._children or key in refresh):
                self._children[key] = self._kudu.log_details(url)
            for index, child in enumerate(self._children.get(key, [])):
                child_key = f"{key}/{_key(child, index)}"
                if child_key not in self._shown:
                    self._shown.add(child_key)
                    self._emit(2, child.get("message"))
        self._entries = entries
        self._growing = newest

    def pairs(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        return [(entry, self._children.get(key, [])) for key, entry in self._entries]

    def _emit(self, level: int, message: object) -> None:
        for raw in str(message or "").splitlines():
            if raw.strip():
                line = redact(INDENT * level + raw.rstrip())
                self.lines.append(line)
                self._on_line(line)


def _poll(kudu: KuduClient, started: Started, message: str,
          log: _LogFollower) -> dict[str, Any] | None:
    """The deployment's record (None while no record carries ``message`` yet), log shown.

    A 404 for the record we know the id of raises ``_RecordNotFound`` (the caller bounds how
    long that may last); a 404 for its log only means no new lines this time.
    """
    try:
        record: dict[str, Any] | None
        if started.deployment_id:
            try:
                record = kudu.deployment(started.deployment_id)
            except KuduError as error:
                if error.status == 404:
                    raise _RecordNotFound(started.deployment_id) from None
                raise
            record.setdefault("id", started.deployment_id)
        else:
            record = _find_by_message(kudu, message)
        if record is not None:
            try:
                log.poll(str(record["id"]))
            except KuduError as error:
                if error.status != 404:
                    raise
        return record
    except KuduError as error:
        if error.transient:
            raise _PollFailed(error) from None
        raise _lost_track(kudu, started, message, error, None) from None


def _lost_track(kudu: KuduClient, started: Started, message: str, error: KuduError,
                timeout: float | None) -> DeployError:
    known = started.deployment_id
    subject = f"deployment {known}" if known else f"the deployment {message!r}"
    during = f" (its status could not be read until --timeout {timeout:g} s)" if timeout else ""
    return DeployError(f"lost track of {subject}{during}: {error.what}", where=error.where,
                       fix="the deployment may still be running: look at "
                       f"{kudu.describe('api/deployments')}; {error.fix or ''}".rstrip("; "))


def _find_by_message(kudu: KuduClient, message: str) -> dict[str, Any] | None:
    if not message:
        raise DeployError("the deployment cannot be followed: Kudu gave no deployment id and "
                          "no message was sent to find it by",
                          where=kudu.describe("api/deployments"),
                          fix="deploy with trackDeploymentProgress or a unique message")
    matches = [r for r in kudu.deployments() if r.get("message") == message and r.get("id")]
    if len(matches) > 1:  # a temporary record may linger beside the real one
        matches = [r for r in matches if not r.get("is_temp")] or matches
    if len(matches) > 1:
        raise DeployError(f"{len(matches)} deployments carry the message {message!r}; "
                          "azpublish cannot tell which one it started",
                          where=kudu.describe("api/deployments"),
                          fix="send a message no other deployment uses (azpublish's own "
                          "messages contain a UUID)")
    return matches[0] if matches else None


def _timed_out(kudu: KuduClient, record: Mapping[str, Any] | None, message: str,
               timeout: float, named: str | None) -> DeployError:
    if record is None and named:
        return DeployError(f"deployment {named} still not found after {timeout:g} s (Kudu "
                           "answers 404 until it has unpacked the package)",
                           where=_where(kudu, named),
                           fix="raise --timeout, or look at the deployments at "
                           f"{kudu.describe('api/deployments')}")
    if record is None:
        return DeployError(f"no deployment with the message {message!r} appeared after "
                           f"{timeout:g} s", where=kudu.describe("api/deployments"),
                           fix="raise --timeout, or look at the deployments at "
                           f"{kudu.describe('api/deployments')}")
    deployment_id = str(record["id"])
    status = _status(record)
    state = RUNNING.get(status, "in progress") if status is not None else "in progress"
    return DeployError(f"deployment {deployment_id} still {state} after {timeout:g} s",
                       where=_where(kudu, deployment_id),
                       fix="raise --timeout, or look at the deployment log at "
                       f"{_log_url(kudu, deployment_id)}")


def _status(record: Mapping[str, Any]) -> int | None:
    value = record.get("status")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _key(entry: Mapping[str, Any], index: int) -> str:
    value = entry.get("id")
    return str(value) if value not in (None, "") else f"#{index}"


def _details_url(entry: Mapping[str, Any]) -> str | None:
    url = entry.get("details_url")
    return url if isinstance(url, str) and url else None


def _where(kudu: KuduClient, deployment_id: str) -> str:
    return kudu.describe(f"api/deployments/{quote(deployment_id, safe='')}")


def _log_url(kudu: KuduClient, deployment_id: str) -> str:
    return kudu.describe(f"api/deployments/{quote(deployment_id, safe='')}/log")
