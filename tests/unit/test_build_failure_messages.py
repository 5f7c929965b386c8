"""Reading pip's and uv's failures, and the messages made from them.

Every installer text below is real output, recorded from pip 26.3 and uv 0.13.9 installing for
CPython 3.12 (3.11 in the build container) from a loopback pypiserver and a find-links folder
holding the packages of ``tests/functional/test_build_failure_messages.py``; the hashes are
those of that run. The functional tests run the same cases with the installers themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from azpublish.builders import module_hints
from azpublish.builders.availability import (
    Inventory,
    Missing,
    explain,
    find_build_failure,
    find_missing,
    parse_inventory,
)
from azpublish.builders.preflight import missing_module_fix
from azpublish.builders.wheels import FIX_NATIVE
from azpublish.runtime import Target
from azpublish.toolchain.platform_tags import target_tags

T312 = Target("3.12")
INDEX = "http://127.0.0.1:45457"

UV_OLD_PIN = """\
Using CPython 3.11.7 interpreter at: /work/main/.venv/bin/python
error: No solution found when resolving dependencies
  cause: Because azp-oldpin-probe==1.0 has no wheels with a matching Python ABI tag (e.g., `cp312`) and you require azp-oldpin-probe==1.0, we can conclude that your requirements are unsatisfiable.

hint: You require CPython 3.12 (`cp312`), but we only found wheels for `azp-oldpin-probe` (v1.0) with the following Python ABI tags: `cp38`, `cp39`, `cp310`"""  # noqa: E501
UV_DEPENDENCY = """\
error: No solution found when resolving dependencies
  cause: Because azp-winonly-probe==306 has no wheels with a matching platform tag (e.g., `manylinux_2_36_x86_64`) and only azp-winonly-probe==306 is available, we can conclude that all versions of azp-winonly-probe cannot be used.
         And because all versions of azp-wmi-probe depend on azp-winonly-probe and you require azp-wmi-probe, we can conclude that your requirements are unsatisfiable.

hint: Wheels are available for `azp-winonly-probe` (v306) on the following platforms: `win32`, `win_amd64`"""  # noqa: E501
UV_UNKNOWN_ON_INDEX = """\
error: No solution found when resolving dependencies
  cause: Because azp-nosuch-probe was not found in the package registry and you require azp-nosuch-probe, we can conclude that your requirements are unsatisfiable."""  # noqa: E501
UV_UNKNOWN_IN_LINKS = """\
error: No solution found when resolving dependencies
  cause: Because azp-nosuch-probe was not found in the provided package locations and you require azp-nosuch-probe, we can conclude that your requirements are unsatisfiable."""  # noqa: E501
UV_NO_SUCH_PIN = """\
error: No solution found when resolving dependencies
  cause: Because there is no version of azp-oldpin-probe==1.5 and you require azp-oldpin-probe==1.5, we can conclude that your requirements are unsatisfiable."""  # noqa: E501
UV_NOTHING_IN_RANGE = """\
error: No solution found when resolving dependencies
  cause: Because only azp-oldpin-probe<=2.0 is available and you require azp-oldpin-probe>=3, we can conclude that your requirements are unsatisfiable."""  # noqa: E501
PIP_DEPENDENCY = """\
Looking in links: /tmp/fm/links, /tmp/azpublish-wheelhouse-eb2twgda
Processing /tmp/fm/links/azp_wmi_probe-1.5-py3-none-any.whl (from -r /tmp/fm/app-pip/requirements.txt (line 1))
ERROR: Could not find a version that satisfies the requirement azp-winonly-probe (from azp-wmi-probe) (from versions: none)
ERROR: No matching distribution found for azp-winonly-probe (from azp-wmi-probe)"""  # noqa: E501
PIP_PIN = """\
ERROR: Could not find a version that satisfies the requirement azp-oldpin-probe==1.0 (from versions: none)
ERROR: No matching distribution found for azp-oldpin-probe==1.0"""  # noqa: E501
UV_BUILD_FAILED = """\
   Building azp-winbuild-probe==1.0
