"""select_files on real trees: defaults, forced rules, attribution, symlinks, unsafe names."""

from __future__ import annotations

import gc
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import pytest

from azpublish.errors import ProjectError, UnsafePathError
from azpublish.ignore import VENV_RULE, Rule, Selection, select_files
from tests.conftest import PROJECTS
from tests.unprivileged import run_bound_by_file_modes


def make(root: Path, files: Iterable[str], funcignore: str | None = None) -> Path:
    for relative in files:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {relative}\n")
    if funcignore is not None:
        (root / ".funcignore").write_text(funcignore)
    return root


def included(selection: Selection) -> list[str]:
    return [entry.archive_path for entry in selection.included]


def ignored(selection: Selection) -> dict[str, str]:
    return {entry.path: entry.rule.describe() for entry in selection.ignored}


# --- the fixture projects -------------------------------------------------------------------


def test_fixture_project_v2() -> None:
    selection = select_files(PROJECTS / "v2-http")
    assert included(selection) == ["function_app.py", "host.json", "requirements.txt"]
    assert ignored(selection) == {
        ".funcignore": "always: /.funcignore",
        "local.settings.json": "always: local.settings.json",
        "tests/": ".funcignore:2: tests/",
    }


def test_fixture_project_v1_without_funcignore() -> None:
    selection = select_files(PROJECTS / "v1-shared")
    assert included(selection) == [
        "HttpTrigger/__init__.py", "HttpTrigger/function.json", "host.json",
        "requirements.txt", "requirements/base.txt", "shared_code/__init__.py"]
    assert selection.ignored == ()


# --- defaults, forced rules and attribution -------------------------------------------------


def test_defaults_exclude_caches_venv_and_env(tmp_path: Path) -> None:
    make(tmp_path, ["app.py", "pkg/__pycache__/m.cpython-311.pyc", "pkg/old.pyc", ".env",
                    ".venv/lib/x.py", ".pytest_cache/v", ".mypy_cache/x", "sub/.env"])
    selection = select_files(tmp_path)
    assert included(selection) == ["app.py"]
    assert ignored(selection) == {
        ".env": "default: .env",
        ".mypy_cache/": "default: .mypy_cache/",
        ".pytest_cache/": "default: .pytest_cache/",
        ".venv/": "default: .venv/",
        "pkg/__pycache__/": "default: __pycache__/",
        "pkg/old.pyc": "default: *.pyc",
        "sub/.env": "default: .env",
    }


def test_defaults_can_be_reincluded(tmp_path: Path) -> None:
    make(tmp_path, ["pkg/__pycache__/m.pyc", ".env", "keep.pyc"],
         "!__pycache__/\n!*.pyc\n!.env\n")
    assert included(select_files(tmp_path)) == [".env", "keep.pyc", "pkg/__pycache__/m.pyc"]


def test_always_rules_cannot_be_reincluded(tmp_path: Path) -> None:
    make(tmp_path, [".git/config", ".vscode/settings.json", "deep/.vscode/x", "deep/.git/HEAD",
                    "local.settings.json", "app.py"],
         "!.git/\n!.vscode/\n!local.settings.json\n!/local.settings.json\n!.funcignore\n")
    selection = select_files(tmp_path)
    assert included(selection) == ["app.py"]
    assert ignored(selection) == {
        ".funcignore": "always: /.funcignore",
        ".git/": "always: .git/",
        ".vscode/": "always: .vscode/",
        "deep/.git/": "always: .git/",
        "deep/.vscode/": "always: .vscode/",
        "local.settings.json": "always: local.settings.json",
    }


def test_local_settings_are_forced_out_at_any_depth_and_in_any_case(tmp_path: Path) -> None:
    # As func: local settings anywhere, .git and .vscode in any letter case; .funcignore is
    # only the root's own.
    make(tmp_path, ["sub/local.settings.json", "Local.Settings.json", "sub/.funcignore",
                    ".GIT/config", "pkg/.VSCode/settings.json", "pkg/ok.py"],
         "!local.settings.json\n!.git/\n")
    selection = select_files(tmp_path)
    assert included(selection) == ["pkg/ok.py", "sub/.funcignore"]
    assert ignored(selection) == {
        ".GIT/": "always: .git/", "pkg/.VSCode/": "always: .vscode/",
        "Local.Settings.json": "always: local.settings.json",
        "sub/local.settings.json": "always: local.settings.json",
        ".funcignore": "always: /.funcignore",
    }


