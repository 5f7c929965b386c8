"""The cache key: it changes with every input that decides a build, and only with those."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from azpublish.builders.cache import cache_key
from azpublish.builders.engine import InstallRequest
from azpublish.runtime import Target

SECRET_URL = "https://reader:s3cret-pass-word@127.0.0.1:9/simple/"
IDENTITY = {"installer": "uv", "installer_version": "0.13.8", "platform": "x86_64-manylinux_2_36"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    (root / "libs" / "local_pkg").mkdir(parents=True)
    (root / "requirements.txt").write_text("six\n-r extra.txt\n./libs/local_pkg\n")
    (root / "extra.txt").write_text("charset-normalizer\n")
    (root / "libs" / "local_pkg" / "setup.py").write_text("from setuptools import setup\n")
    return root


def request(root: Path, *, python: str = "3.11", installer: str = "uv",
            index_env: Mapping[str, str] | None = None) -> InstallRequest:
    return InstallRequest(project_root=root,
                          requirement_files=(root / "requirements.txt", root / "extra.txt"),
                          target=Target(python), installer=installer,  # type: ignore[arg-type]
                          index_env=dict(index_env or {}), output=root / "out")


def digest(root: Path, identity: Mapping[str, str] = IDENTITY,
           extra: Mapping[str, str] | None = None, **kwargs: object) -> str:
    return cache_key(request(root, **kwargs), identity, extra or {}).digest  # type: ignore[arg-type]


def test_the_same_inputs_give_the_same_key_whatever_the_mapping_order(project: Path) -> None:
    env = {"PIP_INDEX_URL": "https://a.example/simple", "PIP_EXTRA_INDEX_URL": SECRET_URL}
    reordered = dict(reversed(list(env.items())))
    identity = dict(reversed(list(IDENTITY.items())))
    assert digest(project, index_env=env) == digest(project, identity, index_env=reordered)
    assert (digest(project, extra={"a": "1", "b": "2"})
            == digest(project, extra={"b": "2", "a": "1"}))


def test_a_moved_project_keeps_its_key(project: Path, tmp_path: Path) -> None:
    before = digest(project)
    moved = project.rename(tmp_path / "elsewhere")
    assert digest(moved) == before


@pytest.mark.parametrize("edit", [
    lambda root: (root / "requirements.txt").write_text("six==1.17.0\n-r extra.txt\n"
                                                        "./libs/local_pkg\n"),
    lambda root: (root / "extra.txt").write_text("charset-normalizer<4\n"),
    lambda root: (root / "libs" / "local_pkg" / "setup.py").write_text("# changed\n"),
    lambda root: (root / "libs" / "local_pkg" / "new_module.py").write_text(""),
], ids=["requirements", "included-file", "local-package-file", "local-package-new-file"])
def test_editing_any_requirement_input_changes_the_key(project: Path, edit: object) -> None:
    before = digest(project)
    edit(project)  # type: ignore[operator]
    assert digest(project) != before


def test_every_other_input_changes_the_key(project: Path) -> None:
    base = digest(project)
    variants = [
        digest(project, python="3.13"),
        digest(project, installer="pip"),
        digest(project, index_env={"PIP_INDEX_URL": "https://a.example/simple"}),
        digest(project, {**IDENTITY, "image": "sha256:1234"}),
        digest(project, {**IDENTITY, "installer_version": "0.13.9"}),
        digest(project, extra={"additional_packages": "libxml2-dev"}),
        cache_key(InstallRequest(project_root=project,
                                 requirement_files=(project / "requirements.txt",
                                                    project / "extra.txt"),
                                 target=Target("3.11", glibc=(2, 28)), installer="uv",
                                 output=project / "out"), IDENTITY, {}).digest,
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)


def test_a_changed_password_changes_the_key_but_is_never_stored(project: Path) -> None:
    key = cache_key(request(project, index_env={"PIP_INDEX_URL": SECRET_URL}), IDENTITY, {})
    other = cache_key(request(project, index_env={
        "PIP_INDEX_URL": SECRET_URL.replace("s3cret", "other")}), IDENTITY, {})
    assert key.digest != other.digest
    stored = json.dumps(dict(key.inputs))
    assert "s3cret" not in stored and "reader" not in stored
    assert key.inputs["index.index-url"].startswith("sha256:")


def test_plain_index_settings_are_kept_readable(project: Path) -> None:
    key = cache_key(request(project, index_env={"PIP_INDEX_URL": "https://a.example/simple"}),
                    IDENTITY, {"additional_packages": "gcc"})
    assert key.inputs["index.index-url"] == "https://a.example/simple"
    assert key.inputs["extra.additional_packages"] == "gcc"
    assert key.inputs["requirements:extra.txt"].startswith("sha256:")
    assert key.inputs["local:libs/local_pkg"].startswith("sha256:")
    assert key.inputs["target.python"] == "3.11"
