"""The build cache on disk: complete entries only, one build per key across processes,
nothing secret under the cache folder, and a faithful copy into the project."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import time
from pathlib import Path

import pytest

from azpublish.builders.cache import (
    CACHE_DIR_VARIABLE,
    BuildCache,
    CacheKey,
    cache_key,
    default_cache_root,
    materialize,
)
from azpublish.builders.engine import InstallRequest
from azpublish.runtime import Target

PASSWORD = "Very-Secret-Pw-4821"


def make_key(tmp_path: Path, python: str = "3.11", *, write: bool = True) -> CacheKey:
    root = tmp_path / "app"
    if write:  # concurrent readers must not see it rewritten (truncated) under them
        root.mkdir(exist_ok=True)
        (root / "requirements.txt").write_text("six\n")
    request = InstallRequest(project_root=root, requirement_files=(root / "requirements.txt",),
                             target=Target(python), installer="pip",
                             index_env={"PIP_INDEX_URL":
                                        f"https://user:{PASSWORD}@127.0.0.1:9/simple/"},
                             output=root / "out")
    return cache_key(request, {"installer": "pip"}, {})


def fill(folder: Path) -> None:
    (folder / "six.py").write_text("VALUE = 6\n")
    (folder / "pkg" / "sub").mkdir(parents=True)
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "sub" / "data.bin").write_bytes(bytes(range(256)) * 100)
    (folder / "pkg" / "link.py").symlink_to("__init__.py")


def snapshot(folder: Path) -> dict[str, bytes | str]:
    result: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            result[relative] = f"-> {path.readlink()}"
        elif path.is_file():
            result[relative] = path.read_bytes()
        else:
            result[relative] = "dir"
    return result


def test_a_stored_build_is_found_again_by_a_new_cache_object(tmp_path: Path) -> None:
    key = make_key(tmp_path)
    cache = BuildCache(tmp_path / "cache")
    assert cache.lookup(key) is None
    staging = cache.staging_dir(key)
    assert staging.is_dir() and not any(staging.iterdir())
    fill(staging)
    expected = snapshot(staging)
    stored = cache.store(key, staging)
    assert not staging.exists()  # moved, not copied
    found = BuildCache(tmp_path / "cache").lookup(key)
    assert found == stored
    assert snapshot(found) == expected
    assert BuildCache(tmp_path / "cache").lookup(make_key(tmp_path, "3.13")) is None


def test_storing_again_replaces_the_entry(tmp_path: Path) -> None:
    key = make_key(tmp_path)
    cache = BuildCache(tmp_path / "cache")
    first = cache.staging_dir(key)
    fill(first)
    cache.store(key, first)
    second = cache.staging_dir(key)
    (second / "only.py").write_text("")
    found = cache.store(key, second)
    assert sorted(p.name for p in found.iterdir()) == ["only.py"]
    assert cache.lookup(key) == found


def test_no_secret_reaches_any_file_under_the_cache(tmp_path: Path) -> None:
    key = make_key(tmp_path)
    cache = BuildCache(tmp_path / "cache")
    with cache.locked(key):
        staging = cache.staging_dir(key)
        fill(staging)
        cache.store(key, staging)
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert any(p.name == "entry.json" for p in files)
    for path in files:
        assert PASSWORD.encode() not in path.read_bytes(), path


def test_a_folder_without_the_marker_is_never_an_entry(tmp_path: Path) -> None:
    key = make_key(tmp_path)
    cache = BuildCache(tmp_path / "cache")
    half = tmp_path / "cache" / "builds" / key.digest / "site-packages"
    half.mkdir(parents=True)
    (half / "six.py").write_text("")
    assert cache.lookup(key) is None
    staging = cache.staging_dir(key)
    fill(staging)
    assert cache.store(key, staging) == half  # and storing over it works
    assert cache.lookup(key) == half


def _killed_midway(cache_root: str, python: str, tmp: str) -> None:
    cache = BuildCache(Path(cache_root))
    key = make_key(Path(tmp), python)
    staging = cache.staging_dir(key)
    fill(staging)
    os._exit(9)  # as if killed before store()


def test_a_build_killed_midway_is_not_reused_and_its_leftovers_go(tmp_path: Path) -> None:
    cache_root = tmp_path / "cache"
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_killed_midway, args=(str(cache_root), "3.11", str(tmp_path)))
    child.start()
    child.join(60)
    assert child.exitcode == 9
    key = make_key(tmp_path)
    leftovers = list((cache_root / "staging").iterdir())
    assert len(leftovers) == 1
    assert BuildCache(cache_root).lookup(key) is None
    # A young leftover of a key nobody holds stays (its build may still be running) ...
    BuildCache(cache_root).staging_dir(make_key(tmp_path, "3.13"))
    assert leftovers[0].exists()
    # ... an old one goes, and so does any of a key we hold the lock for.
    BuildCache(cache_root, stale_after=0).staging_dir(make_key(tmp_path, "3.13"))
    assert not leftovers[0].exists()
    again = context.Process(target=_killed_midway, args=(str(cache_root), "3.11", str(tmp_path)))
    again.start()
    again.join(60)
    assert again.exitcode == 9
    cache = BuildCache(cache_root)
    with cache.locked(key):
        mine = cache.staging_dir(key)
        others = [p for p in (cache_root / "staging").iterdir()
                  if p != mine and p.name.startswith(key.digest)]
    assert others == []


def _build_under_lock(cache_root: str, tmp: str, log: str) -> None:
    cache = BuildCache(Path(cache_root))
    key = make_key(Path(tmp), write=False)
    with cache.locked(key):
        if cache.lookup(key) is not None:
            outcome = "hit"
        else:
            staging = cache.staging_dir(key)
            fill(staging)
            time.sleep(0.5)  # a slow build: the other process must wait, not build too
            cache.store(key, staging)
            outcome = "built"
    with Path(log).open("a") as stream:
        stream.write(outcome + "\n")


@pytest.mark.parametrize("count", [2, 8])
def test_concurrent_builds_of_one_key_build_once(tmp_path: Path, count: int) -> None:
    cache_root, log = tmp_path / "cache", tmp_path / "outcomes.txt"
    make_key(tmp_path)  # writes the project files before the children read them
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_build_under_lock,
                               args=(str(cache_root), str(tmp_path), str(log)))
               for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert sorted(log.read_text().split()) == ["built", *["hit"] * (count - 1)]


def test_materialize_gives_an_equal_tree_and_replaces_the_old_one(tmp_path: Path) -> None:
    key = make_key(tmp_path)
    cache = BuildCache(tmp_path / "cache")
    staging = cache.staging_dir(key)
    fill(staging)
    entry = cache.store(key, staging)
    dest = tmp_path / "app" / ".python_packages" / "lib" / "site-packages"
    dest.mkdir(parents=True)
    (dest / "stale.py").write_text("from an older build")
    materialize(entry, dest)
    assert snapshot(dest) == snapshot(entry)
    assert (dest / "six.py").samefile(entry / "six.py")  # linked, not copied
    assert sorted(p.name for p in dest.parent.iterdir()) == ["site-packages"]
    materialize(entry, dest)  # again, over itself
    assert snapshot(dest) == snapshot(entry)


def test_materialize_copies_across_filesystems(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second filesystem (/dev/shm)")
    key = make_key(tmp_path)
    cache = BuildCache(tmp_path / "cache")
    staging = cache.staging_dir(key)
    fill(staging)
    entry = cache.store(key, staging)
    dest = shm / f"azpublish-test-{os.getpid()}" / "site-packages"
    try:
        materialize(entry, dest)
        assert snapshot(dest) == snapshot(entry)
    finally:
        subprocess.run(["rm", "-rf", str(dest.parent)], check=True)


def test_the_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CACHE_DIR_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "azpublish"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_root() == tmp_path / "home" / ".cache" / "azpublish"
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path / "mine"))
    assert BuildCache().root == (tmp_path / "mine").resolve()