def test_nested_funcignore_is_not_read(tmp_path: Path) -> None:
    make(tmp_path, ["sub/a.py", "sub/b.txt"])
    (tmp_path / "sub" / ".funcignore").write_text("*\n")
    assert included(select_files(tmp_path)) == ["sub/.funcignore", "sub/a.py", "sub/b.txt"]


def test_extra_excludes_apply_and_cannot_be_reincluded(tmp_path: Path) -> None:
    make(tmp_path, [".python_packages/lib/site-packages/six.py", "app.py"],
         "!.python_packages/\n")
    selection = select_files(tmp_path, extra_excludes=[(".python_packages/", "--build remote")])
    assert included(selection) == ["app.py"]
    [entry] = [e for e in selection.ignored if e.path == ".python_packages/"]
    assert entry.rule == Rule("--build remote", None, ".python_packages/")
    assert entry.rule.describe() == "--build remote: .python_packages/"


def test_last_matching_line_is_named(tmp_path: Path) -> None:
    make(tmp_path, ["a.txt", "keep.txt", "kept.txt", "build/x", "docs/y.md"],
         "# comment\n*.txt\n!k*.txt\nkeep.txt\nbuild/\n")
    selection = select_files(tmp_path)
    assert included(selection) == ["docs/y.md", "kept.txt"]
    assert ignored(selection) == {
        ".funcignore": "always: /.funcignore",
        "a.txt": ".funcignore:2: *.txt",
        "keep.txt": ".funcignore:4: keep.txt",
        "build/": ".funcignore:5: build/",
    }


def test_file_in_excluded_folder_cannot_be_reincluded(tmp_path: Path) -> None:
    make(tmp_path, ["logs/a.log", "logs/keep.log", "data/raw/1.csv", "data/raw/keep.csv"],
         "logs/\n!logs/keep.log\ndata/raw/*\n!data/raw/keep.csv\n")
    selection = select_files(tmp_path)
    assert included(selection) == ["data/raw/keep.csv"]
    assert ignored(selection)["logs/"] == ".funcignore:1: logs/"
    assert ignored(selection)["data/raw/1.csv"] == ".funcignore:3: data/raw/*"


def test_funcignore_with_crlf_bom_and_trailing_spaces(tmp_path: Path) -> None:
    make(tmp_path, ["a.txt", "b.txt", "c ", "d"])
    (tmp_path / ".funcignore").write_bytes(b"\xef\xbb\xbf*.txt  \r\n!b.txt\r\nc\\ \r\n")
    selection = select_files(tmp_path)
    assert included(selection) == ["b.txt", "d"]
    assert ignored(selection)["a.txt"] == ".funcignore:1: *.txt"
    assert ignored(selection)["c "] == ".funcignore:3: c\\ "


def test_included_and_ignored_are_sorted_as_plain_strings(tmp_path: Path) -> None:
    make(tmp_path, ["a/b", "a-b", "a.b", "B", "a b", "z.pyc", "m.pyc", "a/__pycache__/x"])
    selection = select_files(tmp_path)
    assert included(selection) == ["B", "a b", "a-b", "a.b", "a/b"]
    assert [entry.path for entry in selection.ignored] == ["a/__pycache__/", "m.pyc", "z.pyc"]


def test_file_entries_carry_size_mode_and_source(tmp_path: Path) -> None:
    make(tmp_path, ["run.sh", "data.bin"])
    (tmp_path / "run.sh").chmod(0o755)
    (tmp_path / "data.bin").write_bytes(b"x" * 1234)
    (tmp_path / "data.bin").chmod(0o644)
    by_path = {entry.archive_path: entry for entry in select_files(tmp_path).included}
    assert by_path["run.sh"].executable and not by_path["data.bin"].executable
    assert by_path["data.bin"].size == 1234
    assert by_path["data.bin"].source == (tmp_path / "data.bin").resolve()


def test_excluded_folder_is_reported_once_and_not_entered(tmp_path: Path) -> None:
    make(tmp_path, ["node_modules/a/b.js", "node_modules/c.js", "app.py"], "node_modules/\n")
    # Nothing below an excluded folder is looked at: an outside link there is harmless.
    (tmp_path / "node_modules" / "evil").symlink_to("/etc/passwd")
    (tmp_path / "node_modules" / "locked").mkdir(mode=0)
    try:
        selection = select_files(tmp_path)
    finally:
        (tmp_path / "node_modules" / "locked").chmod(0o755)
    assert included(selection) == ["app.py"]
    assert [e.path for e in selection.ignored if e.path.startswith("node")] == ["node_modules/"]


