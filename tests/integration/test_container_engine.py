"""The container engine against a real Docker daemon and the debootstrapped base images."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from azpublish.builders.audit import audit_tree, errors_of
from azpublish.builders.container import ContainerEngine
from azpublish.builders.engine import Installer, InstallRequest
from azpublish.errors import BuildError, ExitCode
from azpublish.runtime import Target
from tests.integration.docker_support import container_engines, docker_client  # noqa: F401
from tests.integration.pypi_index import PrivateIndex, build_wheel

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def _project(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _request(root: Path, version: str, installer: Installer = "pip",
             includes: tuple[str, ...] = (), index_env: Mapping[str, str] | None = None,
             ) -> InstallRequest:
    files = (root / "requirements.txt", *(root / name for name in includes))
    return InstallRequest(project_root=root, requirement_files=files, target=Target(version),
                          installer=installer, index_env=dict(index_env or {}),
                          output=root / ".python_packages/lib/site-packages")


class _Log(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


@pytest.mark.slow
@pytest.mark.parametrize(("version", "installer"), [("3.11", "pip"), ("3.13", "uv")])
def test_a_native_dependency_is_built_for_the_target_python(
        container_engines: dict[str, ContainerEngine],  # noqa: F811
        tmp_path: Path, version: str, installer: Installer) -> None:
    root = _project(tmp_path, {"requirements.txt": "cryptography\n"})
    request = _request(root, version, installer)
    log = _Log()
    container_engines[version].install(request, log)

    tag = "cpython-" + version.replace(".", "")
    extensions = [p.name for p in request.output.rglob("*.so")]
    assert f"_cffi_backend.{tag}-x86_64-linux-gnu.so" in extensions
    assert (request.output / "cryptography" / "__init__.py").is_file()
    assert not (request.output / ".lock").exists()
    assert errors_of(audit_tree(request.output, Target(version))) == ()
    other = "3.13" if version == "3.11" else "3.11"  # the audit would notice a mix-up
    assert errors_of(audit_tree(request.output, Target(other)))
    assert any("cryptography" in line for line in log)


def test_identity_names_the_image_and_installer(
        container_engines: dict[str, ContainerEngine], docker_client: Any,  # noqa: F811
        tmp_path: Path) -> None:
    engine = container_engines["3.11"]
    identity = engine.identity(_request(tmp_path, "3.11", "uv"))
    image = docker_client.images.get(identity["image_id"])
    assert identity["engine"] == "container"
    assert identity["installer"] == "uv"
    assert identity["installer_version"] == image.labels["org.azpublish.uv-version"]
    assert image.labels["org.azpublish.python-version"] == "3.11"
    # A second engine with the same recipe reuses the image by tag instead of building it.
    log = _Log()
    again = ContainerEngine(base_image="azpublish/base:bookworm",
                            client_factory=lambda: docker_client)
    assert again.ensure_image(Target("3.11"), log) == identity["image_id"]
    assert log == []
    other = container_engines["3.13"].identity(_request(tmp_path, "3.13"))
    assert other["image_id"] != identity["image_id"]


def test_includes_constraints_and_a_local_path_requirement(
        container_engines: dict[str, ContainerEngine],  # noqa: F811
        tmp_path: Path) -> None:
    root = _project(tmp_path / "app", {
        "requirements.txt": "-r deps/extra.txt\n./libs/localpkg\n",
        "deps/extra.txt": "-c ../constraints.txt\nsix\n",
        "constraints.txt": "six==1.16.0\n",
        "libs/localpkg/pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=61"]\n'
            'build-backend = "setuptools.build_meta"\n'
            '[project]\nname = "localpkg"\nversion = "0.1"\n'),
        "libs/localpkg/src/localpkg/__init__.py": "VALUE = 42\n",
    })
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    request = _request(root, "3.11", includes=("deps/extra.txt", "constraints.txt"))
    container_engines["3.11"].install(request, _Log())

    assert (request.output / "six-1.16.0.dist-info").is_dir()  # the constraint applied
    assert (request.output / "localpkg" / "__init__.py").read_text() == "VALUE = 42\n"
    # The source was mounted read-only and built from a scratch copy: nothing was added.
    after = sorted(p.relative_to(root) for p in root.rglob("*")
                   if ".python_packages" not in p.relative_to(root).parts)
    assert after == before


def _c_extension_sdist(folder: Path) -> Path:
    """A real sdist with a C extension and no wheel anywhere: it needs the image's compiler."""
    files = {
        "PKG-INFO": "Metadata-Version: 2.1\nName: azpublish-cprobe\nVersion: 1.0\n",
        "pyproject.toml": ('[build-system]\nrequires = ["setuptools>=61"]\n'
                           'build-backend = "setuptools.build_meta"\n'),
        "setup.py": ("from setuptools import Extension, setup\n"
                     "setup(name='azpublish-cprobe', version='1.0',\n"
                     "      ext_modules=[Extension('azpublish_cprobe', ['cprobe.c'])])\n"),
        "cprobe.c": (
            "#include <Python.h>\n"
            "static PyObject *answer(PyObject *s, PyObject *a) { return PyLong_FromLong(42); }\n"
            "static PyMethodDef methods[] = {{\"answer\", answer, METH_NOARGS, NULL},"
            " {NULL, NULL, 0, NULL}};\n"
            "static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, \"azpublish_cprobe\","
            " NULL, -1, methods};\n"
            "PyMODINIT_FUNC PyInit_azpublish_cprobe(void) { return PyModule_Create(&module); }\n"),
    }
    folder.mkdir(parents=True)
    sdist = folder / "azpublish_cprobe-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"azpublish_cprobe-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return folder


