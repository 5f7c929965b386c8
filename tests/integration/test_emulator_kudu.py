"""Kudu: zipdeploy and OneDeploy, the deployment lifecycle, records, logs, settings and auth."""

from __future__ import annotations

import base64
import concurrent.futures
import os
import time

import pytest
import requests

from tests.integration.conftest import HELLO, RunningEmulator

pytestmark = pytest.mark.integration



def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _credentials(emulator: RunningEmulator, app: str) -> tuple[str, str]:
    body = emulator.arm("POST", f"{emulator.site_path(app)}/config/publishingcredentials/list")
    properties = body.json()["properties"]
    return properties["publishingUserName"], properties["publishingPassword"]


def test_async_zipdeploy_as_linux_kudu_answers_it(emulator: RunningEmulator) -> None:
    """The realistic default: the record under the tracking id exists only once the package is
    extracted (a temp- record is listed until then), and a running one answers 200, status 0."""
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["pending", "building", "deploying"])
    answer = emulator.deploy(app, emulator.v2_app(HELLO),
                             query="isAsync=true&Deployer=azpublish-test&message=first%20one"
                                   "&trackDeploymentProgress=true")
    assert answer.status_code == 202 and answer.text == ""
    deployment_id = answer.headers["SCM-DEPLOYMENT-ID"]
    missing = emulator.kudu("GET", app, f"/api/deployments/{deployment_id}")
    assert (missing.status_code, missing.text) == (404, f"Deployment '{deployment_id}' not found.")
    (temporary,) = emulator.kudu("GET", app, "/api/deployments").json()
    assert temporary["id"] == f"temp-{deployment_id[:8]}" and temporary["is_temp"] is True
    assert temporary["message"] == "first one"
    latest = emulator.kudu("GET", app, "/api/deployments/latest")
    assert latest.status_code == 202 and latest.json()["id"] == temporary["id"]
    emulator.release(app)  # extracted; held before the build
    running = emulator.wait_for_deployment(app, deployment_id, until=lambda r: True)
    again = emulator.kudu("GET", app, f"/api/deployments/{deployment_id}")
    assert again.status_code == 200 and again.json()["status"] == 0 == running["status"]
    assert again.json()["id"] == deployment_id and not again.json()["complete"]
    emulator.release(app)
    emulator.release(app)
    done = emulator.wait_for_deployment(app, deployment_id)
    assert done["status"] == 4 and done["id"] == deployment_id
    assert [d["id"] for d in emulator.kudu("GET", app, "/api/deployments").json()] \
        == [deployment_id]


def test_async_zipdeploy_walks_every_status(emulator: RunningEmulator) -> None:
    """The lifecycle behind the quirks: with late_record and in_progress_200 off (as classic
    Kudu answers: 202 and the real status while running), every status can be seen."""
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["pending", "building", "deploying"])
    with emulator.configured(quirks="all,-late_record,-in_progress_200"):
        _walk_every_status(emulator, app)


