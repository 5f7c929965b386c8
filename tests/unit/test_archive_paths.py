"""Which names the package may carry: one rule for the selection and the package writer."""

from __future__ import annotations

import pytest

from azpublish.archive_paths import check_archive_path
from azpublish.errors import UnsafePathError


@pytest.mark.parametrize("path", ["a/b.py", ".hidden/x", "..a/b", "a../b", "a/...", "caf\u00e9"])
def test_safe_archive_paths_pass(path: str) -> None:
    check_archive_path(path)


@pytest.mark.parametrize(("path", "problem"), [
    ("../x", "'..' or '.'"), ("a/../b", "'..' or '.'"), ("a/..", "'..' or '.'"),
    ("a/./b", "'..' or '.'"), (".", "'..' or '.'"), ("/abs", "absolute"), ("a//b", "empty"),
    ("a:b", "absolute"), ("Z:", "absolute"),
    ("", "empty"), ("a\\b", "backslash"), ("a\0b", "NUL"), ("caf\udce9", "not valid UTF-8"),
])
def test_unsafe_archive_paths_are_refused(path: str, problem: str) -> None:
    with pytest.raises(UnsafePathError, match=problem):
        check_archive_path(path)
