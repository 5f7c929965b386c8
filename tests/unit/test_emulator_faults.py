"""Fault specs: validation, matching, counting, narrowing to an app, persistence; holds."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from azpublish.emulator.faults import FaultBook, parse_fault
from azpublish.emulator.holds import Hold, HoldRegistry
from azpublish.emulator.layout import StateLayout
from azpublish.errors import UsageError


def test_fail_faults_count_down_and_match_path_and_method() -> None:
    book = FaultBook()
    book.add(parse_fault({"kind": "fail", "path": "*/api/zipdeploy", "method": "post",
                          "status": 503, "count": 2}, where="test"))
    assert book.take_failure("GET", "/scm/a/api/zipdeploy", "a") is None
    assert book.take_failure("POST", "/scm/a/api/deployments", "a") is None
    first = book.take_failure("POST", "/scm/a/API/ZipDeploy", "a")
    assert first is not None and first.status == 503
    assert book.take_failure("POST", "/scm/b/api/zipdeploy", "b") is not None
    assert book.take_failure("POST", "/scm/a/api/zipdeploy", "a") is None
    assert book.list() == []


def test_zero_count_lasts_until_cleared_and_app_narrows() -> None:
    book = FaultBook()
    book.add(parse_fault({"kind": "fail", "app": "Mine", "count": 0}, where="test"))
    for _ in range(5):
        assert book.take_failure("GET", "/sites/mine/api/x", "mine") is not None
    assert book.take_failure("GET", "/sites/other/api/x", "other") is None
    assert book.take_failure("GET", "/metadata/endpoints", None) is None
    assert book.clear() == 1


def test_429_gets_a_retry_after_by_default() -> None:
    assert parse_fault({"kind": "fail", "status": 429}, where="t").retry_after == 1
    assert parse_fault({"kind": "fail", "status": 503}, where="t").retry_after is None


@pytest.mark.parametrize("spec, words", [
    ({"kind": "boom"}, "unknown fault kind"),
    ({"kind": "fail", "status": 200}, "not offered"),
    ({"kind": "fail", "statu": 500}, "unknown fault fields"),
    ({"kind": "hold", "stages": ["done"]}, "hold stages"),
    ({"kind": "slow_build", "seconds": -1}, "must not be negative"),
    ({"kind": "fail", "count": "many"}, "bad fault value"),
])
def test_bad_specs_say_what_is_wrong(spec: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_fault(spec, where="test")
    assert words in raised.value.what


def test_other_kinds_are_taken_once_each() -> None:
    book = FaultBook()
    book.add(parse_fault({"kind": "slow_build", "seconds": 2.5}, where="t"))
    book.add(parse_fault({"kind": "drop_upload", "after_bytes": 10}, where="t"))
    book.add(parse_fault({"kind": "settings_delay", "app": "a", "seconds": 9}, where="t"))
    assert book.take_slow_build("x") == 2.5
    assert book.take_slow_build("x") == 0.0
    drop = book.take_drop("x")
    assert drop is not None and drop.after_bytes == 10
    assert book.settings_delay("A") == 9 and book.settings_delay("A") == 9  # not consumed
    assert book.settings_delay("b") is None


def test_faults_survive_in_the_state_directory(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path)
    layout.ensure()
    book = FaultBook(layout)
    added = book.add(parse_fault({"kind": "hold", "stages": ["building"], "count": 3},
                                 where="t"))
    again = FaultBook(layout)
    again.load()
    assert [f.as_dict() for f in again.list()] == [added.as_dict()]
    assert again.remove(added.id) and not again.remove(added.id)


def test_releases_are_counted_so_an_early_one_is_not_lost() -> None:
    hold = Hold(("pending", "building"), timeout=5)
    registry = HoldRegistry()
    registry.register("app", None, hold)
    assert registry.release("APP", None)  # before the deployment reaches its stage
    passed = threading.Event()

    def run() -> None:
        hold.wait("pending")
        hold.wait("deploying")  # not a held stage: no wait
        passed.set()

    worker = threading.Thread(target=run)
    worker.start()
    assert passed.wait(2)
    worker.join()
    registry.forget("app", None, hold)
    assert not registry.release("app", None)


def test_a_hold_gives_up_after_its_timeout() -> None:
    hold = Hold(("pending",), timeout=0.05)
    hold.wait("pending")  # returns, though nobody released it
