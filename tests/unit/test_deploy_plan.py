"""The deploy plan per hosting plan and build mode (reference section 6), as data."""

from __future__ import annotations

import pytest

from azpublish.deploy.plan import (
    CheckUnchanged,
    DeployOptions,
    ListFunctions,
    RestoreAppSettings,
    SyncTriggers,
    TrackDeployment,
    UpdateAppSettings,
    Upload,
    VerifyUrl,
    WaitForKuduSettings,
    plan_deploy,
)
from azpublish.errors import UsageError

SHA = "ab" * 32


def options(mode: str = "remote", **extra: object) -> DeployOptions:
    return DeployOptions(mode, SHA, 600.0, **extra)  # type: ignore[arg-type]


def planned(*args: object, **kwargs: object) -> tuple[object, ...]:
    """The steps alone (the cleanup has its own tests)."""
    return plan_deploy(*args, **kwargs).steps  # type: ignore[arg-type]


def kinds(steps: tuple[object, ...]) -> list[str]:
    return [type(step).__name__ for step in steps]


@pytest.mark.parametrize("plan", ["dedicated", "premium", "consumption"])
def test_remote_build_sets_build_settings_then_zipdeploys(plan: str) -> None:
    steps = planned(plan, {"WEBSITE_RUN_FROM_PACKAGE": "1", "MY": "x"},  # type: ignore[arg-type]
                        options())
    assert kinds(steps) == ["CheckUnchanged", "UpdateAppSettings", "WaitForKuduSettings",
                            "Upload", "TrackDeployment", "RememberPackage", "SyncTriggers",
                            "ListFunctions"]
    update = steps[1]
    assert isinstance(update, UpdateAppSettings)
    assert update.set == {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true", "ENABLE_ORYX_BUILD": "true",
                          "BUILD_FLAGS": "UseExpressBuild", "XDG_CACHE_HOME": "/tmp/.cache"}
    assert update.remove == ("WEBSITE_RUN_FROM_PACKAGE",)
    wait = steps[2]
    assert isinstance(wait, WaitForKuduSettings)
    assert wait.expected["WEBSITE_RUN_FROM_PACKAGE"] is None
    assert steps[3] == Upload("zipdeploy", remote_build=True)
    assert steps[0] == CheckUnchanged(SHA, "remote", "", plan)
    assert steps[4] == TrackDeployment(600.0)


def test_users_own_values_are_kept() -> None:
    current = {"SCM_DO_BUILD_DURING_DEPLOYMENT": "1", "ENABLE_ORYX_BUILD": "true",
               "BUILD_FLAGS": "Off", "XDG_CACHE_HOME": "/cache"}
    steps = planned("dedicated", current, options())
    assert kinds(steps)[1] == "Upload"  # nothing to change, so no settings step


def test_explicitly_disabled_remote_build_is_a_conflict() -> None:
    with pytest.raises(UsageError, match="SCM_DO_BUILD_DURING_DEPLOYMENT='false'") as info:
        plan_deploy("premium", {"SCM_DO_BUILD_DURING_DEPLOYMENT": "false"}, options())
    assert info.value.fix and "--build local" in info.value.fix


def test_flex_remote_uses_onedeploy_and_no_run_from_package() -> None:
    steps = planned("flex", {}, options())
    assert kinds(steps) == ["CheckUnchanged", "Upload", "TrackDeployment", "RememberPackage",
                            "SyncTriggers", "ListFunctions"]
    assert steps[1] == Upload("onedeploy", remote_build=True)


@pytest.mark.parametrize("mode", ["local", "custom"])
def test_flex_local_and_custom_upload_without_build(mode: str) -> None:
    steps = planned("flex", {}, options(mode))
    assert Upload("onedeploy", remote_build=False) in steps
    assert not any(isinstance(s, UpdateAppSettings) for s in steps)


@pytest.mark.parametrize("mode", ["local", "custom"])
def test_dedicated_local_runs_from_package(mode: str) -> None:
    steps = planned("dedicated", {}, options(mode))
    update = next(s for s in steps if isinstance(s, UpdateAppSettings))
    assert update.set == {"WEBSITE_RUN_FROM_PACKAGE": "1"}
    assert Upload("zipdeploy", remote_build=False) in steps
    already = planned("dedicated", {"WEBSITE_RUN_FROM_PACKAGE": "1"}, options(mode))
    assert not any(isinstance(s, UpdateAppSettings) for s in already)


