"""Generate (once) a realistic function app for the packaging benchmark.

A small v2 app plus ``.python_packages/lib/site-packages`` filled by really installing wheels with
the project's pip, so the tree has the shape of a real custom-build upload: a few thousand small
``.py`` files, some large shared libraries, a handful of already-compressed files.

The tree is cached under ``bench/.work/project`` and reused when present; pass ``--force`` to
rebuild it. Prints the project path on stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"
PROJECT = WORK / "project"
SITE_PACKAGES = Path(".python_packages/lib/site-packages")
# About 150 MB / 4,500 files once installed: a numerical stack with large shared libraries,
# native crypto, and many small pure-Python files (Azure SDK, ORM, HTTP clients).
REQUIREMENTS = ("numpy", "pandas", "cryptography", "pydantic", "requests", "azure-functions",
                "azure-identity", "azure-storage-blob", "sqlalchemy", "aiohttp")
# Written last, holding the requirements: the tree is complete and current only when it matches.
DONE_MARKER = WORK / "project.done"

FUNCTION_APP = '''\
import json

import azure.functions as func
import numpy as np
import pandas as pd

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="stats")
def stats(req: func.HttpRequest) -> func.HttpResponse:
    values = pd.Series(np.arange(int(req.params.get("n", "10"))))
    return func.HttpResponse(json.dumps(values.describe().to_dict()), mimetype="application/json")
'''


def write_app(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    host = {"version": "2.0",
            "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle",
                                "version": "[4.*, 5.0.0)"}}
    (root / "host.json").write_text(json.dumps(host, indent=2) + "\n")
    (root / "function_app.py").write_text(FUNCTION_APP)
    (root / "requirements.txt").write_text("\n".join(REQUIREMENTS) + "\n")


def install_dependencies(root: Path) -> None:
    target = root / SITE_PACKAGES
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-compile", "--target", str(target), *REQUIREMENTS]
    subprocess.run(command, check=True)


def tree_summary(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def ensure_project(force: bool = False) -> Path:
    """The cached project, building it first when it is missing, incomplete or ``force``d."""
    stamp = "\n".join(REQUIREMENTS) + "\n"
    current = DONE_MARKER.exists() and DONE_MARKER.read_text() == stamp
    if force or not current:
        shutil.rmtree(PROJECT, ignore_errors=True)
        DONE_MARKER.unlink(missing_ok=True)
        write_app(PROJECT)
        install_dependencies(PROJECT)
        DONE_MARKER.write_text(stamp)
    return PROJECT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild the cached project")
    args = parser.parse_args()
    root = ensure_project(force=args.force)
    count, size = tree_summary(root)
    print(f"{root}  ({count} files, {size / 1e6:.1f} MB)", file=sys.stderr)
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
