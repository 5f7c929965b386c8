"""Publishing needs nothing of the emulator: not its modules, not its libraries (the extra
``azpublish[emulator]``). Checked in a child whose imports of them fail, as they would where
the extra is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Runs azpublish's main with every import of the emulator or its libraries refused.
BLOCKED = """
import importlib.abc, json, os, sys

BLOCKED = tuple(os.environ["BLOCKED_IMPORTS"].split(","))

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in BLOCKED or name.startswith(tuple(f"{b}." for b in BLOCKED)):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, Refuse())
from azpublish.__main__ import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.startswith("azpublish."))
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


LIBRARIES = "starlette,uvicorn"


NO_DOCKER = "unix:///nonexistent/azpublish-test.sock"


def run_blocked(*args: str | Path, blocked: str = f"azpublish.emulator,{LIBRARIES}",
                **env: str) -> tuple[int, list[str], str]:
    done = subprocess.run([sys.executable, "-c", BLOCKED, *map(str, args)], capture_output=True,
                          text=True, check=False, timeout=300,
                          env={**os.environ, "BLOCKED_IMPORTS": blocked, **env})
    *lines, last = done.stderr.rstrip("\n").split("\n")
    result = json.loads(last)
    return result["code"], result["loaded"], "\n".join(lines)


APP = """\
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hi")
"""


def test_a_custom_build_with_its_import_check_needs_no_emulator(tmp_path: Path) -> None:
    app = tmp_path / "hello"
    (app / ".python_packages" / "lib" / "site-packages").mkdir(parents=True)
    (app / "host.json").write_text('{"version": "2.0"}')
    (app / "function_app.py").write_text(APP)
    out = tmp_path / "app.zip"
    # The host path of the import check: the one that used to borrow the emulator's code.
    code, loaded, err = run_blocked("--build", "custom", "--project-dir", app, "--no-deploy",
                                    "--output-zip", out, DOCKER_HOST=NO_DOCKER)
    assert code == 0, err
    assert out.is_file()
    assert "host python" in err  # the check ran, on the host
    assert "azpublish.pipeline" in loaded and "azpublish.builders.preflight" in loaded
    assert not [name for name in loaded if name.startswith("azpublish.emulator")]


def test_the_deploy_modules_import_without_the_emulator() -> None:
    probe = ("import sys\n"
             "import azpublish.pipeline, azpublish.deploy.executor, azpublish.deploy.target\n"
             "import azpublish.builders.local, azpublish.builders.preflight, azpublish.lock\n"
             "print(sorted(m for m in sys.modules if m.startswith(('azpublish.emulator', "
             "'starlette', 'uvicorn'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_the_emulator_without_its_extra_says_how_to_install_it() -> None:
    code, _, err = run_blocked("emulator", "start", blocked=LIBRARIES)
    assert code == 2
    assert "pip install 'azpublish[emulator]'" in err and "starlette" in err
