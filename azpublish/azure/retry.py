"""Bounded retries for transient HTTP failures, shared by the Kudu and ARM-adjacent calls.

Transient: connection errors (a connection dropped midway through an upload included) and
timeouts, 429 (honouring ``Retry-After``), 502, 503, 504. A certificate that fails verification
is not transient: retrying cannot fix it. Backoff is exponential with jitter and a cap; the number
of attempts is bounded, so a dead endpoint fails in predictable time.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import requests

from azpublish.errors import UsageError

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Attempted:
    """How a retried call ended: the last response or error, and how many attempts it took."""

    response: requests.Response | None
    error: requests.RequestException | None
    attempts: int


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; before try n+1 wait ``delay(n)``.

    Without ``Retry-After`` the wait is drawn from ``[ceiling / 2, ceiling]`` with
    ``ceiling = min(max_delay, base_delay * 2 ** (n - 1))``: half of it is guaranteed backoff,
    the other half spreads clients that failed together. A server's ``Retry-After`` is obeyed
    as given (no jitter: it asked for that moment); one longer than ``max_retry_after`` ends
    the retries at once (waiting less than asked would only be refused again).
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    jitter: Callable[[float, float], float] = field(default=random.uniform, compare=False)
    now: Callable[[], float] = field(default=time.time, compare=False)  # for HTTP dates
    on_retry: Callable[[str], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise UsageError(f"retry attempts must be at least 1, not {self.attempts}")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise UsageError("retry delays must not be negative")

    def delay(self, attempt: int, response: requests.Response | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (attempts count from 1)."""
        retry_after = retry_after_seconds(response, self.now)
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return min(ceiling, max(ceiling / 2, self.jitter(ceiling / 2, ceiling)))

    def run(self, send: Callable[[int], requests.Response],
            accept: Callable[[requests.Response], bool], *, label: str = "request",
            transient: Callable[[requests.Response | None, BaseException | None], bool]
            | None = None) -> Attempted:
        """Call ``send(attempt)`` until ``accept`` takes its answer, a failure is not transient,
        or the attempts are spent; requests' own exceptions count as failures, others propagate.
        """
        transient = transient or is_transient
        attempt = 1
        while True:
            response: requests.Response | None = None
            error: requests.RequestException | None = None
            try:
                response = send(attempt)
            except requests.RequestException as exc:
                error = exc
            if response is not None and accept(response):
                return Attempted(response, None, attempt)
            if attempt >= self.attempts or not transient(response, error):
                return Attempted(response, error, attempt)
            asked = retry_after_seconds(response, self.now)
            if asked is not None and asked > self.max_retry_after:
                return Attempted(response, error, attempt)
            wait = self.delay(attempt, response)
            if self.on_retry is not None:
                why = f"answered {response.status_code}" if response is not None \
                    else f"failed ({type(error).__name__})"
                self.on_retry(f"{label} {why}; retry {attempt} of {self.attempts - 1} "
                              f"in {wait:.1f} s")
            self.sleep(wait)
            attempt += 1


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds from ``now`` (epoch seconds) that a ``Retry-After`` value asks for; None if junk.

    The header is either delta-seconds or an HTTP date (RFC 9110 section 10.2.3).
    """
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # HTTP dates are GMT; a naive parse means "-0000"
            return None
        seconds = moment.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_after_seconds(response: requests.Response | None,
                        now: Callable[[], float] = time.time) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    return parse_retry_after(value, now()) if value else None


def is_certificate_failure(error: BaseException) -> bool:
    """A TLS verification failure (wrong CA bundle, wrong host name): retrying cannot help."""
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        text = str(item).lower()
        if "certificate verify failed" in text or "hostname mismatch" in text:
            return True
        pending.extend([*item.args, item.__cause__, item.__context__])
    return False


def is_transient(response: requests.Response | None, error: BaseException | None) -> bool:
    if error is not None:
        if isinstance(error, requests.exceptions.SSLError) and is_certificate_failure(error):
            return False
        return isinstance(error, (requests.ConnectionError, requests.Timeout,
                                  requests.exceptions.ChunkedEncodingError))
    return response is not None and response.status_code in TRANSIENT_STATUSES
