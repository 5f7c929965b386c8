"""What the local-build tests share: running the CLI's --build local with the wheels engine into
a zip beside the app, with a cache of the test's own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from azpublish.__main__ import main

Run = Callable[..., tuple[int, dict[str, object], str]]


def local_build_runner(app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> Run:
    """A function running the build with extra flags: (exit code, JSON report, stderr)."""
    monkeypatch.setenv("AZPUBLISH_CACHE_DIR", str(tmp_path / "cache"))

    def invoke(*extra: str) -> tuple[int, dict[str, object], str]:
        code = main(["--project-dir", str(app), "--build", "local", "--engine", "wheels",
                     "--no-deploy", "--output-zip", str(tmp_path / "app.zip"), "--json",
                     *extra])
        out, err = capsys.readouterr()
        return code, json.loads(out), err

    return invoke
