"""The binary audit on real binaries: the venv's own wheels, gcc- and llvm-built libraries."""

from __future__ import annotations

import importlib.util
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from azpublish.builders.audit import audit_tree, raise_for_findings, warning_summary
from azpublish.errors import AuditError, ExitCode
from azpublish.runtime import Target
from tests import binaries

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
RUNNING_TAG = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
NEXT_TAG = f"cpython-{sys.version_info.major}{sys.version_info.minor + 1}"
SITE_PACKAGES = Path(sysconfig.get_paths()["platlib"])
# Real extension modules from Linux wheels that the venv holds (runtime dependencies of ours).
REAL_MODULES = ["cryptography.hazmat.bindings._rust", "yaml._yaml", "charset_normalizer.md",
                "markupsafe._speedups", "websockets.speedups"]


def module_file(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".so"):
        pytest.skip(f"{name} is not installed as an extension module")
    return Path(spec.origin)


def machine_glibc() -> tuple[int, int]:
    library, version = platform.libc_ver()
    if library != "glibc":
        pytest.skip("not a glibc system")
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def readelf_highest_glibc(path: Path) -> tuple[int, int] | None:
    """The oracle: binutils' own reading of the version needs."""
    readelf = binaries.require_tool("readelf")
    output = subprocess.run([readelf, "--version-info", "--wide", str(path)], check=True,
                            capture_output=True, text=True).stdout
    versions = {(int(major), int(minor))
                for major, minor in re.findall(r"Name: GLIBC_(\d+)\.(\d+)", output)}
    return max(versions, default=None)


# --- extension modules from real wheels ------------------------------------------------------

def test_a_real_extension_for_the_running_python_passes(tmp_path: Path) -> None:
    original = module_file("yaml._yaml")
    assert RUNNING_TAG in original.name
    shutil.copy(original, tmp_path / original.name)
    assert audit_tree(tmp_path, Target(RUNNING)) == ()


def test_a_real_extension_renamed_for_the_next_python_is_flagged(tmp_path: Path) -> None:
    original = module_file("yaml._yaml")
    renamed = original.name.replace(RUNNING_TAG, NEXT_TAG)
    shutil.copy(original, tmp_path / renamed)
    findings = audit_tree(tmp_path, Target(RUNNING))
    assert [(f.path, f.problem) for f in findings] == [(
        renamed,
        f"built for CPython {sys.version_info.major}.{sys.version_info.minor + 1} ({NEXT_TAG}), "
        f"target is {RUNNING}",
    )]


def test_a_real_extension_is_flagged_for_another_target_python(tmp_path: Path) -> None:
    original = module_file("markupsafe._speedups")
    shutil.copy(original, tmp_path / original.name)
    other = "3.12" if RUNNING != "3.12" else "3.11"
    (finding,) = audit_tree(tmp_path, Target(other))
    assert finding.problem.startswith(f"built for CPython {RUNNING} ({RUNNING_TAG})")


@pytest.mark.parametrize("module", REAL_MODULES)
def test_glibc_needs_of_real_libraries_match_readelf(tmp_path: Path, module: str) -> None:
    original = module_file(module)
    highest = readelf_highest_glibc(original)
    assert highest is not None
    shutil.copy(original, tmp_path / original.name)
    assert audit_tree(tmp_path, Target(RUNNING, glibc=highest)) == ()
    older = (highest[0], highest[1] - 1)
    (finding,) = audit_tree(tmp_path, Target(RUNNING, glibc=older))
    assert finding.problem == (f"needs GLIBC_{highest[0]}.{highest[1]}, "
                               f"target has {older[0]}.{older[1]}")


def test_a_library_needing_glibc_2_34_is_flagged_for_an_old_target_only(tmp_path: Path) -> None:
    rust = module_file("cryptography.hazmat.bindings._rust")
    if readelf_highest_glibc(rust) != (2, 34):
        pytest.skip("this cryptography build does not need GLIBC_2.34")
    shutil.copy(rust, tmp_path / rust.name)
    assert [f.problem for f in audit_tree(tmp_path, Target(RUNNING, glibc=(2, 17)))] == [
        "needs GLIBC_2.34, target has 2.17"]
    assert audit_tree(tmp_path, Target(RUNNING, glibc=(2, 36))) == ()


def test_everything_this_machine_loads_passes_an_audit_for_this_machine() -> None:
    # The venv's site-packages (hundreds of real ELF files from manylinux wheels) all load
    # here, so an audit for this very machine must not flag any of them.
    findings = audit_tree(SITE_PACKAGES, Target(RUNNING, glibc=machine_glibc()))
    assert findings == ()