def _walk_every_status(emulator: RunningEmulator, app: str) -> None:
    answer = emulator.deploy(app, emulator.v2_app(HELLO),
                             query="isAsync=true&Deployer=azpublish-test&message=first%20one"
                                   "&author=alice&trackDeploymentProgress=true")
    assert answer.status_code == 202
    assert answer.text == ""
    deployment_id = answer.headers["SCM-DEPLOYMENT-ID"]
    location = answer.headers["Location"]
    assert location.startswith(f"{emulator.scm_url(app)}/api/deployments/latest?deployer="
                               "azpublish-test&time=")
    pending = emulator.kudu("GET", app, f"/api/deployments/{deployment_id}")
    assert pending.status_code == 202
    assert pending.json()["status"] == 0 and pending.json()["is_temp"] is True
    assert (pending.json()["deployer"], pending.json()["message"], pending.json()["author"]) \
        == ("azpublish-test", "first one", "alice")
    busy = emulator.deploy(app, emulator.v2_app(HELLO))
    assert busy.status_code == 409
    assert "deployment currently in progress" in busy.text
    latest = emulator.request("GET", location)
    assert latest.status_code == 202 and latest.json()["status"] == 0
    assert emulator.kudu("GET", app, "/api/isdeploying").json() == {"value": "True"}
    seen = [0]
    for expected in (1, 2, 4):
        emulator.release(app)
        record = emulator.wait_for_deployment(app, deployment_id,
                                              until=lambda r, e=expected: r["status"] == e)
        seen.append(record["status"])
        if expected == 1:
            assert record["status_text"] == f"Building and Deploying '{deployment_id}'."
    assert seen == [0, 1, 2, 4]
    done = emulator.kudu("GET", app, f"/api/deployments/{deployment_id}")
    assert done.status_code == 200
    assert done.json()["complete"] and done.json()["active"] and not done.json()["is_temp"]
    assert emulator.kudu("GET", app, "/api/deployments/latest").json()["id"] == deployment_id
    assert emulator.kudu("GET", app, "/api/isdeploying").json() == {"value": "False"}
    messages = [e["message"] for e in emulator.deployment_log(app, deployment_id)]
    assert messages[-1] == "Deployment successful."
    listed = emulator.kudu("GET", app, "/api/deployments").json()
    assert [d["id"] for d in listed] == [deployment_id]


