"""What a run found and did, as typed data: the one record that the JSON report, the CI step
summary and the CI outputs are all rendered from.

Each stage fills its own section; a section a run never reached stays None and is left out of
the JSON document, so the document always says exactly how far the run got.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the package writer's own report; imported for its type only
    from azpublish.package import PackageReport

__all__ = ["BuildFacts", "CacheFacts", "DeployResult", "DeploymentFacts", "DryRunFacts",
           "ErrorFacts", "FunctionFacts", "ListedFunction", "PreflightFacts", "ProjectFacts",
           "RunReport", "VerifyFacts"]


@dataclass
class FunctionFacts:
    name: str
    trigger: str
    script: str | None = None  # where discovery found it; None when only the import check did


@dataclass
class ProjectFacts:
    root: str
    model: str  # "v1" or "v2"
    functions: list[FunctionFacts]
    requirement_files: list[str]


@dataclass
class BuildFacts:
    mode: str
    python_version: str


@dataclass
class CacheFacts:
    hit: bool
    key: str
    engine: str
    installer: str


@dataclass
class PreflightFacts:
    runner: str
    functions: list[str]


@dataclass
class DryRunFacts:
    file_count: int
    uncompressed_size: int
    files: list[str]


@dataclass
class ListedFunction:
    """A function as the host lists it after the deployment."""

    name: str
    trigger: str
    invoke_url: str | None
    disabled: bool


@dataclass
class DeployResult:
    """What the deployment did, filled step by step, whatever the outcome."""

    deployment_id: str | None = None
    status: str = "not started"
    skipped: bool = False
    functions: list[ListedFunction] = field(default_factory=list)
    settings_changed: bool = False
    settings_restored: bool = False  # --restore-settings put back what this publish changed
    missing: list[str] = field(default_factory=list)  # declared but not indexed
    # What the host says about them (and about itself): {"name" (None: the host), "error",
    # "detail"}.
    load_errors: list[dict[str, str | None]] = field(default_factory=list)


@dataclass
class DeploymentFacts:
    app: str
    url: str
    result: DeployResult


@dataclass
class VerifyFacts:
    url: str  # redacted
    status: int


@dataclass
class ErrorFacts:
    message: str
    where: str | None
    hint: str | None
    exit_code: int


@dataclass
class RunReport:
    stage: str | None = None  # the stage running now (then: the last one reached)
    failed_stage: str | None = None
    project: ProjectFacts | None = None
    build: BuildFacts | None = None
    cache: CacheFacts | None = None
    preflight: PreflightFacts | None = None
    listing: list[Any] | None = None  # names (included) or records (ignored), as JSON has them
    dry_run: DryRunFacts | None = None
    package: PackageReport | None = None
    plan: list[str] | None = None
    deployment: DeploymentFacts | None = None
    verify: VerifyFacts | None = None
    error: ErrorFacts | None = None

    @property
    def functions(self) -> list[ListedFunction]:
        return self.deployment.result.functions if self.deployment else []

    def document(self, warnings: list[str], exit_code: int) -> dict[str, Any]:
        """The JSON report: every section reached, the warnings and the exit code."""
        out: dict[str, Any] = {}
        for name in (f.name for f in dataclasses.fields(self)):
            value = getattr(self, name)
            if value is not None:
                out[name] = _plain(value)
        if self.deployment is not None:  # one level, as clients read it
            out["deployment"] = {"app": self.deployment.app, "url": self.deployment.url,
                                 **_plain(self.deployment.result)}
            if self.deployment.result.functions:
                out["functions"] = _plain(self.deployment.result.functions)
        return {**out, "warnings": list(warnings), "exit_code": exit_code}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value