# --- libraries built here --------------------------------------------------------------------

def test_gcc_library_needing_a_newer_glibc(tmp_path: Path) -> None:
    tree = tmp_path / "site-packages"
    binaries.library_needing_glibc(tree / "fast" / f"_core.{RUNNING_TAG}-x86_64-linux-gnu.so",
                                   "2.38")
    assert readelf_highest_glibc(next(tree.rglob("*.so"))) == (2, 38)
    findings = audit_tree(tree, Target(RUNNING))
    assert [(f.path, f.problem) for f in findings] == [
        (f"fast/_core.{RUNNING_TAG}-x86_64-linux-gnu.so", "needs GLIBC_2.38, target has 2.36")]
    assert audit_tree(tree, Target(RUNNING, glibc=(2, 38))) == ()


def test_gcc_library_linked_to_musl(tmp_path: Path) -> None:
    binaries.library_linked_to_musl(tmp_path / "pkg.libs" / "libthing-1a2b3c.so.1.0")
    assert [f.problem for f in audit_tree(tmp_path, Target(RUNNING))] == [
        "built for musl libc (needs libc.musl-x86_64.so.1), target has glibc"]


def test_gcc_library_for_the_target_passes(tmp_path: Path) -> None:
    binaries.compile_shared_library(tmp_path / "plain.abi3.so",
                                    "#include <math.h>\ndouble f(double x) { return sqrt(x); }\n",
                                    "-lm")
    assert audit_tree(tmp_path, Target(RUNNING)) == ()


@pytest.mark.parametrize(("triple", "problem"), [
    ("aarch64-linux-gnu", "ELF for aarch64, target is x86_64"),
    ("i386-linux-gnu", "32-bit ELF for i386, target is x86_64"),
    ("arm64-apple-macos11", "macOS Mach-O binary for arm64"),
    ("x86_64-apple-macos11", "macOS Mach-O binary for x86_64"),
])
def test_objects_assembled_for_other_platforms(tmp_path: Path, triple: str,
                                               problem: str) -> None:
    binaries.assemble_object(tmp_path / "native.so", triple)
    assert [f.problem for f in audit_tree(tmp_path, Target(RUNNING))] == [problem]


# --- severity on real-world shaped trees ----------------------------------------------------

PYDEVD = "debugpy/_vendored/pydevd"


def test_a_debugpy_shaped_tree_is_packaged_with_warnings(tmp_path: Path) -> None:
    attach = tmp_path / PYDEVD / "pydevd_attach_to_process"
    attach.mkdir(parents=True)
    (attach / "attach_amd64.dll").write_bytes(binaries.pe_image())
    binaries.assemble_object(attach / "attach_x86_64.dylib", "x86_64-apple-macos11")
    binaries.assemble_object(attach / "attach_linux_x86.so", "i386-linux-gnu")
    binaries.compile_shared_library(attach / "attach_linux_amd64.so",
                                    "int attach(void) { return 0; }\n")
    # debugpy's own extension module, built for the target: a real one from this venv.
    speedups = module_file("yaml._yaml")
    shutil.copy(speedups, tmp_path / PYDEVD / f"pydevd_cython.{RUNNING_TAG}-x86_64-linux-gnu.so")
    target = Target(RUNNING)
    findings = audit_tree(tmp_path, target)
    assert [(f.path, f.problem, f.severity) for f in findings] == [
        (f"{PYDEVD}/pydevd_attach_to_process/attach_amd64.dll",
         "Windows PE binary (.dll, x86_64)", "warning"),
        (f"{PYDEVD}/pydevd_attach_to_process/attach_linux_x86.so",
         "32-bit ELF for i386, target is x86_64", "warning"),
        (f"{PYDEVD}/pydevd_attach_to_process/attach_x86_64.dylib",
         "macOS Mach-O binary for x86_64", "warning"),
    ]
    raise_for_findings(findings, tmp_path, target)
    summary = warning_summary(findings, ".python_packages/", target)
    assert summary is not None and summary.startswith("3 files in .python_packages/")
    assert f"  {PYDEVD}/pydevd_attach_to_process/attach_linux_x86.so: 32-bit ELF" in summary


def test_a_vendored_library_needing_a_newer_glibc_is_an_error(tmp_path: Path) -> None:
    binaries.library_needing_glibc(tmp_path / "numpy.libs" / "libfoo-abc.so.1", "2.38")
    target = Target(RUNNING)
    findings = audit_tree(tmp_path, target)
    assert [(f.path, f.problem, f.severity) for f in findings] == [
        ("numpy.libs/libfoo-abc.so.1", "needs GLIBC_2.38, target has 2.36", "error")]
    with pytest.raises(AuditError, match=r"1 file cannot load(.|\n)*numpy.libs/libfoo-abc.so.1"):
        raise_for_findings(findings, tmp_path, target)