def test_sync_zipdeploy_answers_when_done(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    answer = emulator.deploy(app, emulator.v2_app(HELLO), query="")
    assert answer.status_code == 200
    newest = emulator.kudu("GET", app, "/api/deployments").json()[0]
    assert newest["status"] == 4 and newest["deployer"] == "ZipDeploy"
    assert requests.get(f"{emulator.site_url(app)}/api/hello", verify=emulator.ca_bundle,
                        timeout=60).text == "hello"


def test_failed_build_leaves_status_text_empty_and_the_reason_in_the_log(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true", "PIP_RETRIES": "0",
                                "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""})
    package = emulator.v2_app(HELLO, **{"requirements.txt": "no-such-package-anywhere==1.0\n"})
    sync = emulator.deploy(app, package, query="")
    assert sync.status_code == 200  # Kudu answers 200 to a sync deploy even when it failed
    record = emulator.kudu("GET", app, "/api/deployments").json()[0]
    assert record["status"] == 3
    assert record["status_text"] == ""
    assert record["complete"] is True
    log = emulator.deployment_log(app, record["id"])
    build = next(e for e in log if e["message"] == "Running oryx build...")
    assert build["details_url"]
    error = log[-1]
    assert error["type"] == 2 and "Oryx build failed" in error["message"]
    details = emulator.request("GET", error["details_url"]).json()
    assert any("Exit code" in d["message"] for d in details)
    build_lines = [d["message"] for d in emulator.request("GET", build["details_url"]).json()]
    assert any("no-such-package-anywhere" in line for line in build_lines)


def test_flex_takes_onedeploy_and_refuses_zipdeploy(emulator: RunningEmulator) -> None:
    app = emulator.create_app(plan="flex")
    refused = emulator.deploy(app, emulator.v2_app(HELLO))
    assert refused.status_code == 404
    assert "/api/publish" in refused.text
    answer = emulator.deploy(app, emulator.v2_app(HELLO), endpoint="publish",
                             query="type=zip&async=true&RemoteBuild=false&Deployer=az_cli"
                                   "&trackDeploymentProgress=true")
    # As the recorded Flex answer: the id as a JSON string and in Location, no header.
    assert answer.status_code == 202
    assert "SCM-DEPLOYMENT-ID" not in answer.headers
    deployment_id = answer.json()
    assert answer.headers["Location"] == \
        f"{emulator.scm_url(app)}/api/deployments/{deployment_id}"
    early = emulator.kudu("GET", app, f"/api/deployments/{deployment_id}")
    assert early.status_code == 404  # flex_not_found: the worker has not got it yet
    record = emulator.wait_for_deployment(app, deployment_id)
    # Flex keeps none of the caller's deployer, message or author.
    assert (record["status"], record["deployer"], record["message"], record["author"]) == \
        (4, "LegionOneDeploy", "", None)
    functions = emulator.functions(app)  # the list lags the deployment (index_lag)
    assert [f["properties"]["name"] for f in functions] == ["hello"]


def test_basic_auth_and_the_scm_policy(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    user, password = _credentials(emulator, app)
    url = f"{emulator.scm_url(app)}/api/deployments"
    ok = requests.get(url, headers=_basic(user, password), verify=emulator.ca_bundle, timeout=10)
    assert ok.status_code == 200
    also = requests.get(url, headers=_basic(f"{app}\\{user}", password),
                        verify=emulator.ca_bundle, timeout=10)
    assert also.status_code == 200
    wrong = requests.get(url, headers=_basic(user, "wrong"), verify=emulator.ca_bundle,
                         timeout=10)
    anonymous = requests.get(url, verify=emulator.ca_bundle, timeout=10)
    assert (wrong.status_code, anonymous.status_code) == (401, 401)
    assert emulator.arm("PUT", f"{emulator.site_path(app)}/basicPublishingCredentialsPolicies/scm",
                        json={"properties": {"allow": False}}).status_code == 200
    refused = requests.get(url, headers=_basic(user, password), verify=emulator.ca_bundle,
                           timeout=10)
    assert refused.status_code == 401
    assert emulator.kudu("GET", app, "/api/deployments").status_code == 200  # Bearer still works
    appservice = emulator.token("https://appservice.azure.com")
    assert requests.get(url, headers={"Authorization": f"Bearer {appservice}"},
                        verify=emulator.ca_bundle, timeout=10).status_code == 200


def test_kudu_settings_lag_behind_arm(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    with emulator.configured(settings_propagation_delay=1.5):
        emulator.set_settings(app, {"SCM_DO_BUILD_DURING_DEPLOYMENT": "true"})
        changed = time.monotonic()
        assert "SCM_DO_BUILD_DURING_DEPLOYMENT" not in emulator.kudu("GET", app,
                                                                     "/api/settings").json()
        while True:
            seen = emulator.kudu("GET", app, "/api/settings").json()
            if seen.get("SCM_DO_BUILD_DURING_DEPLOYMENT") == "true":
                break
            assert time.monotonic() - changed < 10
            time.sleep(0.1)
        assert time.monotonic() - changed >= 1.4
        assert seen["WEBSITE_SITE_NAME"] == app


def test_non_zip_upload_is_400_with_a_failed_record(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    answer = emulator.deploy(app, b"this is not a zip file")
    assert answer.status_code == 400
    record = emulator.kudu("GET", app, "/api/deployments").json()[0]
    assert (record["status"], record["complete"], record["status_text"]) == (3, True, "")
    log = emulator.deployment_log(app, record["id"])
    assert log[-1]["type"] == 2 and "not a valid zip" in log[-1]["message"]
    assert emulator.deploy(app, emulator.v2_app(HELLO), query="").status_code == 200


def test_oversized_upload_is_413(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    with emulator.configured(max_upload_bytes=100_000):
        big = emulator.package({"host.json": "{}", "blob.bin": os.urandom(300_000)})
        answer = emulator.deploy(app, big)
        assert answer.status_code == 413
        chunked = emulator.deploy(app, iter([big[:150_000], big[150_000:]]))  # no length
        assert chunked.status_code == 413
        assert emulator.kudu("GET", app, "/api/deployments").json() == []
        assert emulator.kudu("GET", app, "/api/isdeploying").json() == {"value": "False"}


def test_unknown_app_and_route(emulator: RunningEmulator) -> None:
    assert emulator.kudu("GET", "no-such-app-at-all", "/api/deployments").status_code == 404
    app = emulator.create_app()
    assert emulator.kudu("GET", app, "/api/deployments/nope").status_code == 404
    assert emulator.kudu("GET", app, "/api/nothing-here").status_code == 404
    assert emulator.kudu("GET", app, "/api/deployments/latest").status_code == 404


def test_query_keys_are_case_insensitive(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    answer = emulator.deploy(app, emulator.v2_app(HELLO),
                             query="ISASYNC=True&deployer=lower&TrackDeploymentProgress=TRUE")
    assert answer.status_code == 202
    record = emulator.wait_for_deployment(app, answer.headers["SCM-DEPLOYMENT-ID"])
    assert record["deployer"] == "lower"


def test_package_without_host_json_deploys_but_indexes_nothing(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    record = emulator.deploy_and_wait(app, emulator.package({"function_app.py": HELLO}))
    assert record["status"] == 4
    # Still empty once the index lag (3 s) is over: nothing was indexed.
    assert emulator.functions(app, timeout=5.0) == []
    messages = [e["message"] for e in emulator.deployment_log(app, record["id"])]
    assert any("Syncing 0 function triggers" in m for m in messages)


def test_deployments_to_two_apps_run_at_once(emulator: RunningEmulator) -> None:
    first, second = emulator.create_app(), emulator.create_app()
    for app in (first, second):
        emulator.add_fault(kind="hold", app=app, stages=["building"])
    ids = {}
    for app in (first, second):
        answer = emulator.deploy(app, emulator.v2_app(HELLO),
                                 query="isAsync=true&trackDeploymentProgress=true")
        assert answer.status_code == 202
        ids[app] = answer.headers["SCM-DEPLOYMENT-ID"]
    for app in (first, second):  # both are past extraction and running at the same time
        emulator.wait_for_deployment(app, ids[app], until=lambda r: not r["complete"])
        assert emulator.kudu("GET", app, "/api/isdeploying").json() == {"value": "True"}
    for app in (first, second):
        emulator.release(app)
    for app in (first, second):
        assert emulator.wait_for_deployment(app, ids[app])["status"] == 4


def test_two_deployments_to_one_app_give_one_409(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["pending"])
    package = emulator.v2_app(HELLO)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: emulator.deploy(app, package), range(2)))
    assert sorted(a.status_code for a in answers) == [202, 409]
    emulator.release(app)
    deadline = time.monotonic() + 30
    while emulator.kudu("GET", app, "/api/isdeploying").json()["value"] == "True":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [d["status"] for d in emulator.kudu("GET", app, "/api/deployments").json()] == [4]


def test_slot_deployments_are_their_own(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.create_slot(app, "staging")
    record = emulator.deploy_and_wait(app, emulator.v2_app(HELLO), slot="staging")
    assert record["status"] == 4
    assert record["url"].startswith(f"{emulator.scm_url(app, 'staging')}/api/deployments/")
    assert emulator.kudu("GET", app, "/api/deployments").json() == []
    answer = requests.get(f"{emulator.site_url(app, 'staging')}/api/hello",
                          verify=emulator.ca_bundle, timeout=60)
    assert answer.text == "hello"
    assert requests.get(f"{emulator.site_url(app)}/api/hello", verify=emulator.ca_bundle,
                        timeout=60).status_code == 404


def test_run_from_a_package_url_refuses_deployments(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.set_settings(app, {"WEBSITE_RUN_FROM_PACKAGE": "https://example.invalid/p.zip"})
    answer = emulator.deploy(app, emulator.v2_app(HELLO))
    assert answer.status_code == 409
    assert "Run-From-Zip is set to a remote URL" in answer.text
    assert emulator.kudu("GET", app, "/api/deployments").json() == []


SLOW = '''
import time

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="slow")
def slow(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(float(req.params.get("s", "3")))
    return func.HttpResponse("slept")
'''


def test_a_slow_function_blocks_nothing_else(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    assert emulator.deploy_and_wait(app, emulator.v2_app(SLOW))["status"] == 4
    url = f"{emulator.site_url(app)}/api/slow"
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(requests.get, url, params={"s": "3"}, verify=emulator.ca_bundle,
                             timeout=60) for _ in range(2)]
        time.sleep(0.3)
        for _ in range(5):  # ARM and Kudu answer while both functions still run
            assert emulator.arm("GET", emulator.site_path(app)).status_code == 200
            assert emulator.kudu("GET", app, "/api/isdeploying").status_code == 200
        assert not any(call.done() for call in calls)
        assert [call.result().text for call in calls] == ["slept", "slept"]
