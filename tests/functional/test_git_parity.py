"""select_files against git itself: same files kept, same rule named for each exclusion.

git sees the same rules azpublish applies: the defaults first, then the .funcignore, then the
always-rules last (where "last match wins" makes them impossible to re-include). Both the kept
set (``git ls-files --others``) and, for every excluded path, the deciding rule
(``git check-ignore -v``) must agree.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azpublish.errors import UnsafePathError
from azpublish.ignore import ALWAYS_RULES, DEFAULT_RULES, FUNCIGNORE, Rule, Selection, select_files
from azpublish.wildmatch import Literal, bytes_view, translate

BOM = "\ufeff"
NEWEST_GIT = Path(__file__).resolve().parents[2] / ".cache" / "git-newest" / "bin" / "git"


@dataclass(frozen=True)
class Git:
    """One git the parity tests ask: the machine's, or the newest (scripts/test-setup.sh)."""

    program: str
    version: tuple[int, int]

    @property
    def reads_as_2_52(self) -> bool:
        """Whether it reads "foo**/bar" as git 2.52 and later do, as azpublish does."""
        return self.version >= (2, 52)


def _find_git(program: str) -> Git | None:
    try:
        done = subprocess.run([program, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return None
    found = re.search(r"(\d+)\.(\d+)", done.stdout)
    if done.returncode != 0 or found is None:
        return None
    return Git(program, (int(found[1]), int(found[2])))


@pytest.fixture(scope="module", params=[
    pytest.param("machine"), pytest.param("newest", marks=pytest.mark.newest_git)])
def git(request: pytest.FixtureRequest) -> Git:
    if request.param == "machine":
        found = _find_git("git")
        if found is None:
            pytest.skip("git is not installed: run scripts/test-setup.sh")
        return found
    found = _find_git(str(NEWEST_GIT))
    if found is None:
        pytest.skip(f"the newest git is not set up at {NEWEST_GIT}: run scripts/test-setup.sh")
    assert found.reads_as_2_52, f"{NEWEST_GIT} is git {found.version}, not the newest"
    return found


def _git(git: Git, tree: Path, *args: str, stdin: bytes | None = None) -> bytes:
    isolated = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                "HOME": str(tree), "XDG_CONFIG_HOME": str(tree)}
    done = subprocess.run([git.program, "-C", str(tree), *args], input=stdin,
                          capture_output=True, env=isolated, check=False)
    # check-ignore exits 1 when nothing matched; anything else non-zero is a real failure.
    assert done.returncode in (0, 1), done.stderr.decode()
    return done.stdout


def _make_tree(git: Git, root: Path, files: Iterable[str]) -> None:
    for relative in files:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    _git(git, root, "init", "-q")


def _rules_file(root: Path, name: str, lines: Iterable[str]) -> Path:
    path = root / ".git" / name
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _pattern_changed_meaning_in_git_2_52(line: str) -> bool:
    """True for a pattern git 2.39-2.51 and git 2.52+ read differently.

    git matches a pattern with a slash by comparing its literal prefix (up to the first
    wildcard) and then globbing the rest; before 2.52 (commit 1940a02dc1) that rest started with
    the ``**``, so ``foo**/bar`` read as ``foo`` + ``**/bar`` and matched ``foobar``. Only such
    patterns changed: a first wildcard that is a ``**`` run glued to a name.
    """
    pattern = line.strip().removeprefix("!").rstrip("/")
    if "/" not in pattern:
        return False  # matched against the base name, never split into prefix and rest
    first = next((i for i, char in enumerate(pattern) if char in "*?[\\"), None)
    return (first is not None and first > 0 and pattern[first] == "*"
            and pattern[first + 1:first + 2] == "*" and pattern[first - 1] != "/")


def _same_in_every_git(funcignore: str) -> bool:
    return not any(_pattern_changed_meaning_in_git_2_52(line)
                   for line in funcignore.removeprefix(BOM).splitlines())


def _compare_with_git(git: Git, root: Path, funcignore: str) -> None:
    """Compare with ``git``: a git before 2.52 only for patterns whose meaning every git since
    2.39 shares (the few whose reading changed are the newest git's to judge)."""
    if not git.reads_as_2_52 and not _same_in_every_git(funcignore):
        return
    (root / FUNCIGNORE).write_bytes(funcignore.encode())
    selection = select_files(root)
    defaults = _rules_file(root, "defaults", (rule.pattern for rule in DEFAULT_RULES))
    always = _rules_file(root, "always", map(_as_git_writes_it, ALWAYS_RULES))
    user = root / ".git" / "funcignore"
    user.write_bytes(funcignore.encode())

    git_kept = _git_kept(git, root, defaults, user, always)
    ours = {entry.archive_path for entry in selection.included}
    assert ours == git_kept, f"only ours: {ours - git_kept}, only git: {git_kept - ours}"

    _compare_attribution(git, root, funcignore, selection)


def _git_kept(git: Git, root: Path, *rule_files: Path) -> set[str]:
    listed = _git(git, root, "ls-files", "-z", "--others",
                  *(f"--exclude-from={path}" for path in rule_files))
    return {path for path in listed.decode().split("\0") if path}


def _compare_attribution(git: Git, root: Path, funcignore: str, selection: Selection) -> None:
    """git check-ignore -v, given the three rule lists as one file, names the same rules."""
    body = funcignore.removeprefix(BOM)
    if body and not body.endswith("\n"):
        body += "\n"
    user_lines = body.count("\n")
    combined = root / ".git" / "combined"
    combined.write_bytes(("".join(f"{rule.pattern}\n" for rule in DEFAULT_RULES) + body
                          + "".join(f"{_as_git_writes_it(rule)}\n" for rule in ALWAYS_RULES)
                          ).encode())
    if not selection.ignored:
        return
    paths = [ignored.path.removesuffix("/") for ignored in selection.ignored]
    out = _git(git, root, "-c", f"core.excludesFile={combined}", "check-ignore", "--no-index",
               "-v", "-n", "-z", "--stdin", stdin="\0".join(paths).encode() + b"\0")
    fields = out.decode().split("\0")
    records = [fields[i:i + 4] for i in range(0, len(fields) - 1, 4)]
    assert len(records) == len(paths)
    for ignored, (_source, line, pattern, path) in zip(selection.ignored, records, strict=True):
        assert path == ignored.path.removesuffix("/")
        assert line, f"git does not ignore {path!r}, we do ({ignored.rule.describe()})"
        assert ignored.rule == _rule_at(int(line), user_lines, pattern), path


def _as_git_writes_it(rule: Rule) -> str:
    """The rule for git, which folds no case: ".git/" as ".[gG][iI][tT]/"."""
    if not rule.casefold:
        return rule.pattern
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in rule.pattern)