# --- virtual environments -------------------------------------------------------------------


def test_any_folder_with_pyvenv_cfg_is_excluded(tmp_path: Path) -> None:
    make(tmp_path, ["env311/pyvenv.cfg", "env311/lib/x.py", "tools/venv/pyvenv.cfg", "app.py"],
         "!env311/\n")
    selection = select_files(tmp_path)
    assert included(selection) == ["app.py"]
    assert {e.path: e.rule for e in selection.ignored if e.rule == VENV_RULE} == {
        "env311/": VENV_RULE, "tools/venv/": VENV_RULE}


def test_ignored_venv_full_of_outside_links_is_fine(tmp_path: Path) -> None:
    make(tmp_path, [".venv/pyvenv.cfg", "app.py"])
    (tmp_path / ".venv" / "python").symlink_to("/usr/bin/python3")
    (tmp_path / ".venv" / "gone").symlink_to("/nonexistent")
    assert included(select_files(tmp_path)) == ["app.py"]


# --- symbolic links -------------------------------------------------------------------------


def test_link_to_file_inside_root_is_packaged_as_its_target(tmp_path: Path) -> None:
    make(tmp_path, ["shared/util.py"])
    (tmp_path / "util_link.py").symlink_to("shared/util.py")
    by_path = {entry.archive_path: entry for entry in select_files(tmp_path).included}
    assert sorted(by_path) == ["shared/util.py", "util_link.py"]
    assert by_path["util_link.py"].source == (tmp_path / "shared" / "util.py").resolve()
    assert by_path["util_link.py"].size == len("content of shared/util.py\n")


def test_link_to_folder_inside_root_is_walked(tmp_path: Path) -> None:
    make(tmp_path, ["shared/a.py", "shared/sub/b.py", "shared/__pycache__/a.pyc"])
    (tmp_path / "Func").mkdir()
    (tmp_path / "Func" / "shared").symlink_to("../shared", target_is_directory=True)
    selection = select_files(tmp_path)
    assert included(selection) == ["Func/shared/a.py", "Func/shared/sub/b.py",
                                   "shared/a.py", "shared/sub/b.py"]
    by_path = {entry.archive_path: entry for entry in selection.included}
    assert by_path["Func/shared/sub/b.py"].source == (tmp_path / "shared/sub/b.py").resolve()
    assert "Func/shared/__pycache__/" in ignored(selection)


def test_link_to_folder_is_matched_as_a_folder(tmp_path: Path) -> None:
    make(tmp_path, ["real/a.py"], "linked/\n")
    (tmp_path / "linked").symlink_to("real", target_is_directory=True)
    assert ignored(select_files(tmp_path))["linked/"] == ".funcignore:1: linked/"


def test_link_to_folder_faces_gits_reading_of_it_as_a_link(tmp_path: Path) -> None:
    # git reads "linked" as a link (a file): "*" excludes it and "!*/" does not re-include it.
    make(tmp_path, ["real/a.py"], "*\n!*/\n!*.py\n")
    (tmp_path / "linked").symlink_to("real", target_is_directory=True)
    selection = select_files(tmp_path)
    assert included(selection) == ["real/a.py"]
    assert ignored(selection)["linked/"] == ".funcignore:1: *"


def test_link_outside_root_is_refused(tmp_path: Path) -> None:
    root = make(tmp_path / "app", ["app.py"])
    make(tmp_path, ["secret.txt"])
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UnsafePathError) as raised:
        select_files(root)
    assert raised.value.where == "leak.txt"
    assert str(tmp_path / "secret.txt") in raised.value.what
    assert raised.value.fix is not None and ".funcignore" in raised.value.fix


def test_excluded_link_outside_root_is_fine(tmp_path: Path) -> None:
    root = make(tmp_path / "app", ["app.py"], "leak.txt\n")
    (root / "leak.txt").symlink_to("/etc/hostname")
    selection = select_files(root)
    assert included(selection) == ["app.py"]
    assert ignored(selection)["leak.txt"] == ".funcignore:1: leak.txt"


