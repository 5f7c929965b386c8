"""Run a snippet of Python as a user whom file modes bind, even when the suite runs as root.

Root reads any file and lists any folder whatever its mode, so tests of "cannot be read" would
have nothing to check under root (as in CI). As root, the snippet runs with the two
capabilities that bypass file modes (``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``) dropped from
its bounding set by util-linux's ``setpriv``, so it is still uid 0 (and may enter the test's
0700 folders, which root owns) but a mode of 0 stops it as it stops anyone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

DROP = "-dac_override,-dac_read_search"


def run_bound_by_file_modes(code: str, *args: str) -> Any:
    """Run ``code`` (which prints one JSON value) with ``args`` as ``sys.argv[1:]``; its value."""
    command = [sys.executable, "-c", code, *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root's file-mode capabilities"
        command = [setpriv, f"--bounding-set={DROP}", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