@pytest.mark.slow
def test_an_sdist_that_needs_a_compiler_builds(
        container_engines: dict[str, ContainerEngine],  # noqa: F811
        tmp_path: Path) -> None:
    links = _c_extension_sdist(tmp_path / "links")  # outside the project: mounted by the engine
    root = _project(tmp_path / "app", {"requirements.txt": "azpublish-cprobe==1.0\n"})
    request = _request(root, "3.11", index_env={"PIP_FIND_LINKS": str(links)})
    container_engines["3.11"].install(request, _Log())

    built = request.output / "azpublish_cprobe.cpython-311-x86_64-linux-gnu.so"
    assert built.read_bytes()[:4] == b"\x7fELF"
    assert errors_of(audit_tree(request.output, Target("3.11"))) == ()
    if sys.version_info[:2] == (3, 11):  # this host's CPython can load it too
        result = subprocess.run(
            [sys.executable, "-c", "import azpublish_cprobe; print(azpublish_cprobe.answer())"],
            env={**os.environ, "PYTHONPATH": str(request.output)}, capture_output=True,
            text=True, check=True, timeout=60)
        assert result.stdout.strip() == "42"


def test_a_private_index_works_and_its_password_stays_out_of_sight(
        container_engines: dict[str, ContainerEngine], docker_client: Any,  # noqa: F811
        private_index: PrivateIndex, tmp_path: Path) -> None:
    engine = container_engines["3.11"]
    root = _project(tmp_path, {"requirements.txt": f"{private_index.package_name}\n"})
    request = _request(root, "3.11", index_env={
        "PIP_INDEX_URL": private_index.url_with_credentials,
        "PIP_CERT": private_index.ca_bundle})
    seen: dict[str, Any] = {}
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        # While the installer runs, look at the container as `docker inspect` shows it.
        if engine.last_container_id and "container" not in seen:
            seen["container"] = docker_client.api.inspect_container(engine.last_container_id)

    engine.install(request, log)
    password = private_index.password

    module = request.output / private_index.module_name / "__init__.py"
    assert private_index.expected_value in module.read_text()
    assert "container" in seen
    config = seen["container"]["Config"]
    assert password not in " ".join([*seen["container"]["Args"], *config["Cmd"]])
    assert password not in repr(config["Labels"])
    assert all(password not in line for line in lines)
    for path in request.output.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    image = docker_client.images.get(seen["container"]["Image"])
    history = docker_client.api.history(image.id)
    assert password not in repr(history)
    assert password not in repr(image.attrs)  # labels, build args, env of the image
    # The container is gone afterwards, with the environment that held the password.
    assert not docker_client.containers.list(all=True, filters={"id": engine.last_container_id})


def test_output_belongs_to_the_invoking_user(
        container_engines: dict[str, ContainerEngine], docker_client: Any,  # noqa: F811
        tmp_path: Path) -> None:
    uid, gid = 4321, 4322  # stands for a non-root invoker; the test itself runs as root in CI
    engine = ContainerEngine(base_image="azpublish/base:bookworm", run_as=(uid, gid),
                             client_factory=lambda: docker_client)
    root = _project(tmp_path, {"requirements.txt": "six\n"})
    request = _request(root, "3.11")
    request.output.mkdir(parents=True)
    if os.geteuid() == 0:  # the invoker owns the project, as a real user would
        for path in [root, *root.rglob("*")]:
            os.chown(path, uid, gid)
    elif (os.getuid(), os.getgid()) != (uid, gid):
        pytest.skip("needs root to hand the output folder to another uid")
    engine.install(request, _Log())
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in request.output.rglob("*")}
    assert owners == {(uid, gid)}
    assert stat.S_ISREG((request.output / "six.py").stat().st_mode)


