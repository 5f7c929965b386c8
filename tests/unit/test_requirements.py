from __future__ import annotations

from pathlib import Path

import pytest

from azpublish.errors import ProjectError
from azpublish.redact import forget_secrets, redact
from azpublish.requirements import (
    check_buildable,
    credential_lines,
    logical_lines,
    mirror_without_left_out,
    packaged_copies,
    project_name,
    read_requirements,
)


def test_logical_lines_join_continuations_and_drop_comments() -> None:
    text = "# header\nrequests>=2 \\\n    --hash=sha256:abc  # pinned\n\nsix#not-a-comment\n"
    assert logical_lines(text) == [(2, "requests>=2      --hash=sha256:abc"),
                                   (5, "six#not-a-comment")]


@pytest.mark.parametrize(("line", "name"), [
    ("Requests[socks]>=2.31 ; python_version>'3.8'", "requests"),
    ("azure_functions_worker==1.0", "azure-functions-worker"),
    ("numpy==1.26 --hash=sha256:abc", "numpy"),
    ("--index-url https://example.test/simple", None),
    ("-e ./libs/mylib", None),
    ("./libs/mylib", None),
    ("mypkg @ file:///tmp/mypkg", "mypkg"),
])
def test_project_name(line: str, name: str | None) -> None:
    assert project_name(line) == name


def test_includes_are_followed_relative_to_their_file(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "requirements.txt").write_text("-r reqs/base.txt\n-c constraints.txt\nsix\n")
    (tmp_path / "reqs" / "base.txt").write_text("--requirement=more.txt\nrequests\n")
    (tmp_path / "reqs" / "more.txt").write_text("attrs\n")
    (tmp_path / "constraints.txt").write_text("attrs<30\n")
    reqs = read_requirements(tmp_path / "requirements.txt")
    assert [p.name for p in reqs.files] == ["requirements.txt", "base.txt", "more.txt",
                                            "constraints.txt"]
    assert reqs.names == ("attrs", "requests", "attrs", "six")
    assert not reqs.empty


def test_missing_include_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n\n-r nope.txt\n")
    with pytest.raises(ProjectError, match="'nope.txt' does not exist") as info:
        read_requirements(tmp_path / "requirements.txt")
    assert info.value.where == f"{tmp_path / 'requirements.txt'}:3"