error: Failed to build `azp-winbuild-probe==1.0`
  cause: The build backend returned an error
  cause: Call to `backend.build_wheel` failed (exit status: 1)
hint: Build failures usually indicate a problem with the package or the build environment"""
PIP_BUILD_FAILED = """\
  note: This error originates from a subprocess, and is likely not a problem with pip.
error: metadata-generation-failed

\N{MULTIPLICATION SIGN} Encountered error while generating package metadata.
╰─> azp-winbuild-probe

note: This is an issue with the package mentioned above, not pip."""

# pip download -vv --no-deps "NAME===azpublish-lists-files-only", its lines naming files.
_SKIP = ("  Skipping link: none of the wheel's tags ({tags}) are compatible (run pip debug "
         "--verbose to show compatible tags): " + INDEX + "/packages/{file}#sha256={sha} "
         "(from " + INDEX + "/simple/{project}/)")
LIST_OLD_PIN = [
    f"Fetching project page and analyzing links: {INDEX}/simple/azp-oldpin-probe/",
    f"Fetched page {INDEX}/simple/azp-oldpin-probe/ as text/html; charset=UTF-8",
    *(_SKIP.format(tags=f"{py}-{py}-manylinux2014_x86_64, {py}-{py}-manylinux_2_17_x86_64",
                   file=f"azp_oldpin_probe-{version}-{py}-{py}-manylinux_2_17_x86_64."
                        "manylinux2014_x86_64.whl", sha=sha, project="azp-oldpin-probe")
      for version, py, sha in [
          ("1.0", "cp310", "c6675097ed66e196a2c4cc47e262df70539cbe1b3ced850edb57d3ca8d786e30"),
          ("1.0", "cp38", "7dcf97bc1b485b58a94c55e6f27d2a250c44d094091180d011d6c5ecdbe93652"),
          ("1.0", "cp39", "0603985a1d9a63c8d296f463d953c58ddc0c8fc21f05a59fc9321e60d1aa4c17"),
          ("2.0", "cp312", "91f7438a1acc82d8aaa81039c8a0e717341065da3d0a982f111b2758c4c294ca"),
          ("2.0", "cp313", "f80659a40ab962d7c5161e74d4e8cf6bf6e1fb43dab71f4e11b925964c093883")]),
    f"Skipping link: not a file: {INDEX}/simple/azp-oldpin-probe/",
    "Given no hashes to check 0 links for project 'azp-oldpin-probe': discarding no candidates",
]
LIST_WINDOWS_ONLY = [
    _SKIP.format(tags=tag, file=f"azp_winonly_probe-306-{tag}.whl", sha=sha,
                 project="azp-winonly-probe")
    for tag, sha in [
        ("cp311-cp311-win_amd64",
         "89e7bb9477da35370730a8b01d1e8ed7cfd732b3e4d8c72c31fd063f7df69421"),
        ("cp312-cp312-win32", "649ac099a4782c552b85a4d0aad723fe30c257f0014af8674c94fe32797df902"),
        ("cp312-cp312-win_amd64",
         "b15508186df983033a19d0b49a90b9e6ed1398553dac57075dc8f1f359acf02a")]]
LIST_SDIST_ONLY = [
    f"  Found link {INDEX}/packages/azp_winbuild_probe-1.0.tar.gz#sha256=e1ea45346c03d19c7cebea03"
    f"c202f0801156bfd466ed07c644309bc04e449399 (from {INDEX}/simple/azp-winbuild-probe/), "
    "version: 1.0"]
LIST_FIND_LINKS = [
    "Skipping link: No binaries permitted for azp-oldpin-probe: file:///tmp/fm/links/"
    "azp_oldpin_probe-2.0-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "Found link file:///tmp/fm/links/azp_wmi_probe-1.5-py3-none-any.whl, version: 1.5",
    "Local files found: /tmp/fm/links/azp_wmi_probe-1.5-py3-none-any.whl"]
LIST_ABSENT = [
    f'{INDEX} "GET /simple/azp-nosuch-probe/ HTTP/1.1" 404 766',
    f"Could not fetch URL {INDEX}/simple/azp-nosuch-probe/: 404 Client Error: Not Found for url: "
    f"{INDEX}/simple/azp-nosuch-probe/ - skipping",
    f"Skipping link: not a file: {INDEX}/simple/azp-nosuch-probe/"]
LIST_REFUSED = [
    "Could not fetch URL https://reader:****@127.0.0.1:9/simple/azp-oldpin-probe/: connection "
    "error: [Errno 111] Connection refused - skipping"]


def _lines(text: str) -> list[str]:
    return text.splitlines()


# -- what the installers say --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "installer", "expected"), [
    (UV_OLD_PIN, "uv", Missing("azp-oldpin-probe", "azp-oldpin-probe==1.0", exists=True)),
    (UV_DEPENDENCY, "uv", Missing("azp-winonly-probe", "azp-winonly-probe==306", exists=True,
                                  required_by="azp-wmi-probe")),
    (UV_UNKNOWN_ON_INDEX, "uv", Missing("azp-nosuch-probe", "azp-nosuch-probe", exists=False)),
    (UV_UNKNOWN_IN_LINKS, "uv", Missing("azp-nosuch-probe", "azp-nosuch-probe", exists=False)),
    (UV_NO_SUCH_PIN, "uv", Missing("azp-oldpin-probe", "azp-oldpin-probe==1.5", exists=False)),
    (UV_NOTHING_IN_RANGE, "uv", Missing("azp-oldpin-probe", "azp-oldpin-probe>=3",
                                        exists=False)),
    (PIP_PIN, "pip", Missing("azp-oldpin-probe", "azp-oldpin-probe==1.0", exists=True)),
    (PIP_DEPENDENCY, "pip", Missing("azp-winonly-probe", "azp-winonly-probe", exists=True,
                                    required_by="azp-wmi-probe")),
])
def test_the_package_and_who_requires_it_are_read(text: str, installer: str,
                                                   expected: Missing) -> None:
    assert find_missing(_lines(text), installer) == expected


def test_a_failed_source_build_is_named() -> None:
    assert find_build_failure(_lines(UV_BUILD_FAILED), "uv") == "azp-winbuild-probe"
    assert find_build_failure(_lines(PIP_BUILD_FAILED), "pip") == "azp-winbuild-probe"
    assert find_build_failure(_lines(PIP_PIN), "pip") is None
    assert find_missing(_lines(UV_BUILD_FAILED), "uv") is None


# -- what the indexes hold ------------------------------------------------------------------------


def test_the_listing_gives_every_file_of_the_project() -> None:
    inventory = parse_inventory("azp-oldpin-probe", LIST_OLD_PIN)
    assert sorted((str(f.version), sorted(t.interpreter for t in f.tags))
                  for f in inventory.files) == [
        ("1.0", ["cp310", "cp310"]), ("1.0", ["cp38", "cp38"]), ("1.0", ["cp39", "cp39"]),
        ("2.0", ["cp312", "cp312"]), ("2.0", ["cp313", "cp313"])]
    assert inventory.read_errors == ()
    sdist = parse_inventory("azp-winbuild-probe", LIST_SDIST_ONLY).files
    assert [(f.version, f.is_sdist) for f in sdist] == [(Version("1.0"), True)]


def test_files_of_other_projects_and_find_links_paths() -> None:
    # A find-links folder names files by path; only the asked-for project's files count.
    inventory = parse_inventory("azp-wmi-probe", LIST_FIND_LINKS)
    assert [str(f.version) for f in inventory.files] == ["1.5"]


def test_a_404_is_an_absent_project_and_a_refused_connection_an_unread_index() -> None:
    assert parse_inventory("azp-nosuch-probe", LIST_ABSENT) == Inventory((), ())
    refused = parse_inventory("azp-oldpin-probe", LIST_REFUSED)
    assert refused.files == ()
    assert refused.read_errors == (
        "Could not fetch URL https://***@127.0.0.1:9/simple/azp-oldpin-probe/: connection "
        "error: [Errno 111] Connection refused - skipping",)


# -- the messages -------------------------------------------------------------------------------


def _explain(missing: Missing, listing: list[str] | None, requirements: Path | None = None,
             target: Target = T312, source_fix: str | None = FIX_NATIVE) -> tuple[str, str]:
    inventory = None if listing is None else parse_inventory(missing.name, listing)
    error = explain(missing, inventory, target, target_tags(target), requirements, source_fix)
    assert error.exit_code == 3
    return error.render(), error.fix or ""


def test_an_old_pin_says_which_pythons_it_has_wheels_for() -> None:
    text, fix = _explain(find_missing(_lines(UV_OLD_PIN), "uv") or Missing("", "", True),
                         LIST_OLD_PIN)
    assert ("package 'azp-oldpin-probe' 1.0 has no wheel for Linux x86_64, CPython 3.12, "
            "glibc 2.36: its wheels are only for cp38 to cp310, and no source distribution"
            in text)
    assert fix == ("pin a version with wheels for CPython 3.12 (azp-oldpin-probe==2.0 is the "
                   "newest); a container or remote build cannot compile it: there is no source "
                   "to build")


def test_without_any_fitting_version_the_fix_says_so() -> None:
    _, fix = _explain(Missing("azp-oldpin-probe", "azp-oldpin-probe==1.0", True), LIST_OLD_PIN,
                      target=Target("3.11"), source_fix=None)
    assert fix.startswith("no version on the indexes has wheels for CPython 3.11 on Linux")


def test_a_package_with_only_a_source_distribution_keeps_the_build_advice() -> None:
    text, fix = _explain(Missing("azp-winbuild-probe", "azp-winbuild-probe", True),
                         LIST_SDIST_ONLY)
    assert "'azp-winbuild-probe' 1.0 has no wheel for" in text and "it has no wheels" in text
    assert FIX_NATIVE in fix


def test_windows_wheels_make_a_windows_only_package_even_when_unknown_by_name(
        tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six\nazp-winonly-probe==306 --hash=sha256:abc\n")
    text, fix = _explain(Missing("azp-winonly-probe", "azp-winonly-probe==306", True),
                         LIST_WINDOWS_ONLY, requirements)
    assert text.startswith(f"{requirements}: package 'azp-winonly-probe' 306 exists only for "
                           "Windows (its wheels are for win32, win_amd64), and the app runs on "
                           "Linux (Linux x86_64, CPython 3.12, glibc 2.36)")
    assert fix.startswith("list it as 'azp-winonly-probe==306; sys_platform == \"win32\"' in "
                          "requirements.txt")
    assert "--engine container" not in fix and "cannot help" in fix


def test_a_marker_already_there_is_kept(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text('pywin32==306 ; python_version >= "3.8"\n')
    _, fix = _explain(Missing("pywin32", "pywin32==306", True), [], requirements)
    assert ("'pywin32==306; (python_version >= \"3.8\") and sys_platform == \"win32\"'"
            in fix)


def test_a_windows_only_name_is_known_without_any_listing() -> None:
    text, fix = _explain(Missing("pywinpty", "pywinpty", True), None)
    assert "package 'pywinpty' exists only for Windows" in text
    assert "'pywinpty; sys_platform == \"win32\"'" in fix


def test_a_dependency_of_an_ordinary_package_is_advised_with_care(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("azp-wmi-probe>=1\n")
    missing = find_missing(_lines(UV_DEPENDENCY), "uv")
    assert missing is not None
    text, fix = _explain(missing, LIST_WINDOWS_ONLY, requirements)
    assert text.startswith(f"{requirements}: package 'azp-winonly-probe' 306 (required by "
                           "azp-wmi-probe) exists only for Windows")
    assert fix.startswith("if the app needs azp-wmi-probe only on Windows, list it as "
                          "'azp-wmi-probe>=1; sys_platform == \"win32\"'")


def test_absent_names_and_versions_are_told_apart() -> None:
    text, fix = _explain(Missing("azp-nosuch-probe", "azp-nosuch-probe", False), LIST_ABSENT)
    assert "is not on the package indexes: they have no distribution of that name" in text
    assert "neither" not in text
    text, fix = _explain(Missing("azp-oldpin-probe", "azp-oldpin-probe>=3", False), LIST_OLD_PIN)
    assert ("package 'azp-oldpin-probe' has no version >=3 on the package indexes (they have "
            "1.0, 2.0)") in text
    assert fix.endswith("the newest with wheels for CPython 3.12 on Linux is 2.0 "
                        "(azp-oldpin-probe==2.0)")


def test_an_unread_index_is_not_an_absent_package() -> None:
    text, fix = _explain(Missing("azp-oldpin-probe", "azp-oldpin-probe==1.0", True),
                         LIST_REFUSED)
    assert "could not be looked up: reading the package indexes failed (Could not fetch" in text
    assert "reader" not in text  # the credentials of the URL are masked whole
    assert "can reach them" in fix
    text, _ = _explain(Missing("azp-oldpin-probe", "azp-oldpin-probe", False), None)
    assert "was not found on the package indexes" in text


# -- modules that belong to another distribution -----------------------------------------------


@pytest.mark.parametrize("module", ["pythoncom", "win32api", "win32con", "pywintypes",
                                    "win32com.client"])
def test_pywin32_modules_name_pywin32_and_the_guard(module: str) -> None:
    top = module.split(".")[0]
    fix = missing_module_fix(module, None, T312)
    assert fix.startswith(f"{top} comes from pywin32, which exists only for Windows")
    assert 'if sys.platform == "win32"' in fix
    assert "'pywin32; sys_platform == \"win32\"'" in fix


def test_the_one_table_serves_the_import_check() -> None:
    assert missing_module_fix("yaml", None, T312) == \
        "add PyYAML to requirements.txt (it provides the module yaml)"
    assert missing_module_fix("winreg", None, T312).startswith(
        "winreg is in the standard library only on Windows")
    assert missing_module_fix("azp_unknown", None, T312) == "add azp_unknown to requirements.txt"
    assert missing_module_fix("wmi", None, T312).startswith("wmi comes from WMI, which exists")
    # Every Windows-only module maps to a distribution the engines also treat as Windows-only.
    windows_modules = [m for m, d in module_hints.MODULE_DISTRIBUTIONS.items()
                       if module_hints.is_windows_only(d)]
    assert {"pythoncom", "win32api", "winpty"} <= set(windows_modules)


def test_a_marker_is_added_to_a_requirement_as_written() -> None:
    assert module_hints.with_windows_marker("pywin32>=306") == \
        'pywin32>=306; sys_platform == "win32"'
    assert module_hints.with_windows_marker('wmi ; python_version < "3.13" or os_name == "nt"') \
        == 'wmi; (python_version < "3.13" or os_name == "nt") and sys_platform == "win32"'


def test_where_is_the_file_that_names_the_package(tmp_path: Path) -> None:
    main, included = tmp_path / "requirements.txt", tmp_path / "deps" / "windows.txt"
    included.parent.mkdir()
    main.write_text("six\n-r deps/windows.txt\n")
    included.write_text("azp-winonly-probe==306\n")
    text, _ = _explain(Missing("azp-winonly-probe", "azp-winonly-probe==306", True),
                       LIST_WINDOWS_ONLY, main)
    assert text.startswith(f"{included.resolve()}: package 'azp-winonly-probe' 306")
    # Not named anywhere (a dependency of a dependency): the main file.
    text, _ = _explain(Missing("azp-oldpin-probe", "azp-oldpin-probe==1.0", True), LIST_OLD_PIN,
                       main)
    assert text.startswith(f"{main}: package 'azp-oldpin-probe' 1.0")
