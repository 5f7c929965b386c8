"""The listings on hostile names, through the CLI: text a person can read and a script can split,
``-z`` byte for byte, ``--json`` one document and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RunBytes = Callable[..., tuple[int, bytes, bytes]]

INCLUDED = sorted([
    b"host.json", b"function_app.py", b"new\nline.py", b"tab\there.py",
    b"esc\x1b[31mred\x1b[0m.py", b"c1\xc2\x9b.py", b"del\x7f.py", b"cr\r.py", b'quo"te.py',
    "spa ce \u00e9.py".encode(), b"dir\nx/inner.py",
])
FUNCIGNORE = b"*.bin\nig\tnored.txt\n*.log\ntitle\x1b]0;pwned\x07.tmp\ncaf\xe9.dat\n"
# Each ignored path with the rule that excludes it (a folder once, ending in "/").
IGNORED = {
    b".funcignore": b"always: /.funcignore",
    b"caf\xe9.bin": b".funcignore:1: *.bin",  # Latin-1: not UTF-8
    b"ig\tnored.txt": b".funcignore:2: ig\tnored.txt",
    b"back\\slash.log": b".funcignore:3: *.log",
    b"title\x1b]0;pwned\x07.tmp": b".funcignore:4: title\x1b]0;pwned\x07.tmp",
    b"dir\nx/__pycache__/": b"default: __pycache__/",
    b"caf\xe9.dat": b".funcignore:5: caf\xe9.dat",  # a rule that is not UTF-8 either
}


def write(root: Path, relative: bytes, content: bytes = b"x\n") -> None:
    path = root / os.fsdecode(relative)  # undecodable bytes: written back as they were
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    for name in INCLUDED:
        write(root, name, b'{"version": "2.0"}\n' if name == b"host.json" else b"x\n")
    write(root, b".funcignore", FUNCIGNORE)
    for name in IGNORED:
        if name != b".funcignore":
            write(root, name + b"m.pyc" if name.endswith(b"/") else name)
    return root


@pytest.fixture
def run_bytes(capsysbinary: pytest.CaptureFixture[bytes]) -> RunBytes:
    """The CLI entry point, with stdout as the bytes it wrote."""
    def invoke(*args: str | Path) -> tuple[int, bytes, bytes]:
        from azpublish.__main__ import main

        code = main([str(a) for a in args])
        out, err = capsysbinary.readouterr()
        return code, out, err

    return invoke


def all_strings_are_unicode(value: Any) -> bool:
    """No lone surrogate anywhere: any JSON parser, not only Python's, takes the document."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(all_strings_are_unicode(k) and all_strings_are_unicode(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return all(all_strings_are_unicode(v) for v in value)
    return True


# --- text -----------------------------------------------------------------------------------


def test_text_included_quotes_control_characters_like_git(run_bytes: RunBytes,
                                                          tree: Path) -> None:
    code, out, err = run_bytes("--project-dir", tree, "--list-included-files")
    assert code == 0, err
    assert out.decode("utf-8").split("\n") == [
        r'"c1\302\233.py"', r'"cr\r.py"', r'"del\177.py"', r'"dir\nx/inner.py"',
        r'"esc\033[31mred\033[0m.py"', "function_app.py", "host.json", r'"new\nline.py"',
        r'"quo\"te.py"', "spa ce \u00e9.py", r'"tab\there.py"', ""]
    assert b"\x1b" not in out and b"\x9b" not in out and b"\r" not in out


def test_text_ignored_has_one_tab_per_line_and_no_raw_escape(run_bytes: RunBytes,
                                                             tree: Path) -> None:
    code, out, err = run_bytes("--project-dir", tree, "--list-ignored-files")
    assert code == 0, err
    lines = out.decode("utf-8").splitlines()
    assert all(line.count("\t") == 1 for line in lines)
    assert dict(line.split("\t") for line in lines) == {
        ".funcignore": "always: /.funcignore",
        r'"caf\351.bin"': ".funcignore:1: *.bin",
        r'"ig\tnored.txt"': r'".funcignore:2: ig\tnored.txt"',
        r'"back\\slash.log"': ".funcignore:3: *.log",
        r'"title\033]0;pwned\a.tmp"': r'".funcignore:4: title\033]0;pwned\a.tmp"',
        r'"dir\nx/__pycache__/"': "default: __pycache__/",
        r'"caf\351.dat"': r'".funcignore:5: caf\351.dat"',
    }
    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F
                   for line in lines for char in line if char != "\t")


@pytest.mark.skipif(subprocess.run(["git", "--version"], capture_output=True,
                                   check=False).returncode != 0, reason="git is not installed")
