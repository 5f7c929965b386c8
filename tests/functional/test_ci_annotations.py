"""The CLI inside a CI job: GitHub workflow commands and Azure Pipelines logging commands.

Runs ``azpublish`` in-process on real fixture projects with the variables each runner sets, and
reads what it printed and what it wrote to the runner's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from azpublish.ci import (
    AzurePipelines,
    GitHubActions,
    azure_data,
    azure_property,
    github_data,
    github_property,
    locate,
)
from azpublish.redact import forget_secrets
from tests.conftest import PROJECTS, Run

REPO = PROJECTS.parent.parent
SECRET = "s3cr3t-Pa55word"
INDEX_URL = f"https://builder:{SECRET}@127.0.0.1:9/simple"
_DELIMITED = re.compile(r"^(?P<name>[\w-]+)<<(?P<delim>\S+)\n(?P<value>.*?)\n(?P=delim)$",
                        re.MULTILINE | re.DOTALL)



@pytest.fixture(autouse=True)
def clean_ci_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("GITHUB_ACTIONS", "TF_BUILD", "GITHUB_WORKSPACE", "GITHUB_OUTPUT",
                 "GITHUB_STEP_SUMMARY", "BUILD_SOURCESDIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("AZPUBLISH_")]:
        monkeypatch.delenv(name)
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    files = {"output": tmp_path / "github_output", "summary": tmp_path / "step_summary"}
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(REPO))
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    return files


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_BUILD", "True")
    monkeypatch.setenv("BUILD_SOURCESDIRECTORY", str(REPO))




def github_outputs(path: Path) -> dict[str, str]:
    return {m["name"]: m["value"] for m in _DELIMITED.finditer(path.read_text())}


# -- GitHub Actions ---------------------------------------------------------------------------


def test_bad_function_json_is_annotated_at_its_file_and_line(run: Run,
                                                             github: dict[str, Path]) -> None:
    code, _, err = run("--project-dir", PROJECTS / "bad-function-json", "--no-deploy",
                       "--output-zip", "unused.zip")
    assert code == 2
    [annotation] = [line for line in err.splitlines() if line.startswith("::error")]
    assert annotation.startswith(
        "::error file=tests/projects/bad-function-json/Broken/function.json,line=3,col=28::"
        "function.json is not valid JSON")
    assert "%0Ahint: fix the JSON syntax" in annotation  # one line: newlines escaped
    summary = github["summary"].read_text()
    assert "failed (exit 2) in stage discover" in summary and "not valid JSON" in summary
    assert github_outputs(github["output"])["package-sha256"] == ""


def test_project_file_line_is_annotated_relative_to_the_workspace(
        run: Run, github: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = tmp_path / "checkout"
    project = workspace / "apps" / "site"
    shutil.copytree(PROJECTS / "v2-http", project)
    (project / "requirements.txt").write_text("azure-functions\n\n-r missing.txt\n")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace))
    code, _, err = run("--project-dir", project, "--no-deploy", "--output-zip",
                       tmp_path / "app.zip")
    assert code == 2, err
    [annotation] = [line for line in err.splitlines() if line.startswith("::error")]
    assert annotation.startswith("::error file=apps/site/requirements.txt,line=3::")
    assert "'missing.txt' does not exist" in annotation


def test_error_without_a_file_keeps_where_in_the_text(run: Run, github: dict[str, Path],
                                                      tmp_path: Path) -> None:
    code, _, err = run("--project-dir", tmp_path / "missing", "--no-deploy",
                       "--output-zip", tmp_path / "app.zip")
    assert code == 2
    [annotation] = [line for line in err.splitlines() if line.startswith("::error")]
    assert annotation.startswith(f"::error::{tmp_path / 'missing'}: no such folder")


def test_success_writes_outputs_summary_groups_and_warnings(run: Run, github: dict[str, Path],
                                                            tmp_path: Path) -> None:
    dest = tmp_path / "app.zip"
    code, out, err = run("--project-dir", PROJECTS / "v1-shared", "--build", "custom",
                         "--no-deploy", "--output-zip", dest, "--json")
    assert code == 0, err
    json.loads(out)  # commands never reach stdout: the report stays parseable
    outputs = github_outputs(github["output"])
    assert outputs["package-sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert outputs["functions"] == "[]" and outputs["deployment-id"] == ""
    lines = err.splitlines()
    start, end = lines.index("::group::azpublish: build"), lines.index("::endgroup::")
    assert [line for line in lines[start:end] if line.startswith("::warning::requirements.txt")]
    summary = github["summary"].read_text()
    assert "### azpublish: done" in summary
    assert f"`{outputs['package-sha256']}`" in summary
    assert "| build | custom (Python 3.11) |" in summary
    assert "#### Largest entries" in summary and "| `host.json` |" in summary
    assert "#### Warnings" in summary


def test_secrets_are_masked_before_any_other_line_and_never_printed(
        run: Run, github: dict[str, Path], tmp_path: Path) -> None:
    code, out, err = run("--project-dir", PROJECTS / "bad-function-json", "--no-deploy",
                         "--output-zip", tmp_path / "app.zip", "--pip-extra-index-url",
                         INDEX_URL, "--json")
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == f"::add-mask::{SECRET}"
    masks = [line for line in lines if line.startswith("::add-mask::")]
    assert lines[: len(masks)] == masks  # every mask comes first
    rest = "\n".join(lines[len(masks):]) + out + github["summary"].read_text() + \
        github["output"].read_text()
    assert SECRET not in rest


def test_secret_in_an_error_is_masked_and_redacted(run: Run, github: dict[str, Path],
                                                   tmp_path: Path) -> None:
    # The index URL reaches an error message through a bad value of another option.
    code, _, err = run("--project-dir", tmp_path / INDEX_URL.replace("/", "_"),
                       "--no-deploy", "--output-zip", tmp_path / "app.zip",
                       "--pip-extra-index-url", INDEX_URL)
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == f"::add-mask::{SECRET}"
    assert all(SECRET not in line for line in lines[1:])
    assert any("***" in line for line in lines if line.startswith("::error"))


# -- Azure Pipelines --------------------------------------------------------------------------


def test_azure_logissue_and_complete_failed(run: Run, azure: None, tmp_path: Path) -> None:
    code, _, err = run("--project-dir", PROJECTS / "bad-function-json", "--no-deploy",
                       "--output-zip", tmp_path / "app.zip", "--pip-extra-index-url",
                       INDEX_URL)
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == f"##vso[task.setsecret]{SECRET}"
    [issue] = [line for line in lines if line.startswith("##vso[task.logissue")]
    assert issue.startswith(
        "##vso[task.logissue type=error;sourcepath=tests/projects/bad-function-json/Broken/"
        "function.json;linenumber=3;columnnumber=28]function.json is not valid JSON")
    assert lines[-1].startswith("##vso[task.complete result=Failed;]function.json is not valid")
    assert all(SECRET not in line for line in lines[1:])


def test_azure_success_sets_output_variables(run: Run, azure: None, tmp_path: Path) -> None:
    dest = tmp_path / "app.zip"
    code, _, err = run("--project-dir", PROJECTS / "v2-http", "--build", "custom",
                       "--no-deploy", "--output-zip", dest)
    assert code == 0, err
    sha = hashlib.sha256(dest.read_bytes()).hexdigest()
    assert f"##vso[task.setvariable variable=packageSha256;isOutput=true]{sha}" in err
    assert "##vso[task.setvariable variable=functions;isOutput=true][]" in err
    assert "task.complete" not in err


def test_no_commands_outside_ci(run: Run, tmp_path: Path) -> None:
    code, _, err = run("--project-dir", PROJECTS / "bad-function-json", "--no-deploy",
                       "--output-zip", tmp_path / "app.zip", "--pip-extra-index-url", INDEX_URL)
    assert code == 2
    assert "::" not in err.replace("https://", "") and "##vso" not in err


# -- escaping and locations -------------------------------------------------------------------


def test_escaping_follows_each_systems_rules() -> None:
    assert github_data("50%\r\nnext: a,b") == "50%25%0D%0Anext: a,b"
    assert github_property("C:/a,b%") == "C%3A/a%2Cb%25"
    assert azure_data("50%;]\r\n") == "50%AZP25;]%0D%0A"
    assert azure_property("a;b]c%") == "a%3Bb%5Dc%AZP25"


def test_a_message_cannot_forge_a_second_command() -> None:
    forged = "oops\n::set-output name=x::y"
    [line] = GitHubActions({}).annotate("error", forged, None)
    assert "\n" not in line and line.endswith("oops%0A::set-output name=x::y")
    [line] = AzurePipelines({}).annotate("warning", "x\n##vso[task.complete result=Failed]", None)
    assert "\n" not in line


def test_locate_only_names_existing_files(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("x\n")
    found = locate("requirements.txt:4", project_root=str(tmp_path), checkout=str(tmp_path))
    assert found is not None and (found.file, found.line, found.column) == (
        "requirements.txt", 4, None)
    outside = locate(f"{tmp_path}/requirements.txt", project_root=None, checkout="/nowhere")
    assert outside is not None and outside.file == f"{tmp_path}/requirements.txt"
    assert locate("app demo/slots/x", project_root=str(tmp_path), checkout=None) is None
    assert locate("--tenant", project_root=str(tmp_path), checkout=None) is None