def test_include_loop(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r a.txt\n")
    (tmp_path / "a.txt").write_text("-r requirements.txt\n")
    with pytest.raises(ProjectError, match="loop"):
        read_requirements(tmp_path / "requirements.txt")


def test_the_worker_is_left_out_wherever_it_is_listed(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "requirements.txt").write_text("-r ../common.txt\nsix\n")
    (tmp_path / "common.txt").write_text(
        "\ufeffpackaging\nAzure_Functions_Worker==1.0 \\\n  --hash=sha256:00\n")
    requirements = read_requirements(tmp_path / "app" / "requirements.txt")
    assert requirements.names == ("packaging", "six")
    assert [(line.file.name, line.lineno) for line in requirements.left_out] == [
        ("common.txt", 2)]
    copies = mirror_without_left_out(requirements, tmp_path / "mirror")
    # The same layout, so that "-r ../common.txt" still resolves from the copy.
    assert copies == {tmp_path / "app" / "requirements.txt":
                      tmp_path / "mirror" / "app" / "requirements.txt",
                      tmp_path / "common.txt": tmp_path / "mirror" / "common.txt"}
    assert (tmp_path / "mirror" / "app" / "requirements.txt").read_text() == (
        "-r ../common.txt\nsix\n")
    rewritten = (tmp_path / "mirror" / "common.txt").read_text().splitlines()
    assert rewritten[0] == "packaging"
    assert all(line.startswith("# left out by azpublish") for line in rewritten[1:])
    assert read_requirements(tmp_path / "mirror" / "app" / "requirements.txt").left_out == ()


def test_nothing_is_copied_when_nothing_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    requirements = read_requirements(tmp_path / "requirements.txt")
    assert mirror_without_left_out(requirements, tmp_path / "mirror") == {}
    assert not (tmp_path / "mirror").exists()


def test_only_options_is_empty(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# nothing\n--prefer-binary\n")
    assert read_requirements(tmp_path / "requirements.txt").empty
    assert read_requirements(tmp_path / "absent.txt").empty


def test_index_credentials_in_requirements_are_registered(tmp_path: Path) -> None:
    forget_secrets()
    (tmp_path / "requirements.txt").write_text(
        "--extra-index-url https://user:req-file-secret@idx.test/simple\nsix\n")
    read_requirements(tmp_path / "requirements.txt")
    assert "req-file-secret" not in redact("echo req-file-secret")
    forget_secrets()


def test_includes_outside_the_app_are_inlined_for_the_package(tmp_path: Path) -> None:
    """A monorepo's shared pins: the server reads only the package, so they go inline, and
    what they include from inside the app is re-based to the packaged file's folder."""
    app = tmp_path / "src" / "orders"
    (app / "requirements").mkdir(parents=True)
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "common.txt").write_text(
        "six==1.17.0\nazure-functions-worker\n-r ../src/orders/requirements/extra.txt\n")
    (app / "requirements" / "extra.txt").write_text("packaging==24.0\n")
    (app / "requirements.txt").write_text("azure-functions\n-r ../../requirements/common.txt\n")
    requirements = read_requirements(app / "requirements.txt")
    copies = packaged_copies(requirements, app, tmp_path / "copies")
    assert list(copies) == [app / "requirements.txt"]  # extra.txt is packaged as it is
    lines = copies[app / "requirements.txt"].read_text().splitlines()
    assert lines[0] == "azure-functions"
    assert lines[1].startswith("# -r ../../requirements/common.txt: inlined by azpublish")
    assert lines[2] == "six==1.17.0"
    assert lines[3].startswith("# left out by azpublish")
    assert lines[4] == "-r requirements/extra.txt"


def test_a_constraints_file_outside_the_app_is_refused_for_the_package(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "pins.txt").write_text("six==1.17.0\n")
    (tmp_path / "app" / "requirements.txt").write_text("six\n-c ../pins.txt\n")
    requirements = read_requirements(tmp_path / "app" / "requirements.txt")
    with pytest.raises(ProjectError, match="constraints file outside the app") as info:
        packaged_copies(requirements, tmp_path / "app", tmp_path / "copies")
    assert info.value.where == f"{tmp_path / 'app' / 'requirements.txt'}:2"


@pytest.mark.parametrize(("line", "problem"), [
    ("-e /etc", "/etc is outside the app folder"),
    ("--editable=../pkg", "../pkg is outside the app folder"),
    ("../pkg", "../pkg is outside the app folder"),
    ("libs/../../elsewhere", "is outside the app folder"),
    ("./missing", "missing does not exist in the app folder"),
    ("./dist/app-1.0-py3-none-any.whl", "does not exist in the app folder"),
    ("requests>>=2", "not a requirement pip can read"),
    ("requests ==", "not a requirement pip can read"),
])
def test_requirements_no_build_can_install_are_refused(tmp_path: Path, line: str,
                                                       problem: str) -> None:
    (tmp_path / "requirements.txt").write_text(f"six==1.16\n{line}\n")
    with pytest.raises(ProjectError) as caught:
        check_buildable(read_requirements(tmp_path / "requirements.txt"), tmp_path)
    assert f"requirements.txt:2: {line!r}: " in caught.value.what and problem in caught.value.what
    assert "six" not in caught.value.what  # only the lines at fault are named


@pytest.mark.parametrize("line", [
    "requests==2.31 --hash=sha256:abc", "azure-functions; python_version >= '3.9'",
    "git+https://example.test/x.git#egg=x", "https://example.test/x-1.0-py3-none-any.whl",
    "x @ https://example.test/x.whl", "--index-url https://example.test/simple",
    "-e ./libs/mylib", "./libs/mylib", "Requests[socks]>=2.31",
])
def test_requirements_a_build_can_install_pass(tmp_path: Path, line: str) -> None:
    (tmp_path / "libs" / "mylib").mkdir(parents=True)
    (tmp_path / "requirements.txt").write_text(f"{line}\n")
    check_buildable(read_requirements(tmp_path / "requirements.txt"), tmp_path)


def test_lines_with_a_credential_in_a_url_are_found(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "--extra-index-url https://bob:tok@idx.test/simple\n"
        "--index-url https://idx.test/simple\n"
        "pkg @ https://user@files.test/pkg.whl\n"
        "six==1.16\n")
    found = credential_lines(read_requirements(tmp_path / "requirements.txt"))
    assert [line.lineno for line in found] == [1, 3]


@pytest.mark.parametrize(("text", "installs"), [
    ("six\n", True),
    ('pywin32; sys_platform == "win32"\n', False),
    ('tomli; python_version < "3.11"\n', False),
    ('tomli; python_version < "3.12"\n', True),
    ('pywin32; sys_platform == "win32"\nsix\n', True),
    ("--index-url https://example.invalid/simple\n", False),
    ("./vendored/pkg\n", True),  # not a name: pip judges it
])
def test_what_installs_on_the_functions_host(tmp_path: Path, text: str, installs: bool) -> None:
    (tmp_path / "requirements.txt").write_text(text)
    assert read_requirements(tmp_path / "requirements.txt").installs_on("3.11") is installs
