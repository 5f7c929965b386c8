"""The input of ``azpublish lock``: ``requirements.in`` (with its includes), else the
``[project] dependencies`` of the app's pyproject.toml, and the digest a lock records of it.

Reading it resolves nothing, so a publish can tell cheaply whether a lock is stale.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from azpublish.cleanup import temporary_folder
from azpublish.errors import ProjectError
from azpublish.requirements import read_requirements
from azpublish.runtime import SUPPORTED_PYTHONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

INPUT_FILE = "requirements.in"
PYPROJECT = "pyproject.toml"


@dataclass(frozen=True)
class LockInput:
    path: Path  # the file handed to the resolver
    label: str  # how the lock names it: "requirements.in" or "pyproject.toml"
    digest: str



def input_digest(root: Path) -> str:
    """sha256 of the lock's input: requirements.in with its ``-r``/``-c`` includes (path and
    content of each), else the ``[project] dependencies`` list. Cheap: resolves nothing."""
    requirements_in = root / INPUT_FILE
    digest = hashlib.sha256()
    if requirements_in.is_file():
        for path in read_requirements(requirements_in).files:
            digest.update(relative_path(path, root).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()
    for dependency in pyproject_dependencies(root):
        digest.update(dependency.encode() + b"\n")
    return digest.hexdigest()


def read_project_table(path: Path) -> dict[str, Any]:
    """pyproject.toml's ``[project]`` table ({} when there is none)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProjectError(f"not valid TOML: {error}", where=str(path),
                           fix="fix the file's syntax") from None
    project = document.get("project")
    return project if isinstance(project, dict) else {}


def requires_python_target(root: Path) -> str | None:
    """The lowest Functions Python that ``requires-python`` in pyproject.toml allows, or None
    when it says nothing."""
    path = root / PYPROJECT
    if not path.is_file():
        return None
    text = read_project_table(path).get("requires-python")
    if not isinstance(text, str):
        return None
    try:
        allowed = SpecifierSet(text)
    except InvalidSpecifier:
        raise ProjectError(f"requires-python {text!r} is not a version specifier",
                           where=str(path), fix='write it as e.g. ">=3.11"') from None
    # A minor version fits when any of its releases does (">=3.13.1" allows 3.13).
    matching = [v for v in SUPPORTED_PYTHONS
                if any(allowed.contains(f"{v}.{patch}", prereleases=True) for patch in range(30))]
    if not matching:
        raise ProjectError(f"requires-python {text!r} allows no Functions Python "
                           f"({', '.join(SUPPORTED_PYTHONS)})", where=str(path),
                           fix="widen requires-python, or pass --python-version")
    return matching[0]


def pyproject_dependencies(root: Path) -> list[str]:
    path = root / PYPROJECT
    if not path.is_file():
        raise ProjectError(f"nothing to lock: no {INPUT_FILE} and no {PYPROJECT}", where=str(root),
                           fix=f"list the app's direct dependencies in {INPUT_FILE} (one per "
                               f"line, as in requirements.txt), or in [project] dependencies "
                               f"of {PYPROJECT}")
    project = read_project_table(path)
    dependencies = project.get("dependencies")
    if dependencies is None:
        raise ProjectError(f"nothing to lock: no {INPUT_FILE}, and {PYPROJECT} has no "
                           "[project] dependencies", where=str(path),
                           fix=f"add a {INPUT_FILE} with the app's direct dependencies, or "
                               "list them in [project] dependencies")
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise ProjectError("[project] dependencies must be a list of strings", where=str(path),
                           fix='write it as dependencies = ["requests>=2", ...]')
    return list(dependencies)


@contextlib.contextmanager
def lock_input(root: Path) -> Iterator[LockInput]:
    """requirements.in itself, or a temporary .in holding pyproject's dependencies."""
    requirements_in = root / INPUT_FILE
    if requirements_in.is_file():
        yield LockInput(requirements_in, INPUT_FILE, input_digest(root))
        return
    dependencies = pyproject_dependencies(root)
    with temporary_folder("azpublish-lock-input-") as folder:
        path = folder / "pyproject-dependencies.in"
        path.write_text("".join(f"{d}\n" for d in dependencies), encoding="utf-8")
        yield LockInput(path, PYPROJECT, input_digest(root))


def relative_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form, or as it is when outside it."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
