"""The cleanup registry: undos run however a block ends, and a signal that arrives while one
runs waits until it is done."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from azpublish.cleanup import (
    Terminated,
    held,
    outstanding,
    shielded,
    signals_as_interrupts,
    temporary_folder,
)


def test_an_undo_runs_on_success_and_on_failure() -> None:
    ran: list[str] = []
    with held("first", lambda: ran.append("first")):
        assert outstanding() == ("first",)
    with pytest.raises(ValueError), held("second", lambda: ran.append("second")):
        raise ValueError("boom")
    assert ran == ["first", "second"]
    assert outstanding() == ()


def test_a_signal_during_an_undo_waits_for_it_to_finish(capfd: pytest.CaptureFixture[str]
                                                        ) -> None:
    steps: list[str] = []

    def undo() -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # delivered at once, to this (the main) thread
        steps.append("after the signal")

    with pytest.raises(Terminated) as caught, signals_as_interrupts(), \
            held("removing the thing", undo):
        steps.append("body")
    assert steps == ["body", "after the signal"]
    assert caught.value.signum == signal.SIGTERM
    assert "SIGTERM received: finishing the cleanup (removing the thing) first" in (
        capfd.readouterr().err)


def test_ctrl_c_is_held_back_too_and_comes_out_as_keyboard_interrupt() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt) as caught, signals_as_interrupts(), shielded():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append(True)
    assert finished == [True]
    assert not isinstance(caught.value, Terminated)


def test_a_signal_outside_any_undo_is_raised_where_the_program_is() -> None:
    reached = []
    with pytest.raises(Terminated) as caught, signals_as_interrupts():
        os.kill(os.getpid(), signal.SIGHUP)
        reached.append(True)  # not reached: raised at the next bytecode
    assert reached == []
    assert caught.value.signum == signal.SIGHUP


def test_the_handlers_are_put_back() -> None:
    before = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGHUP,
                                                               signal.SIGINT)}
    with signals_as_interrupts():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {number: signal.getsignal(number) for number in before} == before


def test_a_temporary_folder_goes_with_what_it_holds_when_interrupted(tmp_path: Path) -> None:
    with pytest.raises(Terminated), signals_as_interrupts(), \
            temporary_folder("t-", tmp_path) as folder:
        (folder / "inner").mkdir()
        (folder / "inner" / "file").write_bytes(b"x")
        os.kill(os.getpid(), signal.SIGTERM)
    assert list(tmp_path.iterdir()) == []


def test_other_threads_hold_and_undo_without_touching_signals() -> None:
    ran: list[str] = []

    def work() -> None:
        with shielded(), held("in a thread", lambda: ran.append("undone")):
            ran.append("body")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert ran == ["body", "undone"]
    assert outstanding() == ()