def test_broken_link_is_refused(tmp_path: Path) -> None:
    make(tmp_path, ["app.py"])
    (tmp_path / "dangling").symlink_to("missing.py")
    with pytest.raises(UnsafePathError, match=r"broken symbolic link.*missing\.py") as raised:
        select_files(tmp_path)
    assert raised.value.where == "dangling"


def test_link_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one").symlink_to("two")
    (tmp_path / "two").symlink_to("one")
    with pytest.raises(UnsafePathError, match="symbolic link loop"):
        select_files(tmp_path)


def test_link_to_an_enclosing_folder_is_refused(tmp_path: Path) -> None:
    make(tmp_path, ["pkg/a.py"])
    (tmp_path / "pkg" / "again").symlink_to("..", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link loop") as raised:
        select_files(tmp_path)
    assert raised.value.where == "pkg/again"


def test_link_cannot_smuggle_in_what_always_rules_exclude(tmp_path: Path) -> None:
    make(tmp_path, ["local.settings.json", ".git/config", "env/pyvenv.cfg", "env/lib/x.py"])
    (tmp_path / "settings.json").symlink_to("local.settings.json")
    (tmp_path / "gitconfig").symlink_to(".git/config")
    (tmp_path / "lib").symlink_to("env/lib", target_is_directory=True)
    selection = select_files(tmp_path)
    assert included(selection) == []
    assert ignored(selection)["settings.json"] == "always: local.settings.json"
    assert ignored(selection)["gitconfig"] == "always: .git/"
    assert selection.ignored[[e.path for e in selection.ignored].index("lib/")].rule == VENV_RULE


def test_link_cannot_ship_what_the_defaults_or_funcignore_exclude(tmp_path: Path) -> None:
    """``app.env -> .env`` used to package the secrets of .env: every rule applies at a link's
    target (and inside a linked folder, where the files really are)."""
    make(tmp_path, [".env", "secrets/token.txt", "config/keys.pem", "config/app.ini", "app.py"],
         "/secrets/\n/config/keys.pem\n")
    (tmp_path / "app.env").symlink_to(".env")
    (tmp_path / "token.txt").symlink_to("secrets/token.txt")
    (tmp_path / "Func").mkdir()
    (tmp_path / "Func" / "config").symlink_to("../config", target_is_directory=True)
    selection = select_files(tmp_path)
    assert included(selection) == ["Func/config/app.ini", "app.py", "config/app.ini"]
    assert ignored(selection)["app.env"] == "default: .env"
    assert ignored(selection)["token.txt"] == ".funcignore:1: /secrets/"
    assert ignored(selection)["Func/config/keys.pem"] == ".funcignore:2: /config/keys.pem"


# --- refusals -------------------------------------------------------------------------------


def test_special_file_is_refused_unless_excluded(tmp_path: Path) -> None:
    make(tmp_path, ["app.py"])
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ProjectError, match="named pipe") as raised:
        select_files(tmp_path)
    assert raised.value.where == "pipe"
    assert raised.value.fix is not None and ".funcignore" in raised.value.fix
    (tmp_path / ".funcignore").write_text("pipe\n")
    assert included(select_files(tmp_path)) == ["app.py"]


def test_backslash_in_a_name_is_refused_unless_excluded(tmp_path: Path) -> None:
    make(tmp_path, ["dir\\evil.py"])
    with pytest.raises(UnsafePathError, match="backslash"):
        select_files(tmp_path)
    (tmp_path / ".funcignore").write_text("*.py\n")
    assert included(select_files(tmp_path)) == []


