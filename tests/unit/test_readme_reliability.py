"""The README's reliability table names tests that exist: a row cannot outlive its test."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_test_the_reliability_table_names_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Reliability", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`tests/" in line]
    assert len(rows) >= 25
    for row in rows:
        cell = row.rstrip(" |").rsplit("|", 1)[1]
        path: Path | None = None
        for reference in re.findall(r"`([^`]+)`", cell):
            file, _, name = reference.rpartition("::")
            if file:
                path = ROOT / file
            assert path is not None and path.is_file(), row
            assert re.search(rf"^def {re.escape(name)}\(", path.read_text(), re.M), \
                f"{name} is not in {path.relative_to(ROOT)}"