def test_an_install_failure_shows_the_installer_output(
        container_engines: dict[str, ContainerEngine],  # noqa: F811
        tmp_path: Path) -> None:
    root = _project(tmp_path, {"requirements.txt": "azpublish-does-not-exist-anywhere==9.9\n"})
    with pytest.raises(BuildError) as caught:
        container_engines["3.11"].install(_request(root, "3.11"), _Log())
    assert caught.value.exit_code == ExitCode.BUILD
    assert "azpublish-does-not-exist-anywhere" in caught.value.what
    assert caught.value.where == str(root / "requirements.txt")
    assert caught.value.fix


def test_a_missing_base_image_points_at_the_provisioning_script(
        docker_client: Any, tmp_path: Path) -> None:  # noqa: F811
    engine = ContainerEngine(base_image="azpublish/base:no-such-release",
                             client_factory=lambda: docker_client)
    with pytest.raises(BuildError) as caught:
        engine.identity(_request(tmp_path, "3.11"))
    assert "azpublish/base:no-such-release" in caught.value.what
    assert caught.value.fix is not None
    assert "provision-docker.sh" in caught.value.fix


@pytest.mark.slow
def test_a_failing_image_build_shows_the_failing_step(
        docker_client: Any, tmp_path: Path) -> None:  # noqa: F811
    engine = ContainerEngine(base_image="azpublish/base:bookworm",
                             additional_packages=("azpublish-no-such-debian-package",),
                             client_factory=lambda: docker_client)
    log = _Log()
    with pytest.raises(BuildError) as caught:
        engine.ensure_image(Target("3.11"), log)
    assert caught.value.exit_code == ExitCode.BUILD
    assert "Unable to locate package azpublish-no-such-debian-package" in caught.value.what
    assert "--additional-packages" in (caught.value.fix or "")
    assert any(line.startswith("Step ") for line in log), log[:8]


def test_an_unreachable_daemon_is_a_clear_build_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A unix socket nobody listens on: connecting is refused, as with a stopped dockerd.
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as closed:
        closed.bind(str(path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    with pytest.raises(BuildError) as caught:
        ContainerEngine().identity(_request(tmp_path, "3.11"))
    assert caught.value.exit_code == ExitCode.BUILD
    assert caught.value.where == f"unix://{path}"
    assert "no Docker daemon answers" in caught.value.what
    assert caught.value.fix is not None
    assert "start Docker" in caught.value.fix


@pytest.mark.slow
def test_a_base_with_another_python_is_refused_by_name(
        docker_client: Any, tmp_path: Path) -> None:  # noqa: F811
    # bookworm's apt gives Python 3.11: asking it for 3.13 must stop the build, not mislabel it.
    engine = ContainerEngine(base_image="azpublish/base:bookworm",
                             client_factory=lambda: docker_client)
    with pytest.raises(BuildError) as caught:
        engine.ensure_image(Target("3.13"), _Log())
    assert "is 3.11, not PYTHON_VERSION=3.13" in caught.value.what


@pytest.mark.parametrize("in_links", [True, False], ids=["from-find-links", "only-on-the-index"])
def test_no_index_with_uv_never_contacts_an_index(
        container_engines: dict[str, ContainerEngine],  # noqa: F811
        private_index: PrivateIndex, tmp_path: Path, in_links: bool) -> None:
    # `uv pip` ignores UV_NO_INDEX: the setting must reach uv as --no-index, or it would fetch
    # this package from the index (which has it) instead of failing or using find-links.
    links = tmp_path / "links"
    links.mkdir()
    if in_links:
        build_wheel(links)
    root = _project(tmp_path / "app", {"requirements.txt": f"{private_index.package_name}\n"})
    request = _request(root, "3.11", "uv", index_env={
        "PIP_INDEX_URL": private_index.url_with_credentials, "PIP_CERT": private_index.ca_bundle,
        "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links)})
    requests_before = private_index.log.read_text(errors="replace")
    lines = _Log()
    if in_links:
        container_engines["3.11"].install(request, lines)
        module = request.output / private_index.module_name / "__init__.py"
        assert private_index.expected_value in module.read_text()
    else:
        with pytest.raises(BuildError) as caught:
            container_engines["3.11"].install(request, lines)
        assert private_index.package_name in caught.value.what
        assert private_index.password not in caught.value.render()
    assert private_index.log.read_text(errors="replace") == requests_before
    assert all(private_index.password not in line for line in lines)