def _rule_at(line: int, user_lines: int, git_pattern: str) -> Rule:
    if line <= len(DEFAULT_RULES):
        return DEFAULT_RULES[line - 1]
    if line <= len(DEFAULT_RULES) + user_lines:
        return Rule(FUNCIGNORE, line - len(DEFAULT_RULES), git_pattern)
    return ALWAYS_RULES[line - len(DEFAULT_RULES) - user_lines - 1]


# --- a fixed corpus of tricky cases ----------------------------------------------------------

TREE = [
    "app.py", "a.txt", "b.txt", "docs/readme.md", "docs/x.txt", "dir/a.txt", "dir/sub/b.txt",
    "dir/keep.txt", "foo/f", "foo/sub/g", "foo/sub/deep/h", "x/foo/y", "build/out.bin",
    "src/build/out.bin", "a b", "a ", "#hash", "!bang", "t\tx", "[x]", "q/x", "y/x/z",
    "__pycache__/m.pyc", "pkg/__pycache__/m.pyc", "pkg/m.pyc", ".env", "sub/.env",
    ".venv/lib/x.py", "data/raw/1.csv", "data/raw/keep.csv", "data/raw/deep/2.csv",
    "logs/a.log", "logs/keep/b.log", "a/b", "a/x/b", "a/x/y/b", "ab/c", "-", "*", "?q",
    "local.settings.json", "sub/local.settings.json", ".vscode/settings.json",
    "nested/.vscode/x", "nested/.funcignore", "d1/d2/d3/file.py", "caf\u00e9.txt", "tab\t",
]

