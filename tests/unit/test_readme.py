"""The README is the user's reference: it must name every option and exit code there is."""

from __future__ import annotations

from pathlib import Path

from azpublish.errors import ExitCode
from azpublish.settings import OPTIONS

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_option_is_documented_with_its_env_var() -> None:
    for option in OPTIONS:
        assert f"`{option.flag}`" in README, option.flag
        assert f"`{option.env}`" in README, option.env


def test_every_exit_code_is_documented() -> None:
    for code in ExitCode:
        assert f"\n| {int(code)} |" in README, code


def test_test_command_is_what_ci_runs() -> None:
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text()
    assert "make test" in README
    assert "\nmake test\n" in ci