def test_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    make(tmp_path, ["app.py"])
    fd = os.open(os.fsencode(tmp_path) + b"/caf\xe9.py", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    with pytest.raises(UnsafePathError, match="not valid UTF-8"):
        select_files(tmp_path)


def test_funcignore_that_is_not_utf8_is_read_as_bytes(tmp_path: Path) -> None:
    # git reads the file's bytes: a Latin-1 pattern matches the same bytes in a name, here a
    # name that could not be packaged (not UTF-8) were it not excluded.
    make(tmp_path, ["app.py", "caf\u00e9.txt"])
    fd = os.open(os.fsencode(tmp_path) + b"/caf\xe9.py", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    (tmp_path / ".funcignore").write_bytes(b"caf\xe9*\n")
    selection = select_files(tmp_path)
    assert included(selection) == ["app.py", "caf\u00e9.txt"]
    [(name, rule)] = [(i.path, i.rule) for i in selection.ignored if i.rule.line == 1]
    assert os.fsencode(name) == b"caf\xe9.py"
    assert rule.describe() == ".funcignore:1: caf\\xe9*"  # printable, the byte shown


def test_funcignore_linked_outside_the_project_is_refused(tmp_path: Path) -> None:
    root = make(tmp_path / "app", ["app.py"])
    (tmp_path / "shared-ignore").write_text("*.py\n")
    (root / ".funcignore").symlink_to(tmp_path / "shared-ignore")
    with pytest.raises(UnsafePathError, match="outside the project") as raised:
        select_files(root)
    assert raised.value.where == str(root.resolve() / ".funcignore")
    (root / ".funcignore").unlink()
    (root / "ignore-rules").write_text("*.py\n")
    (root / ".funcignore").symlink_to("ignore-rules")  # inside the project: read
    assert included(select_files(root)) == ["ignore-rules"]


@pytest.mark.parametrize(("pattern", "kept", "left_out"), [
    ("[[:alpha:]]*", ["1.py"], ["app.py"]),
    ("[[:digit:][:upper:]]*", ["app.py"], ["1.py", "X.py"]),
    ("[\\]]x", ["app.py"], ["]x"]),
    ("a[/]b", ["a/b", "app.py"], []),  # git: "/" is never matched by [...]
    ("[z-a]*", ["a", "app.py"], ["z"]),  # a reversed range adds nothing, not an error
    ("[[:nope:]]", ["app.py", "n"], []),  # an unknown class: the pattern matches nothing
])
def test_bracket_patterns_mean_what_they_mean_to_git(tmp_path: Path, pattern: str,
                                                     kept: list[str], left_out: list[str]
                                                     ) -> None:
    make(tmp_path, [*kept, *left_out], f"# header\n{pattern}\n")
    selection = select_files(tmp_path)
    assert included(selection) == sorted(kept)
    assert sorted(i.path for i in selection.ignored if i.rule.line == 2) == sorted(left_out)


def test_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no such folder"):
        select_files(tmp_path / "nope")


SELECT_AS_ANYONE = """
import json, sys
from pathlib import Path
from azpublish.errors import ProjectError
from azpublish.ignore import select_files
try:
    selection = select_files(Path(sys.argv[1]))
except ProjectError as refused:
    print(json.dumps({"refused": refused.what}))
else:
    print(json.dumps({"included": [e.archive_path for e in selection.included]}))
"""


def test_unreadable_folder_is_refused_unless_excluded(tmp_path: Path) -> None:
    make(tmp_path, ["locked/a.py"])
    (tmp_path / "locked").chmod(0)
    try:
        outcome = run_bound_by_file_modes(SELECT_AS_ANYONE, str(tmp_path))
        assert "cannot read this folder" in outcome["refused"]
        (tmp_path / ".funcignore").write_text("locked/\n")
        assert run_bound_by_file_modes(SELECT_AS_ANYONE, str(tmp_path)) == {"included": []}
    finally:
        (tmp_path / "locked").chmod(stat.S_IRWXU)


def test_forced_rules_also_apply_where_linked_files_really_are(tmp_path: Path) -> None:
    make(tmp_path, ["vendor/secret/key.pem", "vendor/lib.py"])
    (tmp_path / "linked").symlink_to("vendor", target_is_directory=True)
    selection = select_files(tmp_path, extra_excludes=[("/vendor/secret/", "--test")])
    assert included(selection) == ["linked/lib.py", "vendor/lib.py"]
    assert ignored(selection) == {"linked/secret/": "--test: /vendor/secret/",
                                  "vendor/secret/": "--test: /vendor/secret/"}


def test_extra_excludes_cannot_be_negations(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only exclude"):
        select_files(make(tmp_path, ["a.py"]), extra_excludes=[("!a.py", "--oops")])


def test_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    make(tmp_path, ["host.json"])
    with pytest.raises(ProjectError, match="not a folder"):
        select_files(tmp_path / "host.json")


def test_funcignore_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".funcignore").mkdir()
    with pytest.raises(ProjectError, match="cannot read it") as raised:
        select_files(tmp_path)
    assert raised.value.where is not None and raised.value.where.endswith(".funcignore")


def test_garbage_collector_state_is_restored(tmp_path: Path) -> None:
    make(tmp_path, ["a.py"])
    assert gc.isenabled()
    select_files(tmp_path)
    assert gc.isenabled()
    gc.disable()
    try:
        select_files(tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()
