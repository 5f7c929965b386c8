"""An unchanged package is not uploaded again, on every plan — Flex included, where the real
service keeps no deployment message and azpublish remembers the package in an ARM tag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azpublish.deploy.plan import PACKAGE_TAG
from tests.integration.conftest import HELLO, Run, RunningEmulator, hello_project

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return hello_project(tmp_path / "app")


def tags(emulator: RunningEmulator, app: str) -> dict[str, str]:
    answer = emulator.arm("GET", emulator.site_path(app))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["tags"])


def publish(run: Run, project: Path, app: str, build: str = "custom") -> dict[str, object]:
    code, out, err = run("--project-dir", project, "--app", app, "--build", build, "--json")
    assert code == 0, err
    report = json.loads(out)
    report["stderr"] = err
    return report


def test_flex_keeps_no_message_so_the_tag_recognises_the_package(
        run: Run, emulator: RunningEmulator, project: Path) -> None:
    app = emulator.create_app(plan="flex")
    first = publish(run, project, app)
    deployment = first["deployment"]
    assert isinstance(deployment, dict) and deployment["skipped"] is False
    listed = emulator.kudu("GET", app, "/api/deployments").json()
    assert [d["message"] for d in listed] == [""]  # as real Flex: the stamp is not kept there
    tag = tags(emulator, app)[PACKAGE_TAG]
    package = first["package"]
    assert isinstance(package, dict)
    assert f"sha256={package['sha256']}" in tag and "build=custom" in tag
    assert f"deployment={deployment['deployment_id']}" in tag

    second = publish(run, project, app)
    again = second["deployment"]
    assert isinstance(again, dict) and again["skipped"] is True
    assert again["deployment_id"] == deployment["deployment_id"]
    assert len(emulator.kudu("GET", app, "/api/deployments").json()) == 1


def test_a_deployment_made_since_by_another_client_makes_the_tag_stale(
        run: Run, emulator: RunningEmulator, project: Path) -> None:
    """The tag still names this package, but someone else deployed after it: upload."""
    app = emulator.create_app(plan="flex")
    publish(run, project, app)
    other = emulator.v2_app(HELLO.replace('"hello"', '"someone else"'))
    record = emulator.deploy_and_wait(app, other, endpoint="publish",
                                      query="type=zip&async=true&RemoteBuild=false")
    assert record["status"] == 4
    third = publish(run, project, app)
    deployment = third["deployment"]
    assert isinstance(deployment, dict) and deployment["skipped"] is False
    assert len(emulator.kudu("GET", app, "/api/deployments").json()) == 3


def test_another_build_mode_of_the_same_bytes_is_not_unchanged_on_flex(
        run: Run, emulator: RunningEmulator, project: Path) -> None:
    app = emulator.create_app(plan="flex")
    publish(run, project, app)
    remote = publish(run, project, app, "remote")
    deployment = remote["deployment"]
    assert isinstance(deployment, dict) and deployment["skipped"] is False
    assert "build=remote" in tags(emulator, app)[PACKAGE_TAG]


def test_a_refused_tag_is_a_warning_and_the_next_publish_uploads(
        run: Run, emulator: RunningEmulator, project: Path) -> None:
    """Tagging needs a role that may be missing (Microsoft.Resources/tags/write); the
    deployment has succeeded by then, so it is not failed for it."""
    app = emulator.create_app(plan="flex")
    emulator.add_fault(kind="fail", app=app, path="*/tags/default", method="PATCH",
                       status=403)
    first = publish(run, project, app)
    assert "could not tag the app" in str(first["stderr"])
    assert PACKAGE_TAG not in tags(emulator, app)
    second = publish(run, project, app)
    deployment = second["deployment"]
    assert isinstance(deployment, dict) and deployment["skipped"] is False


def test_other_tags_are_kept(run: Run, emulator: RunningEmulator, project: Path) -> None:
    app = emulator.create_app(plan="premium")
    answer = emulator.arm("PUT", f"{emulator.site_path(app)}/providers/Microsoft.Resources/tags"
                          "/default", api_version="2021-04-01",
                          json={"properties": {"tags": {"azd-env-name": "dev"}}})
    assert answer.status_code == 200, answer.text
    publish(run, project, app)
    kept = tags(emulator, app)
    assert kept["azd-env-name"] == "dev" and PACKAGE_TAG in kept


def test_the_same_package_for_another_plan_is_not_unchanged(
        run: Run, emulator: RunningEmulator, project: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The stamp names the plan: a publish profile alone cannot tell a Premium app from a
    Dedicated one (azpublish takes it for Dedicated), so the ARM publish after it uploads."""
    app = emulator.create_app(plan="premium")
    emulator.set_settings(app, {"WEBSITE_RUN_FROM_PACKAGE": "1"})
    profile = tmp_path / "app.PublishSettings"
    profile.write_bytes(emulator.arm("POST", f"{emulator.site_path(app)}/publishxml",
                                     json={}).content)
    with monkeypatch.context() as patch:
        patch.delenv("AZURE_SUBSCRIPTION_ID")
        code, _, err = run("--project-dir", project, "--build", "custom", "--publish-profile",
                           profile, "--python-version", "3.11")
        assert code == 0, err
    [first] = emulator.kudu("GET", app, "/api/deployments").json()
    assert "plan=dedicated" in first["message"]
    second = publish(run, project, app)
    deployment = second["deployment"]
    assert isinstance(deployment, dict) and deployment["skipped"] is False
    assert "plan=premium" in tags(emulator, app)[PACKAGE_TAG]

