"""The pure parts behind Kudu's VFS, settings and log stream, and the host's status."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

import pytest

from azpublish.emulator.hostadmin import host_id
from azpublish.emulator.kudu_vfs import dotnet_time, etag, mime_of
from azpublish.emulator.model import App, Site, overlay
from azpublish.emulator.sitelogs import read_new
from azpublish.emulator.vfs_paths import SiteRoots, VfsRefused, resolve


def _roots(tmp_path: Path) -> SiteRoots:
    site = tmp_path / "site"
    (site / "wwwroot").mkdir(parents=True)
    return SiteRoots(wwwroot=site / "wwwroot", log_files=site / "LogFiles")


def test_vfs_paths_map_wwwroot_and_logfiles_and_list_their_parents(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    target = resolve(roots, "/site/wwwroot/a/b.txt")
    assert target.real == roots.wwwroot / "a" / "b.txt" and target.root == roots.wwwroot
    assert target.virtual == PurePosixPath("/home/site/wwwroot/a/b.txt")
    assert (target.relative, target.slash, target.in_wwwroot) == ("site/wwwroot/a/b.txt",
                                                                  False, True)
    assert resolve(roots, "/site/wwwroot/").is_root
    logs = resolve(roots, "LogFiles/kudu/")
    assert logs.real == roots.log_files / "kudu" and logs.slash and not logs.in_wwwroot
    home = resolve(roots, "")
    assert (home.real, home.children, home.slash) == (None, ("LogFiles", "site"), True)
    assert resolve(roots, "/site").children == ("wwwroot",)


@pytest.mark.parametrize(("raw", "writing", "status"), [
    ("/site/wwwroot/../x", False, 400), ("/site/./wwwroot/", False, 400),
    ("/site/wwwroot/a\\b", False, 400), ("/site/wwwroot/a\x00", True, 400),
    ("/data/x", False, 404), ("/data/x", True, 403), ("/Site/WWWRoot/", False, 404),
])
def test_vfs_paths_refuse_what_would_leave_home(tmp_path: Path, raw: str, writing: bool,
                                                status: int) -> None:
    with pytest.raises(VfsRefused) as refused:
        resolve(_roots(tmp_path), raw, writing=writing)
    assert refused.value.status == status and refused.value.message


def test_vfs_paths_do_not_follow_links_out(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    (roots.wwwroot / "out").symlink_to(tmp_path)
    (roots.wwwroot / "inner").mkdir()
    (roots.wwwroot / "in").symlink_to(roots.wwwroot / "inner")
    with pytest.raises(VfsRefused) as refused:
        resolve(roots, "/site/wwwroot/out/x")
    assert refused.value.status == 403
    assert resolve(roots, "/site/wwwroot/in/x").real == roots.wwwroot / "in" / "x"


def test_kudu_shapes_of_times_etags_and_types(tmp_path: Path) -> None:
    assert dotnet_time(1_700_000_000_123_456_700) == "2023-11-14T22:13:20.1234567+00:00"
    assert dotnet_time(1_700_000_000_100_000_000) == "2023-11-14T22:13:20.1+00:00"
    assert dotnet_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20+00:00"
    path = tmp_path / "f"
    path.write_text("x")
    os.utime(path, ns=(0, 0))  # 1970-01-01: .NET's 621355968000000000 ticks, little-endian
    assert etag(path.stat()) == f'"{(621355968000000000).to_bytes(8, "little").hex()}"'
    assert (mime_of("a.JSON"), mime_of("a.md"), mime_of("a.unknownext")) == \
        ("application/json", "text/plain", "application/octet-stream")


def test_overlay_matches_names_in_any_case_and_keeps_the_first_casing() -> None:
    assert overlay({"SCM_X": "1", "Y": "2"}, {"scm_x": "3", "z": "4"}) == \
        {"SCM_X": "3", "Y": "2", "z": "4"}


def test_read_new_gives_whole_lines_once_and_restarts_a_file_begun_afresh(
        tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("old\n")
    offsets = {log: log.stat().st_size}
    assert read_new([log], offsets) == []
    with log.open("a") as handle:
        handle.write("one\ntwo\nhalf")
    assert read_new([log], offsets) == ["one", "two"]
    with log.open("a") as handle:
        handle.write(" done\n")
    assert read_new([log], offsets) == ["half done"]
    log.write_text("new\n")  # moved away and begun afresh: shorter than where we were
    assert read_new([log], offsets) == ["new"]
    fresh = tmp_path / "b.log"
    fresh.write_text("first\n")
    assert read_new([log, fresh], offsets) == ["first"]


def _site(app: str, plan: str, slot: str | None = None) -> tuple[App, Site]:
    site = Site(app=app, slot=slot, settings={}, publishing_password="p",
                linux_fx_version="", host_keys={})
    made = App(name=app, resource_group="rg", plan=plan,  # type: ignore[arg-type]
               python="3.11", location="here", created="now", sites={slot or "": site})
    return made, site


def test_host_ids_follow_the_functions_host() -> None:
    assert host_id(*_site("Short", "premium")) == "short"
    assert host_id(*_site("a" * 31 + "-tail", "dedicated")) == "a" * 31  # cut, no trailing -
    assert host_id(*_site("App", "dedicated", "Staging")) == "app-staging"
    # Flex: .NET's Guid over the MD5 of the name (its first three fields little-endian).
    digest = hashlib.md5(b"flexy", usedforsecurity=False).digest()
    dotnet = digest[3::-1] + digest[5:3:-1] + digest[7:5:-1] + digest[8:]
    assert host_id(*_site("Flexy", "flex")) == dotnet.hex()