@pytest.mark.parametrize("name", ["helper.so", "vendored.libs/libhelper.so"])
def test_an_untagged_x86_64_library_needing_a_newer_glibc_is_an_error(tmp_path: Path,
                                                                      name: str) -> None:
    binaries.library_needing_glibc(tmp_path / name, "2.38")
    findings = audit_tree(tmp_path, Target(RUNNING))
    assert [(f.path, f.severity) for f in findings] == [(name, "error")]


def test_an_untagged_musl_library_is_an_error(tmp_path: Path) -> None:
    binaries.library_linked_to_musl(tmp_path / "helper.so")
    assert [f.severity for f in audit_tree(tmp_path, Target(RUNNING))] == ["error"]


@pytest.mark.parametrize(("name", "triple"), [
    (f"_core.{RUNNING_TAG}-darwin.so", "arm64-apple-macos11"),
    (f"_core.{RUNNING_TAG}-x86_64-linux-gnu.so", "aarch64-linux-gnu"),
    ("_core.abi3.so", "i386-linux-gnu"),
    ("libdep.so.2", "aarch64-linux-gnu"),
])
def test_modules_and_sonames_for_other_platforms_are_errors(tmp_path: Path, name: str,
                                                            triple: str) -> None:
    binaries.assemble_object(tmp_path / name, triple)
    findings = audit_tree(tmp_path, Target(RUNNING))
    assert findings and {f.severity for f in findings} == {"error"}
    with pytest.raises(AuditError):
        raise_for_findings(findings, tmp_path, Target(RUNNING))


# --- the hand-made headers, as an independent tool sees them --------------------------------

@pytest.mark.parametrize(("content", "description"), [
    (binaries.elf_header(binaries.EM_AARCH64), "ELF 64-bit LSB shared object, ARM aarch64"),
    (binaries.elf_header(binaries.EM_386, bits=32), "ELF 32-bit LSB shared object, Intel 80386"),
    (binaries.pe_image(), "PE32+ executable (DLL)"),
    (binaries.macho(binaries.CPU_TYPE_ARM64), "Mach-O 64-bit arm64 bundle"),
    (binaries.macho(binaries.CPU_TYPE_POWERPC, bits=32, big_endian=True), "Mach-O ppc bundle"),
    (binaries.macho_universal(binaries.macho(binaries.CPU_TYPE_X86_64),
                              binaries.macho(binaries.CPU_TYPE_ARM64)),
     "Mach-O universal binary with 2 architectures"),
    (binaries.java_class(), "compiled Java class data"),
])
def test_hand_made_headers_are_recognised_by_file(tmp_path: Path, content: bytes,
                                                  description: str) -> None:
    file_command = binaries.require_tool("file")
    path = tmp_path / "sample"
    path.write_bytes(content)
    output = subprocess.run([file_command, "--brief", str(path)], check=True,
                            capture_output=True, text=True).stdout
    assert description in output


# --- end to end ------------------------------------------------------------------------------

def test_a_mixed_python_packages_tree_fails_with_exit_code_3(tmp_path: Path) -> None:
    packages = tmp_path / ".python_packages"
    site = packages / "lib" / "site-packages"
    good = module_file("yaml._yaml")
    (site / "yaml").mkdir(parents=True)
    shutil.copy(good, site / "yaml" / good.name)
    (site / "win").mkdir()
    (site / "win" / "_speedups.cp311-win_amd64.pyd").write_bytes(binaries.pe_image())
    (site / "mac").mkdir()
    (site / "mac" / f"_speedups.{RUNNING_TAG}-darwin.so").write_bytes(
        binaries.macho_universal(binaries.macho(binaries.CPU_TYPE_X86_64),
                                 binaries.macho(binaries.CPU_TYPE_ARM64)))
    target = Target(RUNNING)
    findings = audit_tree(packages, target)
    with pytest.raises(AuditError) as caught:
        raise_for_findings(findings, packages, target)
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.BUILD
    assert f"{packages}: 2 files cannot load on the target" in message
    assert (f"  lib/site-packages/mac/_speedups.{RUNNING_TAG}-darwin.so: "
            "macOS Mach-O universal binary for x86_64, arm64") in message
    assert "  lib/site-packages/win/_speedups.cp311-win_amd64.pyd: Windows PE binary" in message
    assert "yaml" not in message
    assert "hint: rebuild the dependencies for the target with --build local" in message
