"""What a failed listing suggests when the host's admin API reports nothing: that API never has
the Python worker's import errors, so the hint says where they are, per programming model and
whether the build's import check already ran."""

from __future__ import annotations

from azpublish.deploy.executor import silent_causes
from azpublish.deploy.plan import ListFunctions

LOG = "the host's log (Log stream or Application Insights)"
CHECK = "a local build's import check (--build local)"


def test_a_v2_app_points_at_the_log_and_the_import_check() -> None:
    remote = silent_causes(ListFunctions(model="v2"), some_listed=False)
    assert f"an import error in function_app.py (or in what it imports) is only in {LOG}" \
        in remote
    assert "'Worker failed to index functions'" in remote and CHECK in remote
    assert "host.json not at the package root" in remote
    # The check ran and passed: suggesting it again would send the user in a circle.
    local = silent_causes(ListFunctions(model="v2", import_checked=True), some_listed=True)
    assert CHECK not in local and "a function the worker no longer registers" in local


def test_a_v1_app_says_an_import_error_cannot_be_why_a_function_is_missing() -> None:
    partial = silent_causes(ListFunctions(model="v1"), some_listed=True)
    assert partial.startswith(f"look in {LOG}; likely causes: a function name or function.json "
                              "the host refuses")
    assert "stays listed and answers 500 when called, which a remote build cannot see" in partial
    assert CHECK in partial
    nothing = silent_causes(ListFunctions(model="v1", import_checked=True), some_listed=False)
    assert "host.json not at the package root" in nothing
    assert "remote build" not in nothing and CHECK not in nothing
