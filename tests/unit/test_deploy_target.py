"""Which apps azpublish refuses to publish to, and which Python it builds for."""

from __future__ import annotations

import pytest

from azpublish.azure.arm import AppRef, Site
from azpublish.deploy.target import check_site, target_python
from azpublish.errors import UsageError
from azpublish.report import Reporter
from azpublish.settings import Settings


def site(kind: str = "functionapp,linux", runtime: str = "python",
         python: str | None = "3.11") -> Site:
    return Site(AppRef("sub", "rg", "app"), kind, "dedicated", "Basic", python, runtime,
                "scm.example.test", "app.example.test")


def test_linux_python_function_app_is_accepted() -> None:
    check_site(site())


@pytest.mark.parametrize(("kind", "runtime", "message"), [
    ("functionapp", "python", "is a Windows function app"),
    ("app,linux", "python", "is not a function app"),
    ("functionapp,linux", "node", "runs 'node', not Python"),
])
def test_other_apps_are_refused(kind: str, runtime: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_site(site(kind, runtime))


def test_python_version_must_agree_unless_forced() -> None:
    report = Reporter()
    assert target_python(site(), Settings(), report) == "3.11"
    with pytest.raises(UsageError, match="runs Python 3.11, but --python-version says 3.12"):
        target_python(site(), Settings(python_version="3.12"), report)
    assert target_python(site(), Settings(python_version="3.12", force=True), report) == "3.12"
    assert report.warnings == ["building for Python 3.12 while the app runs 3.11 (--force)"]
    with pytest.raises(UsageError, match="does not say which Python"):
        target_python(site(python=None), Settings(), report)


def test_kudu_gets_the_management_audience_in_every_cloud() -> None:
    """One Kudu scope, the same against the emulator as in production: the cloud's management
    audience (what the Azure CLI and azd send Kudu), never ARM's management.azure.com."""
    from azpublish.azure.auth import DEFAULT_ARM_SCOPE, PUBLIC_KUDU_SCOPE, kudu_scope

    assert kudu_scope(DEFAULT_ARM_SCOPE) == PUBLIC_KUDU_SCOPE == \
        "https://management.core.windows.net//.default"
    # An emulator or sovereign cloud announces that audience in its metadata; arm_scope turns
    # it into the scope, which Kudu then gets too.
    assert kudu_scope("https://management.core.windows.net//.default") == PUBLIC_KUDU_SCOPE
    assert kudu_scope("https://management.core.chinacloudapi.cn//.default") == \
        "https://management.core.chinacloudapi.cn//.default"
