"""Kudu's VFS: the site's /home (site/wwwroot and LogFiles) read, written and deleted over HTTPS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import HELLO, HOST_JSON, RunningEmulator

pytestmark = pytest.mark.integration
DOTNET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?\+00:00$")
KUDU_ETAG = re.compile(r'^"[0-9a-f]{16}"$')


def _vfs(emulator: RunningEmulator, method: str, app: str, path: str, *,
         slot: str | None = None, **kwargs: Any) -> requests.Response:
    return emulator.kudu(method, app, f"/api/vfs/{path}", slot=slot, allow_redirects=False,
                         **kwargs)


def _wwwroot(emulator: RunningEmulator, app: str, slot: str | None = None) -> Path:
    site = f"slot-{slot}" if slot else "production"
    return emulator.state_dir / "apps" / app / "sites" / site / "wwwroot"


def test_home_and_the_deployed_app_are_listed_as_kudu_lists_them(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.deploy_and_wait(app, emulator.v2_app(HELLO))
    scm = emulator.scm_url(app)
    home = _vfs(emulator, "GET", app, "")
    assert home.status_code == 200
    assert [(e["name"], e["mime"], e["path"]) for e in home.json()] == [
        ("LogFiles", "inode/directory", "/home/LogFiles"),
        ("site", "inode/directory", "/home/site")]
    assert home.json()[1]["href"] == f"{scm}/api/vfs/site/"
    site = _vfs(emulator, "GET", app, "site/").json()
    assert [e["name"] for e in site] == ["wwwroot"]
    listed = {e["name"]: e for e in _vfs(emulator, "GET", app, "site/wwwroot/").json()}
    assert {"host.json", "function_app.py"} <= set(listed)
    host = listed["host.json"]
    assert host["size"] == len(HOST_JSON) and host["mime"] == "application/json"
    assert host["href"] == f"{scm}/api/vfs/site/wwwroot/host.json"
    assert host["path"] == "/home/site/wwwroot/host.json"
    assert DOTNET_TIME.match(host["mtime"]) and DOTNET_TIME.match(host["crtime"])
    assert set(host) == {"name", "size", "mtime", "crtime", "mime", "href", "path"}


def test_files_answer_their_bytes_with_an_etag_and_folders_want_a_slash(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.deploy_and_wait(app, emulator.v2_app(HELLO))
    scm = emulator.scm_url(app)
    folder = _vfs(emulator, "GET", app, "site/wwwroot")
    assert folder.status_code == 307
    assert folder.headers["Location"] == f"{scm}/api/vfs/site/wwwroot/"
    assert _vfs(emulator, "GET", app, "site").headers["Location"] == f"{scm}/api/vfs/site/"
    got = _vfs(emulator, "GET", app, "site/wwwroot/function_app.py")
    assert got.status_code == 200 and got.text == HELLO
    tag = got.headers["ETag"]
    assert KUDU_ETAG.match(tag)
    again = _vfs(emulator, "GET", app, "site/wwwroot/function_app.py",
                 headers={"If-None-Match": tag})
    assert (again.status_code, again.content) == (304, b"")
    head = _vfs(emulator, "HEAD", app, "site/wwwroot/host.json")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(HOST_JSON))
    slashed = _vfs(emulator, "GET", app, "site/wwwroot/host.json/")
    assert slashed.status_code == 307
    assert slashed.headers["Location"] == f"{scm}/api/vfs/site/wwwroot/host.json"
    missing = _vfs(emulator, "GET", app, "site/wwwroot/nope.txt")
    assert (missing.status_code, missing.text) == (404, "'/home/site/wwwroot/nope.txt' not found.")


def test_put_creates_files_and_replaces_them_only_with_if_match(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    created = _vfs(emulator, "PUT", app, "site/wwwroot/notes/today.txt", data=b"first")
    assert created.status_code == 201 and KUDU_ETAG.match(created.headers["ETag"])
    first = created.headers["ETag"]
    assert (_wwwroot(emulator, app) / "notes" / "today.txt").read_bytes() == b"first"
    assert _vfs(emulator, "GET", app, "site/wwwroot/notes/today.txt").headers["ETag"] == first
    bare = _vfs(emulator, "PUT", app, "site/wwwroot/notes/today.txt", data=b"second")
    assert bare.status_code == 412 and "If-Match" in bare.text
    wrong = _vfs(emulator, "PUT", app, "site/wwwroot/notes/today.txt", data=b"second",
                 headers={"If-Match": '"0000000000000000"'})
    assert wrong.status_code == 412 and wrong.headers["ETag"] == first
    replaced = _vfs(emulator, "PUT", app, "site/wwwroot/notes/today.txt", data=b"second",
                    headers={"If-Match": first})
    assert replaced.status_code == 204 and replaced.headers["ETag"] != first
    stale = _vfs(emulator, "PUT", app, "site/wwwroot/notes/today.txt", data=b"third",
                 headers={"If-Match": first})
    assert stale.status_code == 412
    forced = _vfs(emulator, "PUT", app, "site/wwwroot/notes/today.txt", data=b"third",
                  headers={"If-Match": "*"})
    assert forced.status_code == 204
    assert _vfs(emulator, "GET", app, "site/wwwroot/notes/today.txt").content == b"third"


def test_put_with_a_slash_makes_a_folder(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    assert _vfs(emulator, "PUT", app, "site/wwwroot/data/cache/").status_code == 201
    assert (_wwwroot(emulator, app) / "data" / "cache").is_dir()
    again = _vfs(emulator, "PUT", app, "site/wwwroot/data/cache/")
    assert again.status_code == 409
    assert _vfs(emulator, "PUT", app, "site/wwwroot/data", data=b"x").status_code == 409
    assert _vfs(emulator, "GET", app, "site/wwwroot/data/cache/").json() == []


def test_delete_needs_if_match_for_files_and_empty_folders(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    tag = _vfs(emulator, "PUT", app, "site/wwwroot/a/b.txt", data=b"b").headers["ETag"]
    assert _vfs(emulator, "DELETE", app, "site/wwwroot/a/b.txt").status_code == 412
    stale = _vfs(emulator, "DELETE", app, "site/wwwroot/a/b.txt",
                 headers={"If-Match": '"0000000000000000"'})
    assert stale.status_code == 409 and stale.headers["ETag"] == tag  # 409 here, as on Kudu
    full = _vfs(emulator, "DELETE", app, "site/wwwroot/a/")
    assert full.status_code == 409 and "not empty" in full.text
    assert _vfs(emulator, "DELETE", app, "site/wwwroot/a/b.txt",
                headers={"If-Match": tag}).status_code == 200
    assert _vfs(emulator, "GET", app, "site/wwwroot/a/b.txt").status_code == 404
    assert _vfs(emulator, "DELETE", app, "site/wwwroot/a/").status_code == 200
    assert not (_wwwroot(emulator, app) / "a").exists()
    _vfs(emulator, "PUT", app, "site/wwwroot/tree/leaf.txt", data=b"x")
    assert _vfs(emulator, "DELETE", app, "site/wwwroot/tree/?recursive=true").status_code == 200
    assert not (_wwwroot(emulator, app) / "tree").exists()
    assert _vfs(emulator, "DELETE", app, "site/wwwroot/gone.txt").status_code == 404
    root = _vfs(emulator, "DELETE", app, "site/wwwroot/?recursive=true")
    assert root.status_code == 403 and _wwwroot(emulator, app).is_dir()


def test_paths_that_leave_the_site_are_refused(emulator: RunningEmulator,
                                               tmp_path: Path) -> None:
    app = emulator.create_app()
    site_dir = _wwwroot(emulator, app).parent
    for path in ("site/wwwroot/%2e%2e/%2e%2e/", "site/wwwroot/%2e%2e/deployments/",
                 "site/wwwroot/a%5c..%5c..%5capp.json", "LogFiles/%2e%2e/wwwroot/"):
        refused = _vfs(emulator, "GET", app, path)
        assert refused.status_code == 400, path
    escape = _vfs(emulator, "PUT", app, "site/wwwroot/%2e%2e/escaped.txt", data=b"x")
    assert escape.status_code == 400 and not (site_dir / "escaped.txt").exists()
    other = _vfs(emulator, "GET", app, "data/")
    assert other.status_code == 404 and "/home/site/wwwroot" in other.text
    assert _vfs(emulator, "PUT", app, "data/x.txt", data=b"x").status_code == 403
    assert _vfs(emulator, "PUT", app, "site/deployments/x.json", data=b"{}").status_code == 403
    # A symbolic link inside wwwroot that points outside is not followed, either way.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("keep out")
    (_wwwroot(emulator, app) / "link").symlink_to(outside)
    assert _vfs(emulator, "GET", app, "site/wwwroot/link/secret.txt").status_code == 403
    assert _vfs(emulator, "PUT", app, "site/wwwroot/link/new.txt", data=b"x",
                headers={"If-Match": "*"}).status_code == 403
    assert _vfs(emulator, "DELETE", app, "site/wwwroot/link/secret.txt",
                headers={"If-Match": "*"}).status_code == 403
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "keep out"


def test_wwwroot_is_not_written_while_a_deployment_holds_the_site(
        emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.add_fault(kind="hold", app=app, stages=["pending"])
    started = emulator.deploy(app, emulator.v2_app(HELLO),
                              query="isAsync=true&trackDeploymentProgress=true")
    assert started.status_code == 202
    refused = _vfs(emulator, "PUT", app, "site/wwwroot/late.txt", data=b"x")
    assert refused.status_code == 409 and "deployment is in progress" in refused.text
    assert _vfs(emulator, "PUT", app, "LogFiles/mine.txt", data=b"x").status_code == 201
    emulator.release(app)
    emulator.wait_for_deployment(app, emulator.started_id(started))
    assert _vfs(emulator, "PUT", app, "site/wwwroot/late.txt", data=b"x").status_code == 201
    names = {e["name"] for e in _vfs(emulator, "GET", app, "site/wwwroot/").json()}
    assert {"late.txt", "function_app.py"} <= names


def test_a_slot_has_its_own_files(emulator: RunningEmulator) -> None:
    app = emulator.create_app()
    emulator.create_slot(app, "staging")
    assert _vfs(emulator, "PUT", app, "site/wwwroot/only-here.txt", data=b"s",
                slot="staging").status_code == 201
    assert (_wwwroot(emulator, app, "staging") / "only-here.txt").read_bytes() == b"s"
    assert _vfs(emulator, "GET", app, "site/wwwroot/only-here.txt").status_code == 404
    listed = _vfs(emulator, "GET", app, "site/wwwroot/", slot="staging").json()
    assert listed[0]["href"].startswith(f"{emulator.scm_url(app, 'staging')}/api/vfs/")
