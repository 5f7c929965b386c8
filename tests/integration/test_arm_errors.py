"""azpublish shows the server's own words for both error shapes ARM answers.

The ARM front end wraps its errors (``{"error": {"code", "message"}}``); the Microsoft.Web
resource provider's come unwrapped (``{"Code", "Message", ...}``), which azure-core reports only
as "Operation returned an invalid status 'Bad Request'". The emulator answers each path as the
service does; here the client meets both.
"""

from __future__ import annotations

import pytest
from azure.identity import ManagedIdentityCredential

from azpublish.azure.arm import AppRef, Arm
from azpublish.errors import DeployError, ExitCode
from tests.integration.conftest import RunningEmulator

pytestmark = pytest.mark.integration


def _arm(emulator: RunningEmulator) -> Arm:
    return Arm(ManagedIdentityCredential(), emulator.subscription_id,
               endpoint=emulator.arm_endpoint, ca_bundle=emulator.ca_bundle)


def test_a_resource_provider_error_shows_its_code_message_and_request_id(
        emulator_env: RunningEmulator) -> None:
    app = emulator_env.create_app(plan="flex")
    ref = AppRef(emulator_env.subscription_id, emulator_env.resource_group, app)
    with pytest.raises(DeployError) as caught:
        _arm(emulator_env).set_app_settings(ref, {"WEBSITE_RUN_FROM_PACKAGE": "1"})
    what = caught.value.what
    assert "updating app settings: ARM answered 400: BadRequest: The following app setting " \
           "(Site.SiteConfig.AppSettings.WEBSITE_RUN_FROM_PACKAGE) for Flex Consumption sites " \
           "is invalid." in what
    assert "Operation returned an invalid status" not in what
    assert "(request id " in what
    assert caught.value.exit_code == ExitCode.DEPLOY


def test_a_front_end_error_shows_its_code_and_message(emulator_env: RunningEmulator) -> None:
    ref = AppRef(emulator_env.subscription_id, emulator_env.resource_group, "no-such-app")
    with pytest.raises(DeployError) as caught:
        _arm(emulator_env).app_settings(ref)
    assert "not found" in caught.value.what and "no-such-app" in caught.value.what
