"""The emulator's answers beside App Service's recorded ones (``real_interactions.json``).

For each recorded interaction the emulator is asked the same thing, with its default quirks,
and compared where clients look: the status, the headers they read, the JSON key sets and the
shapes of values. Ids, host names, times and subscription ids differ by nature and are not
compared; nothing else is allowed to differ.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.conftest import HELLO, RunningEmulator

pytestmark = pytest.mark.integration

RECORDINGS = (Path(__file__).resolve().parents[3] / "shared" / "reference" / "recordings"
              / "real_interactions.json")
GUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")

# Not compared, by nature: recorded ids, host names, times and subscription ids (values, not
# shapes), and the sites' many properties no deployment client reads.


def recorded(key: str) -> dict[str, Any]:
    interaction: dict[str, Any] = json.loads(RECORDINGS.read_text())[key]
    return interaction


def shape(value: Any) -> Any:
    """What a client can rely on: types, keys (recursively), not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def _header(interaction: dict[str, Any], name: str) -> str | None:
    for key, value in interaction["headers"].items():
        if key.lower() == name.lower():
            return value if isinstance(value, str) else value[0]
    return None


def test_flex_onedeploy_answers_as_recorded(emulator: RunningEmulator) -> None:
    real = recorded("flex_publish")
    app = emulator.create_app(plan="flex")
    ours = emulator.deploy(app, emulator.v2_app(HELLO), endpoint="publish",
                           query="RemoteBuild=false&async=true")
    assert ours.status_code == real["status"] == 202
    assert ("SCM-DEPLOYMENT-ID" in ours.headers) is (
        _header(real, "SCM-DEPLOYMENT-ID") is not None) is False
    assert isinstance(json.loads(real["body"]), str) and isinstance(ours.json(), str)
    for location, body_id in ((_header(real, "Location"), json.loads(real["body"])),
                              (ours.headers["Location"], ours.json())):
        assert location is not None
        assert urlsplit(location).path.endswith(f"/api/deployments/{body_id}")
    emulator.wait_for_deployment(app, ours.json())


def test_flex_deployment_record_has_the_recorded_shape(emulator: RunningEmulator) -> None:
    real = json.loads(recorded("flex_deployment")["body"])
    app = emulator.create_app(plan="flex")
    answer = emulator.deploy(app, emulator.v2_app(HELLO), endpoint="publish",
                             query="RemoteBuild=true&async=true")  # as recorded
    emulator.wait_for_deployment(app, answer.json())
    time.sleep(2.5)  # past the recycled-worker 404 window: read the record as a client would
    fetched = emulator.kudu("GET", app, f"/api/deployments/{answer.json()}")
    assert fetched.status_code == recorded("flex_deployment")["status"] == 200
    ours = fetched.json()
    assert set(ours) == set(real)
    for key in ("status", "deployer", "message", "author", "author_email", "complete",
                "is_temp", "remoteBuild", "build_summary"):
        assert ours[key] == real[key], key
    assert shape(ours) == shape(real)


def test_linux_zipdeploy_answers_as_recorded(emulator: RunningEmulator) -> None:
    real = recorded("linux_zipdeploy")
    app = emulator.create_app()
    ours = emulator.deploy(app, emulator.v2_app(HELLO), query="isAsync=true")  # as recorded
    assert ours.status_code == real["status"] == 202
    assert ours.text == real["body"] == ""
    real_id, our_id = _header(real, "SCM-DEPLOYMENT-ID"), ours.headers["SCM-DEPLOYMENT-ID"]
    assert real_id and GUID.match(real_id) and GUID.match(our_id)
    for location in (_header(real, "Location"), ours.headers["Location"]):
        assert location is not None
        parts = urlsplit(location)
        assert parts.path.endswith("/api/deployments/latest")
        assert set(dict(p.split("=", 1) for p in parts.query.split("&"))) == {"deployer", "time"}
    emulator.wait_for_deployment(app, our_id)


def test_linux_latest_record_has_the_recorded_shape(emulator: RunningEmulator) -> None:
    real_answer = recorded("linux_slot_latest")
    real = json.loads(real_answer["body"])
    app = emulator.create_app()
    emulator.create_slot(app, "staging")
    answer = emulator.deploy(app, emulator.v2_app(HELLO), slot="staging",
                             query="isAsync=true&trackDeploymentProgress=true")
    emulator.wait_for_deployment(app, answer.headers["SCM-DEPLOYMENT-ID"], slot="staging")
    latest = emulator.kudu("GET", app, "/api/deployments/latest", slot="staging")
    assert latest.status_code == real_answer["status"] == 200
    ours = latest.json()
    assert set(ours) == set(real)
    for key in ("status", "status_text", "message", "author", "author_email", "complete",
                "active", "is_temp", "build_summary"):
        assert ours[key] == real[key], key
    assert {k: v for k, v in shape(ours).items() if k in real} == shape(real)


def test_function_list_envelope_and_entries_have_the_recorded_shape(
        emulator: RunningEmulator) -> None:
    real = json.loads(recorded("functions_list_python_v2")["body"])
    app = emulator.create_app()
    emulator.deploy_and_wait(app, emulator.v2_app(HELLO))
    lagging = emulator.arm("GET", f"{emulator.site_path(app)}/functions").json()
    assert set(lagging) == set(real)  # {"value": [], "nextLink": null, "id": null} at first
    listed = emulator.functions(app)
    ours = emulator.arm("GET", f"{emulator.site_path(app)}/functions").json()
    assert set(ours) == set(real) and ours["value"] == listed
    (theirs,), (mine,) = real["value"], ours["value"]
    assert set(mine) >= {"id", "name", "type", "properties"} and set(theirs) >= set(mine)
    for key in ("name", "config", "invoke_url_template", "language", "isDisabled"):
        assert key in mine["properties"] and key in theirs["properties"], key
    assert set(mine["properties"]["config"]) >= {"bindings", "entryPoint", "scriptFile"}