CORPUS = [
    "", "*.txt\n!dir/\n", "*.txt\ndir/\n!dir/\n", "foo/**/\n", "foo/**\n", "foo/**/\n!foo/sub/g\n",
    "foo/**/\n!foo/f\n", "/build\n", "build/\n", "**/build\n", "**/build/**\n", "a/**/b\n",
    "a/*/b\n", "a/**/x/**/b\n", "**\n!*.py\n", "*\n!*/\n!*.py\n", "*\n!/docs\n", "*\n!/docs/\n",
    "\\#hash\n", "#hash\n", "\\!bang\n", "!bang\n", "a\\ \n", "a \n", "a\\  \n", "a  \\  \n",
    "t\tx\n", "t\\\tx\n", "[!a]*\n", "[^a]*\n", "[[]x]\n", "[]]\n", "[!]]\n", "?\n", "??\n",
    "\\*\n", "\\?q\n", "!__pycache__/\n", "!*.pyc\n", "!.venv/\n", "!.env\n", "!.env\n.env\n",
    "!local.settings.json\n", "!/local.settings.json\n", "!.vscode/\n", "!.funcignore\n",
    "#comment\n\n   \n\t\n", "*.txt\r\n!dir/a.txt\r\n", "*.txt\r\n\r\n!b.txt", "*.txt\n!b.txt",
    "data/raw/**\n!data/raw/keep.csv\n", "data/raw/*\n!data/raw/keep.csv\n",
    "data/raw/\n!data/raw/keep.csv\n", "logs/\n!logs/keep/\n", "logs/*\n!logs/keep/\n",
    "**/keep\n", "x/\n", "/x\n", "x\n", "x/*\n", "*/\n", "**/\n", "/**/\n", "*/**\n", "**/*\n",
    "**/foo/**\n", "a**\n", "**a\n", "a?\n", "[a-c]\n", "[a-c]*/\n", "!\n", "\\\n", "a\\\n", "/\n",
    "//\n", "[\n", "a[\n", "d*/\n", "d1/**/file.py\n", "d1/**/d3\n", "/d1/d2\n", "d2\n", "d2/\n",
    "d1/d2/d3/\n!d1/d2/d3/file.py\n", "*.py\n!d1/**\n", f"{BOM}*.txt\n", "caf\u00e9*\n",
    "*.TXT\n", "-\n", "\\-\n", "a/b/\n", "a//b\n", "!*\n", "*\n!*\n", "/*\n!/dir\n",
    "*.txt\n!*.txt\n*.txt\n", "  a.txt\n", " \n", "sub/\n!sub/.env\n", "y/**/z\n",
    "y[!q]x/z\n", "y?x/z\n", "y*x/z\n", "tab\t\n", "tab\\\t\n", "tab \t\n",
    "a**/b\n", "/a**\n!a/x/\n", "d1**/file.py\n", "/a**/**/b\n", "a/***\n", "/***\n!**/\n",
    "*[/[ab]/\n", "[\t\n", "caf?.txt\n", "caf??.txt\n", "caf[\u00e9].txt\n", "[!a-]\n",
    # "**/" patterns, which the matcher indexes by name ("**/x") or by the folder they need
    # ("**/d/..."), in every order against rules of the other kinds (the last match wins)
    "**/x/*\n!**/x/z\n", "**/x/**\n!y/**\n", "!**/x/z\n**/x/**\n", "**/raw/keep.csv\n",
    "**/raw/*\n!data/raw/keep.csv\n", "data/**\n!**/raw/keep.csv\n", "**/*.log\n!logs/**\n",
    "logs/**\n!**/*.log\n", "**/keep/**\n!**/b.log\n", "**/d2/d3/\n", "**/d2/d3\n",
    "**/sub/*.txt\n!dir/**\n", "**/foo/sub/**\n!**/h\n", "**/.env\n!sub/.env\n",
    "**/[ab]/b\n", "**/a*/b\n", "**/a/**/b\n", "**/x/\n!**/foo/\n", "*/x/**\n**/x/z\n",
]


