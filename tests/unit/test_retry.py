"""RetryPolicy: backoff and jitter bounds, Retry-After, the attempt bound, what counts as transient.

Sleep, jitter and the wall clock are injected; the responses are real ``requests.Response``
objects built in memory (no sockets).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
import requests

from azpublish.azure.retry import (
    RetryPolicy,
    is_certificate_failure,
    is_transient,
    parse_retry_after,
    retry_after_seconds,
)
from azpublish.errors import UsageError

NOW = datetime(2025, 5, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()


def answer(status: int, retry_after: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


class Recorder:
    """Stands in for time.sleep and random.uniform: records, never waits."""

    def __init__(self, pick: Callable[[float, float], float] | None = None) -> None:
        self.sleeps: list[float] = []
        self.ranges: list[tuple[float, float]] = []
        self._pick = pick or (lambda lo, hi: hi)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def jitter(self, lo: float, hi: float) -> float:
        self.ranges.append((lo, hi))
        return self._pick(lo, hi)


def policy(recorder: Recorder, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(sleep=recorder.sleep, jitter=recorder.jitter, now=lambda: NOW,
                       **kwargs)  # type: ignore[arg-type]


def test_backoff_doubles_up_to_the_cap_and_jitter_spans_the_upper_half() -> None:
    recorder = Recorder()
    retry = policy(recorder, base_delay=1.0, max_delay=30.0)
    delays = [retry.delay(attempt, None) for attempt in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert recorder.ranges == [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0),
                               (15.0, 30.0), (15.0, 30.0)]


@pytest.mark.parametrize("pick, expected", [
    (lambda lo, hi: lo, 2.0),          # the low end of the range is allowed
    (lambda lo, hi: 0.0, 2.0),         # a jitter source below the range is clamped up
    (lambda lo, hi: 99.0, 4.0),        # ... and above it, down
])
def test_jitter_is_kept_within_bounds(pick: Callable[[float, float], float],
                                      expected: float) -> None:
    retry = policy(Recorder(pick), base_delay=1.0)
    assert retry.delay(3, answer(503)) == expected


def test_default_jitter_stays_within_bounds() -> None:
    retry = RetryPolicy(base_delay=0.5, max_delay=10.0)
    for attempt in range(1, 10):
        ceiling = min(10.0, 0.5 * 2 ** (attempt - 1))
        for _ in range(50):
            assert ceiling / 2 <= retry.delay(attempt, None) <= ceiling


def test_retry_after_seconds_is_obeyed_without_jitter() -> None:
    recorder = Recorder()
    retry = policy(recorder)
    assert retry.delay(1, answer(429, "7")) == 7.0
    assert retry.delay(4, answer(503, "0")) == 0.0
    assert recorder.ranges == []


def test_retry_after_is_capped() -> None:
    retry = policy(Recorder(), max_retry_after=60.0)
    assert retry.delay(1, answer(429, "3600")) == 60.0


def test_junk_retry_after_falls_back_to_backoff() -> None:
    recorder = Recorder()
    retry = policy(recorder, base_delay=1.0)
    assert retry.delay(2, answer(429, "soon")) == 2.0
    assert recorder.ranges == [(1.0, 2.0)]


@pytest.mark.parametrize("value, expected", [
    ("7", 7.0),
    (" 2.5 ", 2.5),
    ("-3", 0.0),
    ("", None),
    ("soon", None),
    ("nan", None),
    ("inf", None),
    (format_datetime(datetime(2025, 5, 1, 12, 0, 30, tzinfo=timezone.utc), usegmt=True), 30.0),
    (format_datetime(datetime(2025, 5, 1, 11, 0, 0, tzinfo=timezone.utc), usegmt=True), 0.0),
    ("Thu, 01 May 2025 12:01:00 GMT", 60.0),
    ("Thu, 01 May 2025 12:01:00", None),  # no zone: not an HTTP date
])
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_of_a_response() -> None:
    assert retry_after_seconds(answer(429, "12"), lambda: NOW) == 12.0
    assert retry_after_seconds(answer(429), lambda: NOW) is None
    assert retry_after_seconds(None) is None


def test_run_retries_transient_answers_until_one_is_accepted() -> None:
    recorder = Recorder()
    answers = iter([answer(503), answer(502), answer(200)])
    seen: list[int] = []

    def send(attempt: int) -> requests.Response:
        seen.append(attempt)
        return next(answers)

    outcome = policy(recorder, base_delay=1.0).run(send, lambda r: r.status_code == 200)
    assert seen == [1, 2, 3]
    assert outcome.attempts == 3 and outcome.error is None
    assert outcome.response is not None and outcome.response.status_code == 200
    assert recorder.sleeps == [1.0, 2.0]


def test_run_gives_up_after_the_attempt_bound() -> None:
    recorder = Recorder()
    calls: list[int] = []

    def send(attempt: int) -> requests.Response:
        calls.append(attempt)
        return answer(503)

    outcome = policy(recorder, attempts=4).run(send, lambda r: r.status_code == 200)
    assert calls == [1, 2, 3, 4]
    assert outcome.attempts == 4
    assert outcome.response is not None and outcome.response.status_code == 503
    assert len(recorder.sleeps) == 3


def test_run_does_not_retry_what_is_not_transient() -> None:
    recorder = Recorder()
    outcome = policy(recorder).run(lambda attempt: answer(404), lambda r: r.status_code == 200)
    assert outcome.attempts == 1 and recorder.sleeps == []


def test_run_retries_connection_errors_and_reports_the_last() -> None:
    recorder = Recorder()
    errors = [requests.ConnectionError("reset"), requests.exceptions.ChunkedEncodingError("cut")]

    def send(attempt: int) -> requests.Response:
        raise errors[min(attempt, 2) - 1]

    outcome = policy(recorder, attempts=3).run(send, lambda r: True)
    assert outcome.attempts == 3 and outcome.response is None
    assert isinstance(outcome.error, requests.exceptions.ChunkedEncodingError)
    assert len(recorder.sleeps) == 2


def test_run_stops_at_once_on_a_certificate_failure() -> None:
    recorder = Recorder()
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                                            "verify failed: unable to get local issuer")

    def send(attempt: int) -> requests.Response:
        raise requests.exceptions.SSLError(cause)

    outcome = policy(recorder).run(send, lambda r: True)
    assert outcome.attempts == 1 and recorder.sleeps == []


def test_run_takes_a_narrower_idea_of_transient() -> None:
    recorder = Recorder()

    def send(attempt: int) -> requests.Response:
        raise requests.exceptions.ReadTimeout("no answer")

    def not_timeouts(response: requests.Response | None, error: BaseException | None) -> bool:
        return not isinstance(error, requests.Timeout) and is_transient(response, error)

    outcome = policy(recorder).run(send, lambda r: True, transient=not_timeouts)
    assert outcome.attempts == 1 and recorder.sleeps == []
    assert policy(recorder, attempts=2).run(send, lambda r: True).attempts == 2


def test_run_lets_other_exceptions_through() -> None:
    def send(attempt: int) -> requests.Response:
        raise KeyError("a bug, not a network failure")

    with pytest.raises(KeyError):
        policy(Recorder()).run(send, lambda r: True)


def test_run_tells_about_each_retry() -> None:
    notes: list[str] = []
    recorder = Recorder()
    retry = RetryPolicy(attempts=3, sleep=recorder.sleep, jitter=recorder.jitter,
                        now=lambda: NOW, on_retry=notes.append)
    answers = iter([answer(429, "3"), answer(200)])
    retry.run(lambda attempt: next(answers), lambda r: r.status_code == 200,
              label="POST https://scm.test/api/zipdeploy")
    assert notes == ["POST https://scm.test/api/zipdeploy answered 429; retry 1 of 2 in 3.0 s"]


@pytest.mark.parametrize("attempts", [0, -1])
def test_attempts_must_be_positive(attempts: int) -> None:
    with pytest.raises(UsageError):
        RetryPolicy(attempts=attempts)


def test_negative_delays_are_refused() -> None:
    with pytest.raises(UsageError):
        RetryPolicy(base_delay=-1.0)


@pytest.mark.parametrize("status, transient", [
    (429, True), (502, True), (503, True), (504, True),
    (200, False), (400, False), (401, False), (404, False), (409, False), (500, False),
])
def test_transient_statuses(status: int, transient: bool) -> None:
    assert is_transient(answer(status), None) is transient


@pytest.mark.parametrize("error, transient", [
    (requests.ConnectionError("refused"), True),
    (requests.exceptions.ConnectTimeout("slow"), True),
    (requests.exceptions.ReadTimeout("slow"), True),
    (requests.exceptions.ChunkedEncodingError("cut"), True),
    (requests.exceptions.SSLError("EOF occurred in violation of protocol"), True),
    (requests.exceptions.SSLError("certificate verify failed: self-signed"), False),
    (requests.exceptions.SSLError("hostname mismatch, certificate is not valid"), False),
    (requests.exceptions.InvalidURL("no host"), False),
    (requests.exceptions.TooManyRedirects("loop"), False),
])
def test_transient_errors(error: requests.RequestException, transient: bool) -> None:
    assert is_transient(None, error) is transient


def test_certificate_failure_is_found_in_the_cause_chain() -> None:
    try:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as inner:
            raise requests.exceptions.SSLError("wrapped") from inner
    except requests.exceptions.SSLError as outer:
        assert is_certificate_failure(outer)
    assert not is_certificate_failure(requests.exceptions.SSLError("EOF"))
