"""Reading .funcignore lines and describing rules (no files involved)."""

from __future__ import annotations

import pytest

from azpublish.ignore import (
    ALWAYS_RULES,
    DEFAULT_RULES,
    VENV_RULE,
    Rule,
    parse_funcignore,
)


@pytest.mark.parametrize(("rule", "text"), [
    (Rule(".funcignore", 3, "build/"), ".funcignore:3: build/"),
    (Rule("default", None, "__pycache__/"), "default: __pycache__/"),
    (Rule("always", None, ".git/"), "always: .git/"),
    (Rule("--build remote", None, ".python_packages/"), "--build remote: .python_packages/"),
])
def test_describe(rule: Rule, text: str) -> None:
    assert rule.describe() == text


def test_builtin_rules() -> None:
    assert [rule.describe() for rule in DEFAULT_RULES] == [
        "default: __pycache__/", "default: *.pyc", "default: .venv/", "default: .env",
        "default: .pytest_cache/", "default: .mypy_cache/"]
    assert [rule.pattern for rule in ALWAYS_RULES] == [
        ".git/", ".vscode/", "local.settings.json", "/.funcignore"]
    assert [rule.casefold for rule in ALWAYS_RULES] == [True, True, True, False]
    assert VENV_RULE.describe() == "always: <folder holding pyvenv.cfg>/"


def test_lines_are_numbered_and_comments_blank_lines_skipped() -> None:
    rules = parse_funcignore("# header\n\n*.txt\n   \n!keep.txt\n\\#literal\n #not-a-comment")
    assert [(rule.line, rule.pattern) for rule in rules] == [
        (3, "*.txt"), (5, "!keep.txt"), (6, "\\#literal"), (7, " #not-a-comment")]
    assert {rule.source for rule in rules} == {".funcignore"}


def test_crlf_line_endings() -> None:
    assert [rule.pattern for rule in parse_funcignore("a\r\nb/\r\n")] == ["a", "b/"]


@pytest.mark.parametrize(("line", "pattern"), [
    ("build/   ", "build/"),  # trailing spaces go
    ("a\\ ", "a\\ "),  # an escaped space stays
    ("a\\   ", "a\\ "),  # ... and only the unescaped ones after it go
    ("a\\\\ ", "a\\\\"),  # an escaped backslash does not escape the space
    ("tab\t", "tab\t"),  # git strips spaces only, not tabs
    ("x \t", "x \t"),
    ("  lead", "  lead"),  # leading spaces are part of the pattern
    ("end\\", "end\\"),  # a lone trailing backslash leaves the line alone
    ("only\r\r", "only\r"),  # one CR is the line ending, a second one is data
])
def test_trailing_spaces_as_git_trims_them(line: str, pattern: str) -> None:
    [rule] = parse_funcignore(line + "\n")
    assert rule.pattern == pattern


def test_line_of_spaces_is_no_rule() -> None:
    assert parse_funcignore("   \n\r\n") == ()