@pytest.fixture(scope="module")
def corpus_tree(git: Git, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    _make_tree(git, root, TREE)
    return root


@pytest.mark.parametrize("funcignore", CORPUS, ids=repr)
def test_corpus_matches_git(git: Git, corpus_tree: Path, funcignore: str) -> None:
    _compare_with_git(git, corpus_tree, funcignore)


# --- generated trees and .funcignore files --------------------------------------------------

NAMES = ["a", "b", "c.txt", "d.py", "ab", "a b", "#x", "!x", "x ", "[x]", "e.pyc",
         "__pycache__", ".env", "f.log", "A", "build", "sub", "t\tx", "*", "?", "]", "\u00e9"]
SEGMENTS = ["a", "b", "c.txt", "*", "**", "?", "*.txt", "a*", "*b", "[ab]", "[!a]", "[a-c]*",
            "\\#x", "#x", "\\!x", "!x", "a\\ b", "a b", "x ", "\\[x]", "[[]x]", "__pycache__",
            "*.pyc", ".env", "build", "sub", "A", "t\tx", "e.*", "**a", "a**", "\\*", "?.py",
            "***", "[]a]", "[^a]", "[!]a]", "[a-]", "]", "\\[", "[\u00e9]", "?\u00e9"]
SPECIAL_LINES = ["", "#comment", "   ", "!", "\\", "/", "*", "**", "**/", "/**/", "!*/",
                 "a/**/", "**/b/**", "*/", "!**/"]


@st.composite
def trees(draw: st.DrawFn) -> list[str]:
    paths = draw(st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3),
                          min_size=1, max_size=20))
    files: set[str] = set()
    folders: set[str] = set()
    for parts in paths:
        path = "/".join(parts)
        above = {"/".join(parts[:depth]) for depth in range(1, len(parts))}
        if path in folders or path in files or above & files:
            continue  # a name cannot be both a file and a folder
        files.add(path)
        folders |= above
    return sorted(files)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(SPECIAL_LINES))
    segments = draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3))
    return "".join((
        "!" if draw(st.booleans()) else "",
        "/" if draw(st.integers(0, 3)) == 0 else "",
        "/".join(segments),
        "/" if draw(st.integers(0, 2)) == 0 else "",
        draw(st.sampled_from(["", "", "", " ", "  ", "\\ ", "\t", " \\ "])),
    ))


