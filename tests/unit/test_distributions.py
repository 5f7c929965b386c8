from __future__ import annotations

from azpublish.distributions import dependency_closure


def names(found: list[object]) -> set[str]:
    return {str(d.metadata["Name"]).lower() for d in found}  # type: ignore[attr-defined]


def test_closure_follows_installed_requirements() -> None:
    found, missing = dependency_closure("requests")
    assert {"requests", "urllib3", "certifi", "idna", "charset-normalizer"} <= names(found)
    assert missing == []


def test_excluded_and_missing_names() -> None:
    found, missing = dependency_closure("requests", exclude={"urllib3"})
    assert "urllib3" not in names(found) and missing == []
    assert dependency_closure("azpublish-not-installed-anywhere") == ([], [
        "azpublish-not-installed-anywhere"])


def test_markers_are_evaluated_for_the_given_environment() -> None:
    # pip-tools needs tomli only below Python 3.11: the target decides, not this interpreter.
    from azpublish.toolchain.platform_tags import target_environment

    old, _ = dependency_closure("pip-tools", target_environment("3.10"), exclude={"pip"})
    new, _ = dependency_closure("pip-tools", target_environment("3.13"), exclude={"pip"})
    assert "tomli" in names(old) and "tomli" not in names(new)
