"""Packaging speed and memory against Info-ZIP, measured side by side in the same run.

Compares, on the project from ``make_project.py`` (about 155 MiB / 4,700 files):

* ``zip -r -q -X out.zip .`` run in the project folder: the reference;
* ``write_package`` on the project's selection, in a fresh Python process (import, selection
  and packaging all counted);
* the full CLI, ``azpublish --build custom --no-deploy --output-zip X --project-dir P``, when
  ``python -m azpublish --help`` works;
* a warm rebuild: the same child with ``reuse=PackageMemo(...)``, the memo primed by its warm-up
  run, after touching ``function_app.py`` (so one app file is recompressed and the rest copied
  from the memo's previous package). Target: warm packaging < 3 s (the whole warm rebuild's
  >= 10x against a cold build is measured in ``bench_local_build.py``).

The commands alternate, each timed ``--runs`` times (median reported) after one untimed warm-up
that fills the page cache. Targets: wall-time ratio to zip <= 1.0 and peak RSS < 150 MiB for each
azpublish command. Exits 0 either way unless ``--strict``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_project import ensure_project

RATIO_TARGET = 1.0
WARM_SECONDS_TARGET = 3.0
MIB = 1 << 20
RSS_TARGET = 150 * MIB

# Runs argv[2:] and writes its wall seconds and peak RSS (KiB) to argv[1], timed here so that
# the launcher's own start-up is not counted. Linux carries ru_maxrss across exec,
# so a command spawned straight from this (large) process would inherit this process's peak;
# forked from this small launcher it starts from the launcher's few MiB instead.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
open(sys.argv[1], "w").write(f"{elapsed} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""

# The library path: selection plus write_package, timed inside the child as well.
LIBRARY_CHILD = """
import json, sys, time
from pathlib import Path
start = time.perf_counter()
from azpublish.ignore import select_files
from azpublish.package import write_package
root, dest = Path(sys.argv[1]), Path(sys.argv[2])
included = select_files(root).included
selected = time.perf_counter()
report = write_package(included, dest)
done = time.perf_counter()
print(json.dumps({"select_s": selected - start, "write_s": done - selected,
                  "size": report.size, "files": report.file_count}))
"""

# The warm rebuild: the same, reusing the compression of the previous package through a memo.
WARM_CHILD = """
import json, sys, time
from pathlib import Path
start = time.perf_counter()
from azpublish.ignore import select_files
from azpublish.package import PackageMemo, write_package
root, dest, memo = Path(sys.argv[1]), Path(sys.argv[2]), PackageMemo(Path(sys.argv[3]))
included = select_files(root).included
selected = time.perf_counter()
report = write_package(included, dest, reuse=memo)
done = time.perf_counter()
print(json.dumps({"select_s": selected - start, "write_s": done - selected,
                  "size": report.size, "files": report.file_count,
                  "reused": report.reused_entries, "reused_bytes": report.reused_bytes}))
"""


@dataclass
class Command:
    name: str
    argv: list[str]
    output: Path
    cwd: Path | None = None
    times: list[float] = field(default_factory=list)
    peak_rss: int = 0  # bytes, the largest over all runs
    notes: list[str] = field(default_factory=list)
    before: Callable[[], None] | None = None  # run before each run, untimed

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def run(command: Command) -> tuple[float, str]:
    """Run once; returns wall seconds and stdout, recording this child's own peak RSS."""
    command.output.unlink(missing_ok=True)  # zip would update an existing archive
    if command.before is not None:
        command.before()
    with tempfile.NamedTemporaryFile("r", suffix=".measured") as measured:
        child = subprocess.run([sys.executable, "-c", LAUNCHER, measured.name, *command.argv],
                               cwd=command.cwd, capture_output=True, check=False)
        if child.returncode != 0:
            raise SystemExit(f"{command.name} failed ({child.returncode}):\n"
                             f"{child.stderr.decode()}")
        seconds, peak_kib = measured.read().split()
    elapsed = float(seconds)
    command.peak_rss = max(command.peak_rss, int(peak_kib) * 1024)
    return elapsed, child.stdout.decode()


def cli_available(python: str) -> bool:
    probe = subprocess.run([python, "-m", "azpublish", "--help"], capture_output=True, check=False)
    return probe.returncode == 0