def test_consumption_local_is_refused_clearly() -> None:
    with pytest.raises(UsageError, match="Linux Consumption"):
        plan_deploy("consumption", {}, options("custom"))


def test_pip_extra_index_url_is_set_for_remote_builds_only() -> None:
    url = "https://u:secretpw@idx.test/simple/"
    remote = planned("flex", {}, options(pip_extra_index_url=url))
    update = next(s for s in remote if isinstance(s, UpdateAppSettings))
    assert update.set == {"PIP_EXTRA_INDEX_URL": url}
    assert "secretpw" not in update.describe() and "secretpw" not in repr(
        options(pip_extra_index_url=url))
    assert isinstance(remote[2], WaitForKuduSettings)
    same = planned("flex", {"PIP_EXTRA_INDEX_URL": url}, options(pip_extra_index_url=url))
    assert not any(isinstance(s, UpdateAppSettings) for s in same)
    custom = planned("flex", {}, options("custom", pip_extra_index_url=url))
    assert not any(isinstance(s, UpdateAppSettings) for s in custom)


def test_verify_comes_last_and_restore_is_the_cleanup() -> None:
    current = {"KEEP": "secret-value", "BUILD_FLAGS": "mine", "WEBSITE_RUN_FROM_PACKAGE": "old"}
    plan = plan_deploy("dedicated", current,
                       options(verify_url="/api/hello", restore_settings=True,
                               pip_extra_index_url="https://u:pw77@idx.test/simple"))
    assert plan.steps[-1] == VerifyUrl("/api/hello")
    assert isinstance(plan.steps[-2], ListFunctions) and isinstance(plan.steps[-3], SyncTriggers)
    [restore] = plan.cleanup
    assert isinstance(restore, RestoreAppSettings)
    # Exactly what the plan changes, with the value each had (None: absent, so removed again).
    assert restore.previous == {"PIP_EXTRA_INDEX_URL": None,
                                "SCM_DO_BUILD_DURING_DEPLOYMENT": None,
                                "ENABLE_ORYX_BUILD": None, "XDG_CACHE_HOME": None,
                                "WEBSITE_RUN_FROM_PACKAGE": "old"}
    shown = " ".join(plan.describe()) + repr(plan)
    assert "secret-value" not in shown and "pw77" not in shown and "old" not in repr(restore)
    assert plan.describe()[-1] == restore.describe()


def test_restore_is_not_planned_when_nothing_changes() -> None:
    current = {"SCM_DO_BUILD_DURING_DEPLOYMENT": "1", "ENABLE_ORYX_BUILD": "true",
               "BUILD_FLAGS": "x", "XDG_CACHE_HOME": "y"}
    plan = plan_deploy("dedicated", current, options(restore_settings=True))
    assert plan.cleanup == ()
    assert plan_deploy("dedicated", {}, options()).cleanup == ()  # not asked for


def test_without_arm_only_kudu_steps_are_planned() -> None:
    ready = {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true", "ENABLE_ORYX_BUILD": "true",
             "BUILD_FLAGS": "x", "XDG_CACHE_HOME": "y"}
    steps = planned("dedicated", ready, options(verify_url="/api/x"), arm_access=False)
    assert kinds(steps) == ["CheckUnchanged", "Upload", "TrackDeployment", "VerifyUrl"]


def test_without_arm_needed_setting_changes_are_refused_with_the_list() -> None:
    with pytest.raises(UsageError, match="publish profile alone") as info:
        plan_deploy("dedicated", {}, options(pip_extra_index_url="https://u:pw99@h/s"),
                    arm_access=False)
    assert "PIP_EXTRA_INDEX_URL=<set>" in info.value.what
    assert "pw99" not in info.value.render()



@pytest.mark.parametrize(("plan", "mode", "checked"), [
    ("dedicated", "remote", True), ("premium", "remote", True),
    # Consumption's built app is a package Kudu does not serve; Flex builds apart from Kudu.
    ("consumption", "remote", False), ("flex", "remote", False),
    ("dedicated", "local", False)])
def test_a_remote_build_with_requirements_is_checked_to_have_installed_them(
        plan: str, mode: str, checked: bool) -> None:
    steps = kinds(planned(plan, {}, options(mode, has_requirements=True)))  # type: ignore[arg-type]
    assert ("CheckDependencies" in steps) is checked
    if checked:
        assert steps.index("CheckDependencies") == steps.index("TrackDeployment") + 1
    assert "CheckDependencies" not in kinds(planned(plan, {}, options(mode)))  # type: ignore[arg-type]
