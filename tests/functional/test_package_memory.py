"""Memory stays bounded however large the inputs: a bound checked in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RSS_LIMIT = 150 * 1024 * 1024
FILE_SIZE = 64 * 1024 * 1024

# Runs in a child so that its peak RSS is the packager's alone, not pytest's.
CHILD = """
import json, sys, time
from pathlib import Path
from azpublish.ignore import select_files
from azpublish.package import write_package

root, dest = Path(sys.argv[1]), Path(sys.argv[2])
# A slow consumer (think a slow disk): compression must wait for it, not pile up results.
report = write_package(select_files(root).included, dest, progress=lambda _: time.sleep(0.02))
# VmHWM is this process's own high-water mark. Not ru_maxrss: Linux carries that across exec,
# so a child spawned by a large pytest process would report pytest's peak as its own.
status = Path("/proc/self/status").read_text().splitlines()
peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"peak_kib": peak, "size": report.size, "files": report.file_count}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_peak_rss_stays_bounded_with_large_files(tmp_path: Path) -> None:
    root = tmp_path / "app"
    root.mkdir()
    (root / "host.json").write_text('{"version": "2.0"}')
    for index in range(3):
        with (root / f"blob{index}.bin").open("wb") as out:
            for _ in range(FILE_SIZE // (1 << 20)):
                out.write(os.urandom(1 << 20))
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), str(tmp_path / "app.zip")],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result["files"] == 4
    assert result["size"] > 3 * FILE_SIZE  # random bytes: nothing to gain, everything written
    assert result["peak_kib"] * 1024 < RSS_LIMIT, f"peak RSS {result['peak_kib']} KiB"
