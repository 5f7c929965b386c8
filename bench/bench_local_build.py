"""Local build benchmarks, each a ratio against a reference measured in the same run.

1. wheels engine: `azpublish --build local --engine wheels --dry-run` (uv; the build without
   the packaging) cold, against `pip install --platform ... --only-binary=:all: --target` cold.
   Target: >= 5x faster.
2. container engine (when a Docker daemon answers): `azpublish --build local --engine container
   --dry-run` (the build without the packaging) cold, against the same `pip install --target`
   run by hand in the same image. Target: <= 15% overhead.
3. warm rebuild: one app file changed, the dependency cache hit, from command start to finished
   zip, against a full cold build of the same engine. Target: < 3 s and >= 10x faster.

"Cold" means no installer cache (`PIP_NO_CACHE_DIR`, `UV_NO_CACHE`) and no azpublish cache;
downloads still come from the machine's configured registry, for both sides alike.
Usage: python bench/bench_local_build.py [--runs N] [--skip-container]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_project import FUNCTION_APP, REQUIREMENTS

HOST_JSON = '{"version": "2.0"}'
COLD_ENV = {"PIP_NO_CACHE_DIR": "1", "UV_NO_CACHE": "1"}
BASE_IMAGE = os.environ.get("AZPUBLISH_BENCH_BASE_IMAGE", "azpublish/base:bookworm")


def make_app(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "host.json").write_text(HOST_JSON)
    (root / "function_app.py").write_text(FUNCTION_APP)
    (root / "requirements.txt").write_text("\n".join(REQUIREMENTS) + "\n")
    return root


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n"
                         f"{result.stderr[-3000:]}")
    return elapsed


def azpublish(app: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "azpublish", "--project-dir", str(app), "--build", "local",
            "--no-deploy", "--output-zip", str(out / "app.zip"), *extra]


def docker_ready() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, check=False).returncode == 0


def median(values: list[float]) -> float:
    return statistics.median(values)


def line(label: str, value: float, reference: float, target: str, ok: bool) -> None:
    print(f"  {label}: {value:.2f} s vs {reference:.2f} s -> ratio {value / reference:.3f} "
          f"({reference / value:.1f}x)  target {target}: {'PASS' if ok else 'FAIL'}")


def bench_wheels(work: Path, runs: int) -> tuple[float, Path, dict[str, str]]:
    env = {**os.environ, **COLD_ENV}
    ours: list[float] = []
    reference: list[float] = []
    app = make_app(work / "wheels-app")
    for run in range(runs):
        cache = work / f"cache-wheels-{run}"
        env_run = {**env, "AZPUBLISH_CACHE_DIR": str(cache)}
        # --dry-run: the build runs (resolve, install, audit, materialise), packaging does
        # not, so both sides do the same job: installing the dependencies.
        ours.append(timed(azpublish(app, work, "--engine", "wheels", "--installer", "uv",
                                    "--no-cache", "--dry-run"), env_run))
        target = work / f"pip-target-{run}"
        platforms = [f"--platform=manylinux_2_{minor}_x86_64" for minor in (36, 34, 28, 17)]
        reference.append(timed([sys.executable, "-m", "pip", "install", "-q", "--target",
                                 str(target), *platforms, "--only-binary=:all:",
                                 "--implementation", "cp", "--python-version", "3.11",
                                 "-r", str(app / "requirements.txt")], env))
        shutil.rmtree(target, ignore_errors=True)
    cold = median(ours)
    print("wheels engine, cold (uv) vs pip --platform --only-binary --target, cold:")
    line("azpublish", cold, median(reference), ">= 5x faster", median(reference) / cold >= 5)
    last_cache = work / f"cache-wheels-{runs - 1}"
    return cold, app, {**os.environ, "AZPUBLISH_CACHE_DIR": str(last_cache)}


def bench_container(work: Path, runs: int) -> tuple[float, Path, dict[str, str]] | None:
    if not docker_ready():
        print("container engine: no Docker daemon answers; skipped (run "
              "scripts/provision-docker.sh)")
        return None
    from azpublish.builders.container import ContainerEngine
    from azpublish.runtime import Target
    from azpublish.toolchain.containers import HOST_MOUNT
    from azpublish.toolchain.sources import PackageSources

    image = ContainerEngine(base_image=BASE_IMAGE).ensure_image(Target("3.11"))
    # The reference reaches the index exactly as the engine does (the host's pip settings and
    # CA bundle, mounted), so both sides download the same way.
    sources, host_files = PackageSources.read().in_container(HOST_MOUNT)
    index_env = sources.environment("pip")
    by_hand_env = [arg for key, value in sorted(index_env.items())
                   for arg in ("-e", f"{key}={value}")]
    by_hand_mounts = [arg for outside, inside in sorted(host_files.items())
                      for arg in ("-v", f"{outside}:{inside}:ro")]
    app = make_app(work / "container-app")
    env = {**os.environ, **COLD_ENV}
    ours: list[float] = []
    reference: list[float] = []
    for run in range(runs):
        env_run = {**env, "AZPUBLISH_CACHE_DIR": str(work / f"cache-container-{run}")}
        # The engine keeps pip's cache in a volume: empty it, so this run is cold too.
        subprocess.run(["docker", "volume", "rm", "-f", f"azpublish-cache-{os.getuid()}"],
                       capture_output=True, check=False)
        ours.append(timed(azpublish(app, work, "--engine", "container", "--base-image",
                                    BASE_IMAGE, "--no-cache", "--dry-run"), env_run))
        out = work / f"by-hand-{run}"
        out.mkdir()
        reference.append(timed(
            ["docker", "run", "--rm", "--network", "host", "-e", "PIP_NO_CACHE_DIR=1",
             *by_hand_env, *by_hand_mounts,
             "-v", f"{app}:/src:ro", "-v", f"{out}:/out", image,
             "python", "-m", "pip", "install", "-q", "--target", "/out",
             "-r", "/src/requirements.txt"], env))
        shutil.rmtree(out, ignore_errors=True)
    cold = median(ours)
    print(f"container engine, cold, vs pip install --target by hand in the same image "
          f"({image[:19]}):")
    line("azpublish", cold, median(reference), "<= 1.15", cold / median(reference) <= 1.15)
    last_cache = work / f"cache-container-{runs - 1}"
    return cold, app, {**os.environ, "AZPUBLISH_CACHE_DIR": str(last_cache)}


def bench_warm(work: Path, app: Path, env: dict[str, str], engine: list[str],
               runs: int) -> None:
    # The cold side: a full build to a zip with every cache empty (the installer's too).
    cold_env = {**env, **COLD_ENV, "AZPUBLISH_CACHE_DIR": str(work / f"cold-{engine[1]}")}
    if engine[1] == "container":
        subprocess.run(["docker", "volume", "rm", "-f", f"azpublish-cache-{os.getuid()}"],
                       capture_output=True, check=False)
    cold = timed(azpublish(app, work, *engine), cold_env)
    timed(azpublish(app, work, *engine), env)  # the previous full build a rebuild follows
    warm: list[float] = []
    for run in range(max(runs, 3)):
        (app / "function_app.py").write_text(FUNCTION_APP + f"\n# edit {run}\n")
        warm.append(timed(azpublish(app, work, *engine), env))
    value = median(warm)
    print(f"warm rebuild (cache hit, one app file changed) vs a full cold build "
          f"({engine[1]} engine):")
    line("azpublish", value, cold, "< 3 s and >= 10x faster", value < 3 and cold / value >= 10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1, help="cold runs per side (median)")
    parser.add_argument("--skip-container", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="azpublish-bench-") as scratch:
        work = Path(scratch)
        _, app, env = bench_wheels(work, args.runs)
        bench_warm(work, app, env, ["--engine", "wheels", "--installer", "uv"], args.runs)
        if not args.skip_container:
            measured = bench_container(work, args.runs)
            if measured:
                _, app, env = measured
                bench_warm(work, app, env,
                           ["--engine", "container", "--base-image", BASE_IMAGE], args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
