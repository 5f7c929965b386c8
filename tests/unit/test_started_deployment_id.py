"""Which deployment a deploy call started, read from the service's recorded real answers.

The recordings (``../shared/reference/recordings/real_interactions.json``) are App Service's own
202s: Linux Kudu names the id in ``SCM-DEPLOYMENT-ID``; Flex OneDeploy sends no such header but
the id as a JSON string body and in ``Location``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from azpublish.azure.kudu import started_deployment_id

RECORDINGS = (Path(__file__).resolve().parents[3] / "shared" / "reference" / "recordings"
              / "real_interactions.json")


def recorded(key: str) -> dict[str, Any]:
    interaction: dict[str, Any] = json.loads(RECORDINGS.read_text())[key]
    return interaction


def id_of(interaction: dict[str, Any]) -> str | None:
    headers = CaseInsensitiveDict(interaction["headers"])
    return started_deployment_id(headers.get("SCM-DEPLOYMENT-ID"), interaction["body"],
                                 headers.get("Location"))


@pytest.mark.parametrize(("key", "expected"), [
    ("linux_zipdeploy", "9d0fc21d-4821-4425-b011-bf889ea84430"),
    ("linux_slot_zipdeploy", "1253f3eb-02f5-4655-880a-403a9472c651"),
    ("flex_publish", "34bf9c6a-75c1-47d0-9f1a-b2192def1314"),
])
def test_the_id_of_every_recorded_deploy_answer(key: str, expected: str) -> None:
    assert recorded(key)["status"] == 202
    assert id_of(recorded(key)) == expected


def test_flex_without_its_body_still_names_the_id_in_location() -> None:
    flex = {**recorded("flex_publish"), "body": ""}
    assert id_of(flex) == "34bf9c6a-75c1-47d0-9f1a-b2192def1314"


def test_the_header_wins_over_body_and_location() -> None:
    assert started_deployment_id(" abc ", '"other"', "https://x/api/deployments/third") == "abc"


@pytest.mark.parametrize(("body", "location"), [
    ("", "https://app.scm.example/api/deployments/latest?deployer=Push-Deployer"),
    ('{"id": "x"}', None),  # an object is not "the id as a string"
    ('"not an id: spaces and /slashes"', None),
    ("not json", "https://app.scm.example/api/settings"),
    ("", None),
])
def test_nothing_that_names_no_deployment_is_taken_for_an_id(body: str,
                                                            location: str | None) -> None:
    assert started_deployment_id(None, body, location) is None