def test_text_quoting_is_gits_for_ascii_names(run_bytes: RunBytes, tmp_path: Path) -> None:
    """git is the referee: `git ls-files --others` quotes the same names the same way."""
    root = tmp_path / "app"
    write(root, b"host.json", b'{"version": "2.0"}\n')
    names = [bytes([byte]) + b"name" for byte in [*range(1, 0x20), 0x22, 0x7F]]
    for name in [*names, b"function_app.py", b"plain name.py", b"a\\b.txt", b"tail\n"]:
        write(root, name)
    (root / ".funcignore").write_text("*.txt\n")  # the backslash name: listed as ignored
    subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
    git = subprocess.run(["git", "-C", str(root), "ls-files", "--others"], capture_output=True,
                         check=True).stdout.decode().splitlines()
    code, included, _ = run_bytes("--project-dir", root, "--list-included-files")
    assert code == 0
    code, ignored, _ = run_bytes("--project-dir", root, "--list-ignored-files")
    assert code == 0
    ours = included.decode().splitlines() + [line.split("\t")[0]
                                             for line in ignored.decode().splitlines()]
    assert sorted(ours) == sorted([*git, ".git/"])


# --- -z -------------------------------------------------------------------------------------


def test_null_included_gives_back_exactly_the_names(run_bytes: RunBytes, tree: Path) -> None:
    code, out, err = run_bytes("--project-dir", tree, "--list-included-files", "-z")
    assert code == 0, err
    assert out.endswith(b"\0")
    assert out.split(b"\0")[:-1] == INCLUDED


def test_null_ignored_is_path_nul_rule_nul(run_bytes: RunBytes, tree: Path) -> None:
    code, out, err = run_bytes("--project-dir", tree, "--list-ignored-files", "--null")
    assert code == 0, err
    fields = out.split(b"\0")
    assert fields[-1] == b"" and len(fields) % 2 == 1
    records = list(zip(fields[:-1:2], fields[1::2], strict=True))
    assert dict(records) == IGNORED and len(records) == len(IGNORED)


def test_null_reaches_a_real_stdout_byte_for_byte(tree: Path) -> None:
    """Through the module's entry point with a real pipe, not a capture."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZPUBLISH_")}
    done = subprocess.run([sys.executable, "-m", "azpublish", "--project-dir", str(tree),
                           "--list-ignored-files", "-z"], capture_output=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    fields = done.stdout.split(b"\0")[:-1]
    assert dict(zip(fields[::2], fields[1::2], strict=True)) == IGNORED


# --- --json ---------------------------------------------------------------------------------


def test_json_included_is_one_document(run_bytes: RunBytes, tree: Path) -> None:
    code, out, err = run_bytes("--project-dir", tree, "--list-included-files", "--json")
    assert code == 0, err
    report = json.loads(out.decode("utf-8"))  # the whole of stdout
    assert report["listing"] == [name.decode() for name in INCLUDED]
    assert report["exit_code"] == 0
    assert all_strings_are_unicode(report)


def test_json_ignored_records_carry_the_rule_and_exact_bytes(run_bytes: RunBytes,
                                                             tree: Path) -> None:
    code, out, err = run_bytes("--project-dir", tree, "--list-ignored-files", "--json")
    assert code == 0, err
    report = json.loads(out.decode("utf-8"))
    assert all_strings_are_unicode(report)
    by_path = {entry["path"]: entry for entry in report["listing"]}
    assert len(by_path) == len(IGNORED)
    assert by_path["caf\\xe9.bin"] == {"path": "caf\\xe9.bin", "path_bytes_hex": "636166e92e62696e",
                                       "rule": "*.bin", "source": ".funcignore", "line": 1}
    assert by_path["ig\tnored.txt"] == {"path": "ig\tnored.txt", "rule": "ig\tnored.txt",
                                        "source": ".funcignore", "line": 2}
    assert by_path[".funcignore"] == {"path": ".funcignore", "rule": "/.funcignore",
                                      "source": "always", "line": None}
    assert by_path["dir\nx/__pycache__/"]["source"] == "default"
    assert by_path["caf\\xe9.dat"] == {"path": "caf\\xe9.dat", "path_bytes_hex": "636166e92e646174",
                                       "rule": "caf\\xe9.dat", "rule_bytes_hex": "636166e92e646174",
                                       "source": ".funcignore", "line": 5}
    exact = {bytes.fromhex(e["path_bytes_hex"]) if "path_bytes_hex" in e else e["path"].encode()
             for e in report["listing"]}
    assert exact == set(IGNORED)


def test_json_listing_of_a_refused_tree_is_still_one_document(run_bytes: RunBytes,
                                                              tree: Path) -> None:
    """A name no zip should carry, not excluded: exit 2, and stdout is the report alone."""
    write(tree, b"caf\xe9.py")
    code, out, _ = run_bytes("--project-dir", tree, "--list-included-files", "--json")
    assert code == 2
    report = json.loads(out.decode("utf-8"))
    assert report["exit_code"] == 2 and "listing" not in report
    assert "UTF-8" in report["error"]["message"]
    assert all_strings_are_unicode(report)


# --- misuse ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["-z"], ["--null"], ["-z", "--dry-run", "--no-deploy"],
                                  ["-z", "--json", "--list-included-files"],
                                  ["--null", "--json", "--list-ignored-files"]])
def test_null_without_a_listing_or_with_json_exits_2(run_bytes: RunBytes, tree: Path,
                                                     args: list[str]) -> None:
    code, out, err = run_bytes("--project-dir", tree, *args)
    assert code == 2
    assert out == b""
    assert err.startswith(b"error: -z/--null ") and b"hint:" in err