def build_commands(project: Path, scratch: Path, with_cli: bool) -> list[Command]:
    zip_tool = shutil.which("zip")
    if zip_tool is None:
        raise SystemExit("Info-ZIP `zip` is needed as the reference (apt-get install zip)")
    python = sys.executable
    commands = [
        Command("zip -r -q -X", [zip_tool, "-r", "-q", "-X", str(scratch / "zip.zip"), "."],
                scratch / "zip.zip", cwd=project),
        Command("write_package", [python, "-c", LIBRARY_CHILD, str(project),
                                  str(scratch / "lib.zip")], scratch / "lib.zip"),
    ]
    app_file = project / "function_app.py"
    commands.append(Command("write_package warm", [
        python, "-c", WARM_CHILD, str(project), str(scratch / "warm.zip"), str(scratch / "memo")],
        scratch / "warm.zip", before=lambda: os.utime(app_file)))
    if with_cli:
        out = scratch / "cli.zip"
        commands.append(Command("azpublish CLI", [
            python, "-m", "azpublish", "--build", "custom", "--no-deploy", "--output-zip",
            str(out), "--project-dir", str(project)], out))
    return commands


def measure(commands: list[Command], runs: int) -> None:
    for command in commands:  # warm-up: page cache, bytecode caches
        run(command)
    for _ in range(runs):
        for command in commands:
            elapsed, stdout = run(command)
            command.times.append(elapsed)
            if command.name.startswith("write_package"):
                inner = json.loads(stdout)
                reused = (f", reused {inner['reused']}/{inner['files']} entries, "
                          f"{inner['reused_bytes'] / MIB:.1f} MiB" if "reused" in inner else "")
                command.notes.append(f"select {inner['select_s']:.2f}s + "
                                     f"write {inner['write_s']:.2f}s{reused}")


def report(commands: list[Command], project: Path) -> bool:
    reference = commands[0]
    files = [p for p in project.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    print(f"project: {project} ({len(files)} files, {total / MIB:.1f} MiB); "
          f"{os.cpu_count()} CPUs; timed runs: {len(reference.times)} (median)")
    print(f"{'command':<18} {'median s':>9} {'ratio':>6} {'peak RSS':>11} {'zip MiB':>8}  runs")
    ok = True
    for command in commands:
        ratio = command.median / reference.median
        runs = " ".join(f"{t:.2f}" for t in command.times)
        print(f"{command.name:<18} {command.median:>9.2f} {ratio:>6.2f} "
              f"{command.peak_rss / MIB:>7.1f} MiB {command.output.stat().st_size / MIB:>8.1f}  "
              f"{runs}")
        if command is reference:
            continue
        if command.notes:
            print(f"{'':<18} in-process, last run: {command.notes[-1]}")
        passed = ratio <= RATIO_TARGET and command.peak_rss < RSS_TARGET
        ok = ok and passed
        print(f"{'':<18} {'PASS' if passed else 'FAIL'}: ratio {ratio:.2f} (target <= "
              f"{RATIO_TARGET}), peak RSS {command.peak_rss / MIB:.1f} MiB (target < "
              f"{RSS_TARGET / MIB:.0f} MiB)")
    return report_warm(commands) and ok


def report_warm(commands: list[Command]) -> bool:
    by_name = {command.name: command for command in commands}
    cold, warm = by_name["write_package"], by_name["write_package warm"]
    if warm.output.read_bytes() != cold.output.read_bytes():
        print("FAIL: the warm rebuild's zip differs from the cold one")
        return False
    # Packaging alone: the >= 10x target is the whole warm rebuild's against a cold *build*
    # (install included), which bench_local_build.py measures.
    speedup = cold.median / warm.median
    passed = warm.median < WARM_SECONDS_TARGET
    print(f"warm packaging: {warm.median:.2f} s vs cold {cold.median:.2f} s: {speedup:.1f}x "
          f"faster, same bytes; {'PASS' if passed else 'FAIL'} (target < "
          f"{WARM_SECONDS_TARGET:.0f} s; the 10x target of a warm rebuild is measured against a "
          "cold build in bench_local_build.py)")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command (>= 3)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--no-cli", action="store_true", help="skip the full CLI command")
    args = parser.parse_args()
    project = ensure_project()
    with tempfile.TemporaryDirectory(prefix="azpublish-bench-") as scratch:
        with_cli = not args.no_cli and cli_available(sys.executable)
        if not with_cli:
            print("the CLI is not timed (--no-cli, or `python -m azpublish --help` fails)")
        commands = build_commands(project, Path(scratch), with_cli)
        measure(commands, max(3, args.runs))
        ok = report(commands, project)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
