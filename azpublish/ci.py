"""Speaking the CI system's language: GitHub Actions workflow commands, Azure Pipelines logging
commands.

The ``Reporter`` asks ``detect()`` once; when azpublish runs inside a CI job it passes every
secret, annotation, log group and the final report through the ``CiSystem`` here. Commands go
to stderr (both runners read workflow commands from either stream; stdout stays for ``--json``).
Everything that carries report text is redacted; masks carry the secrets themselves, which is
their purpose: the runner then hides them in every later line, child processes' included.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from azpublish.redact import redact
from azpublish.run_report import RunReport

Level = Literal["error", "warning"]

# "/abs/function.json:3:28", ".funcignore:12", "requirements.txt:4", or a path alone.
_WHERE = re.compile(r"^(?P<file>.+?)(?::(?P<line>\d+))?(?::(?P<column>\d+))?$")


@dataclass(frozen=True)
class SourceLocation:
    file: str  # relative to the checkout when inside it, else absolute
    line: int | None = None
    column: int | None = None


def locate(where: str | None, *, project_root: str | None, checkout: str | None
           ) -> SourceLocation | None:
    """The file and line an error's ``where`` names, if it names an existing file.

    Relative paths (a ``.funcignore`` rule's source) are taken from the project root; the result
    is made relative to ``checkout`` so the CI system can attach it to the repository's file.
    """
    if not where:
        return None
    match = _WHERE.match(where.strip())
    if match is None:
        return None
    path = Path(match["file"])
    if not path.is_absolute():
        if project_root is None:
            return None
        path = Path(project_root) / path
    if not path.is_file():
        return None
    shown = path.as_posix()
    if checkout:
        # Outside the checkout the absolute path is still the most useful name.
        with contextlib.suppress(ValueError):
            shown = path.resolve().relative_to(Path(checkout).resolve()).as_posix()
    line = int(match["line"]) if match["line"] else None
    column = int(match["column"]) if match["column"] else None
    return SourceLocation(shown, line, column)


class CiSystem(ABC):
    """One CI system's commands; each method returns the lines to print (maybe none)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    @property
    @abstractmethod
    def checkout(self) -> str | None:
        """The repository checkout that annotation paths are relative to."""

    @abstractmethod
    def mask(self, secret: str) -> list[str]: ...

    @abstractmethod
    def annotate(self, level: Level, message: str, location: SourceLocation | None
                 ) -> list[str]: ...

    @abstractmethod
    def group_start(self, title: str) -> list[str]: ...

    @abstractmethod
    def group_end(self) -> list[str]: ...

    @abstractmethod
    def finish(self, run: RunReport, warnings: list[str], exit_code: int) -> list[str]:
        """Outputs, summary and result for the finished run."""


# -- what both systems publish ----------------------------------------------------------------


def outputs(run: RunReport) -> dict[str, str]:
    """The four step outputs, by their GitHub names; empty when the run did not get that far."""
    deployment = run.deployment
    functions = [{"name": f.name, "trigger": f.trigger, "invoke_url": f.invoke_url}
                 for f in run.functions]
    return {
        "app-url": deployment.url if deployment else "",
        "deployment-id": (deployment.result.deployment_id or "") if deployment else "",
        "package-sha256": run.package.sha256 if run.package else "",
        "functions": json.dumps(functions, separators=(",", ":")),
    }


def _human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _cell(value: object) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    return str(value).replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def summary_markdown(run: RunReport, warnings: list[str], exit_code: int,
                     largest: int = 10) -> str:
    """The step summary: what was built and deployed, or what failed; redacted."""
    deployment, package = run.deployment, run.package
    app = deployment.app if deployment else None
    lines: list[str] = []
    if exit_code == 0:
        lines.append(f"### azpublish: published {app}" if app and run.dry_run is None
                     else "### azpublish: done")
    else:
        stage = run.failed_stage
        lines.append(f"### azpublish: failed (exit {exit_code})"
                     + (f" in stage {stage}" if stage else ""))
    lines += ["", "| | |", "|---|---|"]
    if run.build:
        lines.append(f"| build | {_cell(run.build.mode)} (Python "
                     f"{_cell(run.build.python_version)}) |")
    if run.cache:
        lines.append(f"| dependency cache | {'hit' if run.cache.hit else 'miss'} |")
    if package:
        lines.append(f"| package | {_cell(package.file_count)} files, "
                     f"{_human_size(package.size)} |")
        lines.append(f"| sha256 | `{_cell(package.sha256)}` |")
    if deployment:
        result = deployment.result
        lines.append(f"| app | {_cell(app)} |")
        if deployment.url:
            lines.append(f"| app URL | {_cell(deployment.url)} |")
        status = result.status
        if result.skipped:
            status = f"{status} (unchanged package, not deployed again)"
        lines.append(f"| deployment | {_cell(result.deployment_id or '-')}: {_cell(status)} |")
    if package and package.largest:
        lines += ["", "#### Largest entries", "", "| entry | size | compressed |", "|---|--:|--:|"]
        for entry in package.largest[:largest]:
            lines.append(f"| `{_cell(entry.name)}` | {_human_size(entry.uncompressed)} | "
                         f"{_human_size(entry.compressed)} |")
    if run.functions:
        lines += ["", "#### Functions", "", "| function | trigger | invoke URL |", "|---|---|---|"]
        for function in run.functions:
            lines.append(f"| {_cell(function.name)} | {_cell(function.trigger)} | "
                         f"{_cell(function.invoke_url or '')} |")
    if warnings:
        lines += ["", "#### Warnings", ""] + [f"- {_cell(w)}" for w in warnings]
    error = run.error
    if error:
        lines += ["", "#### Error", "", "```text"]
        head = f"{error.where}: {error.message}" if error.where else error.message
        lines.append(head.replace("```", "'''"))
        if error.hint:
            lines.append(f"hint: {error.hint}".replace("```", "'''"))
        lines.append("```")
    return redact("\n".join(lines)) + "\n"


# -- GitHub Actions -----------------------------------------------------------------------------


def github_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


class GitHubActions(CiSystem):
    @property
    def checkout(self) -> str | None:
        return self.environ.get("GITHUB_WORKSPACE") or None

    def mask(self, secret: str) -> list[str]:
        return [f"::add-mask::{github_data(secret)}"]

    def annotate(self, level: Level, message: str, location: SourceLocation | None
                 ) -> list[str]:
        properties = []
        if location:
            properties.append(f"file={github_property(location.file)}")
            if location.line:
                properties.append(f"line={location.line}")
            if location.column:
                properties.append(f"col={location.column}")
        return [f"::{level} {','.join(properties)}::{github_data(redact(message))}"
                if properties else f"::{level}::{github_data(redact(message))}"]

    def group_start(self, title: str) -> list[str]:
        return [f"::group::{github_data(redact(title))}"]

    def group_end(self) -> list[str]:
        return ["::endgroup::"]

    def finish(self, run: RunReport, warnings: list[str], exit_code: int) -> list[str]:
        output_file = self.environ.get("GITHUB_OUTPUT")
        if output_file:
            _append(output_file, (_github_output(name, redact(value))
                                  for name, value in outputs(run).items()))
        summary_file = self.environ.get("GITHUB_STEP_SUMMARY")
        if summary_file:
            _append(summary_file, [summary_markdown(run, warnings, exit_code)])
        return []


def _github_output(name: str, value: str) -> str:
    """``name<<DELIMITER`` form: safe for any value, newlines included."""
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(path: str, chunks: Iterable[str]) -> None:
    with Path(path).open("a", encoding="utf-8") as stream:
        stream.writelines(chunks)


# -- Azure Pipelines ----------------------------------------------------------------------------


def azure_data(text: str) -> str:
    return text.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def azure_property(text: str) -> str:
    return azure_data(text).replace("]", "%5D").replace(";", "%3B")


# The GitHub output names as Pipelines variables (camelCase, as Microsoft's own tasks name theirs).
AZURE_VARIABLES = {"app-url": "appUrl", "deployment-id": "deploymentId",
                   "package-sha256": "packageSha256", "functions": "functions"}


class AzurePipelines(CiSystem):
    @property
    def checkout(self) -> str | None:
        return self.environ.get("BUILD_SOURCESDIRECTORY") or None

    def mask(self, secret: str) -> list[str]:
        return [f"##vso[task.setsecret]{azure_data(secret)}"]

    def annotate(self, level: Level, message: str, location: SourceLocation | None
                 ) -> list[str]:
        properties = [f"type={level}"]
        if location:
            properties.append(f"sourcepath={azure_property(location.file)}")
            if location.line:
                properties.append(f"linenumber={location.line}")
            if location.column:
                properties.append(f"columnnumber={location.column}")
        return [f"##vso[task.logissue {';'.join(properties)}]{azure_data(redact(message))}"]

    def group_start(self, title: str) -> list[str]:
        return [f"##[group]{redact(title)}"]

    def group_end(self) -> list[str]:
        return ["##[endgroup]"]

    def finish(self, run: RunReport, warnings: list[str], exit_code: int) -> list[str]:
        lines = [f"##vso[task.setvariable variable={AZURE_VARIABLES[name]};isOutput=true]"
                 f"{azure_data(redact(value))}" for name, value in outputs(run).items()]
        if exit_code != 0:
            message = (run.error.message if run.error
                       else f"azpublish failed with exit code {exit_code}")
            lines.append(f"##vso[task.complete result=Failed;]{azure_data(redact(message))}")
        return lines


def detect(environ: Mapping[str, str] | None = None) -> CiSystem | None:
    """The CI system azpublish runs in, from the variables each runner always sets."""
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_ACTIONS", "").lower() == "true":
        return GitHubActions(environ)
    if environ.get("TF_BUILD", "").lower() == "true":
        return AzurePipelines(environ)
    return None