@st.composite
def funcignores(draw: st.DrawFn) -> str:
    lines = draw(st.lists(patterns(), max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines) + (newline if draw(st.booleans()) else "")


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(files=trees(), funcignore=funcignores())
def test_generated_cases_match_git(git: Git, tmp_path_factory: pytest.TempPathFactory,
                                   files: list[str], funcignore: str) -> None:
    root = tmp_path_factory.mktemp("parity")
    _make_tree(git, root, files)
    _compare_with_git(git, root, funcignore)


# --- the upstream cases: git's own test suite and documentation, pathspec's and func's tests ---

CASES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "gitignore-cases"


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((CASES / f"{name}.json").read_text())
    return cases


def _trees(paths: list[str]) -> list[list[str]]:
    """The case's files (a folder "x/" gets a file inside) split into trees where no name is
    both a file and a folder."""
    trees: list[list[str]] = []
    for path in paths:
        file = path + "inside" if path.endswith("/") else path
        for tree in trees:
            if not any(_clash(file, other) for other in tree):
                tree.append(file)
                break
        else:
            trees.append([file])
    return trees


def _clash(one: str, other: str) -> bool:
    return one.startswith(other + "/") or other.startswith(one + "/")


def _kept(git: Git, root: Path, files: list[str], funcignore: str) -> set[str]:
    _make_tree(git, root, files)
    (root / FUNCIGNORE).write_bytes(funcignore.encode())
    return {entry.archive_path for entry in select_files(root).included}


def _is_kept(path: str, kept: Iterable[str]) -> bool:
    """Whether the file ``path`` is in ``kept``, or the folder ``path/`` holds some of it."""
    if not path.endswith("/"):
        return path in kept
    return any(file.startswith(path) for file in kept)


WILDMATCH = [case for case in _cases("t3070") if "upstream" in case and
             case["id"].endswith("-root")]


@pytest.mark.parametrize("case", WILDMATCH, ids=lambda case: case["id"])
def test_wildmatch_gives_the_verdicts_of_gits_t3070(case: dict[str, Any]) -> None:
    """The matcher alone, against the expected columns of git's own table (WM_PATHNAME, and
    with WM_CASEFOLD): not the machine's git."""
    pattern, text = bytes_view(case["funcignore"].removesuffix("\n")), bytes_view(case["paths"][0])
    for casefold, column in ((False, "wildmatch"), (True, "iwildmatch")):
        translated = translate(pattern, casefold=casefold)
        if translated is None:
            matched = False
        elif isinstance(translated, Literal):
            matched = translated.text == text
        else:
            matched = re.match(translated, text, re.DOTALL) is not None
        assert matched == (case["upstream"][column] == "1"), (column, translated)


TREE_CASES = [case for name in ("t3070", "pathspec", "coretools", "git_scenarios")
              for case in _cases(name) if "skip" not in case]


@pytest.mark.parametrize("case", TREE_CASES, ids=lambda case: case["id"])
def test_upstream_trees_match_git(git: Git, tmp_path: Path, case: dict[str, Any]) -> None:
    """Each upstream tree and ignore file: the kept files are what each git keeps (an older
    git judging only patterns every git since 2.39 reads alike), and git's suite's own
    assertions hold."""
    for number, files in enumerate(_trees(case["paths"])):
        root = tmp_path / str(number)
        try:
            kept = _kept(git, root, files, case["funcignore"])
        except UnsafePathError as refused:
            # A name no zip should carry ("foo\\") is refused, not packaged: only when git
            # would keep it, so the refusal is packaging's, never the matcher's.
            user = root / ".git" / "funcignore"
            user.write_bytes(case["funcignore"].encode())
            kept_by_git = _git_kept(git, root, user)
            assert refused.where in {f"archive path {path!r}" for path in kept_by_git}
            continue
        _compare_with_git(git, root, case["funcignore"])
        folders = {path for path in case["paths"] if path.endswith("/")}
        for expected, paths in ((False, case.get("expect_ignored", ())),
                                (True, case.get("expect_kept", ()))):
            for path in paths:
                # Upstream names a folder with or without its "/"; a name it lists as a file
                # is that file.
                name = path if path in case["paths"] else path.removesuffix("/") + "/"
                if (name in folders or name in case["paths"]) and _is_kept(name, files):
                    assert _is_kept(name, kept) == expected, path  # this tree has it


def test_no_exponential_matching(tmp_path: Path) -> None:
    """git's "matching does not exhibit exponential behavior" case: the name is kept (the
    benchmark times it; here a blow-up would simply never finish)."""
    [case] = _cases("t3070-exponential")
    for path in case["paths"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    (tmp_path / FUNCIGNORE).write_text(case["funcignore"])
    assert {entry.archive_path for entry in select_files(tmp_path).included} == set(case["paths"])
