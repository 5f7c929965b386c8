from __future__ import annotations

from pathlib import Path

import pytest

from azpublish.errors import ProjectError
from azpublish.redact import forget_secrets, redact
from azpublish.requirements import logical_lines, project_name, read_requirements


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


def test_worker_is_refused_in_an_include(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r inc.txt\n")
    (tmp_path / "inc.txt").write_text("six\nazure-functions-worker\n")
    with pytest.raises(ProjectError, match="azure-functions-worker must not be listed") as info:
        read_requirements(tmp_path / "requirements.txt")
    assert info.value.where == f"{tmp_path / 'inc.txt'}:2"


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
