"""The wheels engine with the real uv (and pip for sdists) against this machine's package sources.

Wheels come from the configured index; the source-only packages are made here, each with a tiny
in-tree build backend (no build dependencies to download), and served from a find-links folder.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest

from azpublish.builders.audit import audit_tree
from azpublish.builders.availability import find_missing
from azpublish.builders.engine import Installer, InstallRequest
from azpublish.builders.wheels import WheelsEngine
from azpublish.errors import BuildError
from azpublish.runtime import Target
from azpublish.toolchain.installers import find_uv
from azpublish.toolchain.platform_tags import pip_platforms, uv_platform
from tests.integration.pypi_index import PrivateIndex, private_index  # noqa: F401

# Real pip and uv runs against the package mirror: outside make test-quick.
pytestmark = pytest.mark.installs

INSTALLERS: tuple[Installer, ...] = ("uv",)  # pip cannot evaluate markers for the target
PASSWORD = "Not-For-Logs-93817"
FAKE_INDEX = f"https://reader:{PASSWORD}@127.0.0.1:9/simple/"

BACKEND = '''
import base64, hashlib, zipfile

NAME, VERSION, TAG = {name!r}, "1.0", {tag!r}


def _record(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "sha256=" + digest


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    module = NAME.replace("-", "_")
    info = f"{{module}}-{{VERSION}}.dist-info"
    files = {{
        f"{{module}}.py": b"VALUE = 1\\n",
        f"{{info}}/METADATA":
            f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode(),
        f"{{info}}/WHEEL": f"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: {{TAG}}\\n".encode(),
    }}
    record = "".join(f"{{n}},{{_record(d)}},{{len(d)}}\\n" for n, d in files.items())
    files[f"{{info}}/RECORD"] = (record + f"{{info}}/RECORD,,\\n").encode()
    name = f"{{module}}-{{VERSION}}-{{TAG}}.whl"
    with zipfile.ZipFile(f"{{wheel_directory}}/{{name}}", "w") as archive:
        for n, d in files.items():
            archive.writestr(n, d)
    return name
'''


def make_sdist(folder: Path, name: str, wheel_tag: str) -> Path:
    """An sdist whose build yields a wheel tagged ``wheel_tag`` (native when not *-none-any)."""
    base = f"{name.replace('-', '_')}-1.0"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        "pyproject.toml": textwrap.dedent("""\
            [build-system]
            requires = []
            build-backend = "backend"
            backend-path = ["."]
            """),
        "backend.py": BACKEND.format(name=name, tag=wheel_tag),
    }
    sdist = folder / f"{base}.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for relative, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{relative}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return sdist


def project(tmp_path: Path, requirements: str) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "requirements.txt").write_text(requirements)
    return root


def request(root: Path, python: str, installer: Installer,
            index_env: dict[str, str] | None = None) -> InstallRequest:
    output = root / "out"
    output.mkdir(exist_ok=True)
    return InstallRequest(project_root=root, requirement_files=(root / "requirements.txt",),
                          target=Target(python), installer=installer,
                          index_env=index_env or {}, output=output)


def installed(folder: Path) -> set[str]:
    """Distribution names installed in ``folder``."""
    return {p.name.split("-")[0].lower() for p in folder.glob("*.dist-info")}


@pytest.fixture(autouse=True)
def _needs_uv() -> None:
    assert find_uv(), "uv is a runtime dependency of azpublish and must be installed"


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_native_wheels_match_the_target_python(tmp_path: Path, installer: Installer,
                                               python: str) -> None:
    root = project(tmp_path, "six\ncharset-normalizer\ncffi\n")
    lines: list[str] = []
    WheelsEngine().install(request(root, python, installer), lines.append)
    out = root / "out"
    assert {"six", "charset_normalizer", "cffi", "pycparser"} <= installed(out)
    tag = f"cpython-{python.replace('.', '')}-x86_64-linux-gnu.so"
    assert list(out.glob(f"_cffi_backend.{tag}"))
    assert audit_tree(out, Target(python)) == ()
    # The other Python's ABI is what the audit is there to catch: the tree is really specific.
    other = "3.13" if python == "3.11" else "3.11"
    assert audit_tree(out, Target(other))
    assert not list(out.rglob("__pycache__"))  # nothing compiled by the host interpreter
    assert not (out / ".lock").exists()
    assert lines  # the installer's output was streamed


@pytest.mark.parametrize("installer", INSTALLERS)
def test_markers_are_evaluated_for_the_target(tmp_path: Path, installer: Installer) -> None:
    root = project(tmp_path, 'six ; sys_platform == "win32"\n'
                             'charset-normalizer ; python_version < "3.12"\n'
                             'pycparser ; sys_platform == "linux" and python_version >= "3.12"\n')
    engine = WheelsEngine()
    engine.install(request(root, "3.13", installer), lambda _: None)
    assert installed(root / "out") == {"pycparser"}
    engine.install(request(root, "3.11", installer), lambda _: None)
    assert installed(root / "out") == {"charset_normalizer"}  # (the host is 3.11 too)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_pure_python_sdist_is_built_into_a_wheel(tmp_path: Path, installer: Installer) -> None:
    links = tmp_path / "links"
    links.mkdir()
    make_sdist(links, "azp-pure-probe", "py3-none-any")
    root = project(tmp_path, "azp-pure-probe\nsix\n")
    lines: list[str] = []
    WheelsEngine().install(request(root, "3.13", installer, {"PIP_FIND_LINKS": str(links)}),
                           lines.append)
    assert installed(root / "out") == {"azp_pure_probe", "six"}
    assert (root / "out" / "azp_pure_probe.py").read_text() == "VALUE = 1\n"
    assert any("azp_pure_probe-1.0-py3-none-any.whl" in line for line in lines)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_native_sdist_only_package_is_refused_by_name(tmp_path: Path,
                                                        installer: Installer) -> None:
    links = tmp_path / "links"
    links.mkdir()
    make_sdist(links, "azp-native-probe", "cp311-cp311-linux_x86_64")
    root = project(tmp_path, "six\nazp-native-probe\n")
    with pytest.raises(BuildError) as caught:
        WheelsEngine().install(request(root, "3.11", installer, {"PIP_FIND_LINKS": str(links)}),
                               lambda _: None)
    error = caught.value
    assert "'azp-native-probe'" in error.what and "no wheel" in error.what
    assert error.fix and "--engine container" in error.fix and "--build remote" in error.fix
    assert error.exit_code == 3


@pytest.mark.parametrize("installer", INSTALLERS)
def test_index_credentials_never_reach_argv_errors_or_logs(
        tmp_path: Path, installer: Installer, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, "azp-nowhere-probe\n")
    commands: list[list[str]] = []
    real_popen = subprocess.Popen

    def recording_popen(command: list[str], *args: object, **kwargs: object) -> object:
        commands.append(list(command))
        return real_popen(command, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    env = {"PIP_INDEX_URL": FAKE_INDEX, "PIP_EXTRA_INDEX_URL": FAKE_INDEX, "PIP_RETRIES": "0",
           "PIP_TIMEOUT": "2", "PIP_FIND_LINKS": str(tmp_path)}
    lines: list[str] = []
    with pytest.raises(BuildError) as caught:
        WheelsEngine().install(request(root, "3.11", installer, env), lines.append)
    assert commands
    for command in commands:
        assert not any(PASSWORD in arg or "127.0.0.1:9" in arg for arg in command)
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
    assert lines and not any(PASSWORD in line for line in lines)
    assert "azp-nowhere-probe" in str(caught.value)


def test_identity_names_installer_version_platform_and_python(tmp_path: Path) -> None:
    root = project(tmp_path, "six\n")
    uv = WheelsEngine().identity(request(root, "3.13", "uv"))
    uv_version = subprocess.run([find_uv() or "uv", "--version"], capture_output=True,
                                text=True, check=True).stdout.split()[1]
    assert uv == {"engine": "wheels", "installer": "uv", "installer_version": uv_version,
                  "platform": "x86_64-manylinux_2_36", "python": "3.13"}


def test_pip_is_refused_because_it_evaluates_markers_for_the_host(tmp_path: Path) -> None:
    root = project(tmp_path, 'six ; python_version >= "3.12"\n')
    for call in (WheelsEngine().identity,
                 lambda r: WheelsEngine().install(r, lambda _line: None)):
        with pytest.raises(BuildError) as caught:
            call(request(root, "3.13", "pip"))
        assert "uv only" in caught.value.what and caught.value.where == "--installer pip"
    assert not list((root / "out").iterdir())  # nothing ran


def test_platform_names_follow_the_target_glibc() -> None:
    assert uv_platform(Target("3.11", glibc=(2, 36))) == "x86_64-manylinux_2_36"
    assert uv_platform(Target("3.11", glibc=(2, 30))) == "x86_64-manylinux_2_28"
    assert uv_platform(Target("3.11", machine="aarch64", glibc=(2, 17))) == \
        "aarch64-manylinux_2_17"
    tags = pip_platforms(Target("3.11", glibc=(2, 28)))
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_29_x86_64" not in tags


def test_failure_output_names_the_package() -> None:
    uv_output = ["  x No solution found when resolving dependencies:",
                 "  ╰─▶ Because azp-native-probe==1.0 has no usable wheels and building from "
                 "source is disabled and you require azp-native-probe, we can conclude ..."]
    missing = find_missing(uv_output, "uv")
    assert missing and (missing.name, missing.spec) == ("azp-native-probe",
                                                        "azp-native-probe==1.0")
    pip_output = ["ERROR: Could not find a version that satisfies the requirement Foo_Bar>=2 "
                  "(from versions: none)", "ERROR: No matching distribution found for Foo_Bar>=2"]
    missing = find_missing(pip_output, "pip")
    assert missing and (missing.name, missing.spec) == ("foo-bar", "Foo_Bar>=2")
    assert find_missing(["ERROR: something else"], "pip") is None


@pytest.mark.integration
@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_private_index_with_basic_auth(private_index: PrivateIndex,  # noqa: F811
                                         tmp_path: Path,
                                         installer: Installer) -> None:
    root = project(tmp_path, f"{private_index.package_name}\nsix\n")
    env = {"PIP_INDEX_URL": private_index.url_with_credentials,
           "PIP_CERT": private_index.ca_bundle, "PIP_RETRIES": "0"}
    lines: list[str] = []
    WheelsEngine().install(request(root, "3.13", installer, env), lines.append)
    module = root / "out" / private_index.module_name / "__init__.py"
    assert private_index.expected_value in module.read_text()
    assert "six" in installed(root / "out")
    assert lines and not any(private_index.password in line for line in lines)
    for path in (root / "out").rglob("*"):
        if path.is_file():
            assert private_index.password.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("installer", INSTALLERS)
def test_no_index_setting_is_honoured(tmp_path: Path, installer: Installer) -> None:
    # uv reads no variable for it, so the toolchain turns pip's setting into uv's flag.
    root = project(tmp_path, "charset-normalizer\n")
    with pytest.raises(BuildError, match="charset"):
        WheelsEngine().install(request(root, "3.11", installer, {"PIP_NO_INDEX": "1"}),
                               lambda _: None)
