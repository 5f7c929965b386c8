"""The binary audit on hand-made headers (see tests/binaries.py) and on file names."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from azpublish.builders.audit import (
    FIX,
    WARNING_REASON,
    Finding,
    Target,
    audit_tree,
    errors_of,
    raise_for_findings,
    warning_summary,
    warnings_of,
)
from azpublish.errors import AuditError, ExitCode, UsageError
from tests import binaries
from tests.unprivileged import run_bound_by_file_modes

PY311 = Target("3.11")
X86_64_ELF = binaries.elf_header(binaries.EM_X86_64)


def write(root: Path, relative: str, content: bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def problems_of(tmp_path: Path, name: str, content: bytes, target: Target = PY311) -> list[str]:
    write(tmp_path, name, content)
    findings = audit_tree(tmp_path, target)
    assert all(finding.path == name for finding in findings)
    return [finding.problem for finding in findings]


# --- targets -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["3", "3.x", "python3.11", "2.7", " 3.11"])
def test_target_rejects_malformed_python_versions(version: str) -> None:
    with pytest.raises(UsageError, match="MAJOR.MINOR") as caught:
        Target(version)
    assert caught.value.exit_code == ExitCode.USAGE


def test_target_rejects_unknown_machines() -> None:
    with pytest.raises(UsageError, match="sparc"):
        Target("3.11", machine="sparc")


def test_target_defaults_describe_the_azure_runtime() -> None:
    assert PY311.describe() == "Linux x86_64, CPython 3.11, glibc 2.36"


# --- what is a candidate -------------------------------------------------------------------

def test_files_not_named_like_libraries_are_never_flagged(tmp_path: Path) -> None:
    write(tmp_path, "pip/_vendor/distlib/t64.exe", binaries.pe_image())  # a launcher, never loaded
    write(tmp_path, "jpype/lib/Example.class", binaries.java_class())
    write(tmp_path, "pkg/data/arm.bin", binaries.elf_header(binaries.EM_AARCH64))
    write(tmp_path, "pkg/solib.txt", binaries.macho())
    write(tmp_path, "pkg/so", binaries.pe_image())
    assert audit_tree(tmp_path, PY311) == ()


def test_versioned_shared_library_names_are_candidates(tmp_path: Path) -> None:
    arm = binaries.elf_header(binaries.EM_AARCH64)
    assert problems_of(tmp_path, "numpy.libs/libgfortran-040039e1.so.5.0.0", arm) == [
        "ELF for aarch64, target is x86_64"]


def test_library_names_without_a_known_binary_format_pass(tmp_path: Path) -> None:
    write(tmp_path, "empty.so", b"")
    write(tmp_path, "ldscript.so", b"/* GNU ld script */\nGROUP ( libfoo.so.1 )\n")
    assert audit_tree(tmp_path, PY311) == ()


def test_a_fifo_named_like_a_library_is_skipped_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.so")
    assert audit_tree(tmp_path, PY311) == ()


def test_dangling_links_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "gone.so").symlink_to(tmp_path / "missing.so")
    assert audit_tree(tmp_path, PY311) == ()


def test_links_are_audited_as_what_they_point_to(tmp_path: Path) -> None:
    write(tmp_path, "real/libarm.so.1", binaries.elf_header(binaries.EM_AARCH64))
    (tmp_path / "libarm.so").symlink_to(tmp_path / "real" / "libarm.so.1")
    assert [f.path for f in audit_tree(tmp_path, PY311)] == ["libarm.so", "real/libarm.so.1"]


AUDIT_AS_ANYONE = """
import json, sys
from pathlib import Path
from azpublish.builders.audit import audit_tree
from azpublish.runtime import Target
print(json.dumps([[f.path, f.problem] for f in audit_tree(Path(sys.argv[1]), Target("3.11"))]))
"""


def test_unreadable_libraries_are_findings(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.so", X86_64_ELF)
    path.chmod(0)
    try:
        assert run_bound_by_file_modes(AUDIT_AS_ANYONE, str(tmp_path)) == [
            ["secret.so", "cannot be read (Permission denied)"]]
    finally:
        path.chmod(0o644)


def test_unreadable_directories_are_findings(tmp_path: Path) -> None:
    locked = tmp_path / "pkg" / "locked"
    write(locked, "hidden.pyd", b"")
    locked.chmod(0)
    try:
        assert run_bound_by_file_modes(AUDIT_AS_ANYONE, str(tmp_path)) == [
            ["pkg/locked", "directory cannot be read (Permission denied)"]]
    finally:
        locked.chmod(0o755)


def test_a_missing_folder_has_no_findings(tmp_path: Path) -> None:
    assert audit_tree(tmp_path / "absent", PY311) == ()


# --- Windows -------------------------------------------------------------------------------

def test_pe_header_is_a_valid_coff_image_for_its_machine() -> None:
    image = binaries.pe_image(binaries.PE_ARM64)
    pe_offset = int.from_bytes(image[0x3C:0x40], "little")
    assert image[:2] == b"MZ"
    assert image[pe_offset:pe_offset + 4] == b"PE\0\0"
    assert int.from_bytes(image[pe_offset + 4:pe_offset + 6], "little") == binaries.PE_ARM64


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("pkg/_speedups.cp311-win_amd64.pyd", binaries.pe_image(), "Windows PE binary (.pyd, x86_64)"),
    ("pkg/native.dll", binaries.pe_image(binaries.PE_ARM64), "Windows PE binary (.dll, arm64)"),
    ("pkg/_ext.so", binaries.pe_image(), "Windows PE binary (.so, x86_64)"),
    ("pkg/zeros.pyd", bytes(4096), "Windows-only file type (.pyd), never loaded on Linux"),
    ("pkg/LIB.DLL", b"", "Windows-only file type (.dll), never loaded on Linux"),
])
def test_windows_binaries(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    assert problems_of(tmp_path, name, content) == [problem]


# --- macOS ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "problem"), [
    ("m.cpython-311-darwin.so", binaries.macho(binaries.CPU_TYPE_ARM64),
     "macOS Mach-O binary for arm64"),
    ("libssl.3.dylib", binaries.macho(binaries.CPU_TYPE_X86_64, filetype=binaries.MH_DYLIB),
     "macOS Mach-O binary for x86_64"),
    ("old.so", binaries.macho(binaries.CPU_TYPE_POWERPC, bits=32, big_endian=True),
     "macOS Mach-O binary for ppc"),
    ("fat.abi3.so", binaries.macho_universal(binaries.macho(binaries.CPU_TYPE_X86_64),
                                             binaries.macho(binaries.CPU_TYPE_ARM64)),
     "macOS Mach-O universal binary for x86_64, arm64"),
    ("m.cpython-311-darwin.so", bytes(64), "named for macOS (cpython-311-darwin)"),
    ("libz.dylib", b"", "macOS-only file type (.dylib), never loaded on Linux"),
])
def test_macos_binaries(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    assert problems_of(tmp_path, name, content) == [problem]


# --- CPython ABI from the extension suffix ---------------------------------------------------

@pytest.mark.parametrize(("name", "version"), [
    ("m.cpython-311-x86_64-linux-gnu.so", "3.11"),
    ("m.cpython-310-x86_64-linux-gnu.so", "3.10"),
    ("m.cpython-313-x86_64-linux-gnu.so", "3.13"),
    ("m.abi3.so", "3.10"),
    ("m.so", "3.12"),
    ("libfoo.so.1", "3.12"),
])
def test_suffixes_the_target_interpreter_loads(tmp_path: Path, name: str, version: str) -> None:
    assert problems_of(tmp_path, name, X86_64_ELF, Target(version)) == []


@pytest.mark.parametrize(("name", "version", "problem"), [
    ("m.cpython-312-x86_64-linux-gnu.so", "3.11",
     "built for CPython 3.12 (cpython-312), target is 3.11"),
    ("m.cpython-310-x86_64-linux-gnu.so", "3.11",
     "built for CPython 3.10 (cpython-310), target is 3.11"),
    ("m.cpython-37m-x86_64-linux-gnu.so", "3.11",
     "built for CPython 3.7 (cpython-37m), target is 3.11"),
    ("m.cpython-313t-x86_64-linux-gnu.so", "3.13",
     "built for free-threaded CPython 3.13 (cpython-313t), target is 3.13"),
    ("m.cpython-311d-x86_64-linux-gnu.so", "3.11",
     "built for debug CPython 3.11 (cpython-311d), target is 3.11"),
    ("m.cpython-311-aarch64-linux-gnu.so", "3.11",
     "named for aarch64-linux-gnu, CPython on the target loads only x86_64-linux-gnu "
     "extension modules"),
    ("m.cpython-311.so", "3.11",
     "named without a platform, CPython on the target loads only x86_64-linux-gnu "
     "extension modules"),
    ("m.pypy310-pp73-x86_64-linux-gnu.so", "3.10",
     "built for another Python implementation (pypy310-pp73-x86_64-linux-gnu), "
     "target is CPython 3.10"),
])
def test_suffixes_for_another_interpreter(tmp_path: Path, name: str, version: str,
                                          problem: str) -> None:
    assert problems_of(tmp_path, name, X86_64_ELF, Target(version)) == [problem]


def test_windows_suffix_for_another_python_reports_windows_only(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "m.cp312-win_amd64.pyd", binaries.pe_image()) == [
        "Windows PE binary (.pyd, x86_64)"]


# --- ELF headers ---------------------------------------------------------------------------

def test_hand_made_elf_headers_open_in_pyelftools() -> None:
    arm = ELFFile(io.BytesIO(binaries.elf_header(binaries.EM_AARCH64)))
    i386 = ELFFile(io.BytesIO(binaries.elf_header(binaries.EM_386, bits=32)))
    assert (arm["e_machine"], arm.elfclass, arm["e_type"]) == ("EM_AARCH64", 64, "ET_DYN")
    assert (i386["e_machine"], i386.elfclass) == ("EM_386", 32)


@pytest.mark.parametrize(("content", "problem"), [
    (binaries.elf_header(binaries.EM_AARCH64), "ELF for aarch64, target is x86_64"),
    (binaries.elf_header(binaries.EM_386, bits=32), "32-bit ELF for i386, target is x86_64"),
    (binaries.elf_header(binaries.EM_X86_64, bits=32), "32-bit ELF, target is 64-bit x86_64"),
    (b"\x7fELF\x02\x01\x01" + bytes(20), None),
])
def test_elf_for_another_machine(tmp_path: Path, content: bytes, problem: str | None) -> None:
    found = problems_of(tmp_path, "m.abi3.so", content)
    if problem is None:
        assert len(found) == 1
        assert found[0].startswith("broken ELF file")
    else:
        assert found == [problem]


def test_elf_for_the_target_machine_passes(tmp_path: Path) -> None:
    arm = binaries.elf_header(binaries.EM_AARCH64)
    assert problems_of(tmp_path, "m.abi3.so", arm, Target("3.11", machine="aarch64")) == []
    assert problems_of(tmp_path, "m.abi3.so", X86_64_ELF, Target("3.11", machine="aarch64")) == [
        "ELF for x86_64, target is aarch64"]


def test_name_and_content_problems_are_both_reported(tmp_path: Path) -> None:
    arm = binaries.elf_header(binaries.EM_AARCH64)
    assert problems_of(tmp_path, "m.cpython-312-aarch64-linux-gnu.so", arm) == [
        "built for CPython 3.12 (cpython-312), target is 3.11",
        "named for aarch64-linux-gnu, CPython on the target loads only x86_64-linux-gnu "
        "extension modules",
        "ELF for aarch64, target is x86_64",
    ]


# --- the tree ------------------------------------------------------------------------------

def test_findings_are_sorted_posix_paths_relative_to_the_folder(tmp_path: Path) -> None:
    write(tmp_path, "zeta/a.pyd", b"")
    write(tmp_path, "alpha/deep/er/b.dylib", b"")
    write(tmp_path, "alpha/ok.abi3.so", X86_64_ELF)
    write(tmp_path, "mid.dll", b"")
    assert [f.path for f in audit_tree(tmp_path, PY311)] == [
        "alpha/deep/er/b.dylib", "mid.dll", "zeta/a.pyd"]


# --- raising -------------------------------------------------------------------------------

def test_no_findings_raise_nothing(tmp_path: Path) -> None:
    raise_for_findings((), tmp_path, PY311)


def test_findings_raise_an_audit_error_naming_files_problems_target_and_remedy(
        tmp_path: Path) -> None:
    findings = (Finding("a/x.pyd", "Windows PE binary (.pyd, x86_64)"),
                Finding("b/y.cpython-312-x86_64-linux-gnu.so", "built for CPython 3.12"),
                Finding("b/y.cpython-312-x86_64-linux-gnu.so", "needs GLIBC_2.38, target has 2.36"))
    with pytest.raises(AuditError) as caught:
        raise_for_findings(findings, tmp_path, PY311)
    error = caught.value
    assert error.exit_code == ExitCode.BUILD
    assert int(error.exit_code) == 3
    assert error.where == str(tmp_path)
    assert error.fix == FIX
    assert "--build local" in str(error) and "--build remote" in str(error)
    lines = error.what.splitlines()
    assert lines[0] == ("2 files cannot load on the target "
                        "(Linux x86_64, CPython 3.11, glibc 2.36):")
    assert lines[1:] == [
        "  a/x.pyd: Windows PE binary (.pyd, x86_64)",
        "  b/y.cpython-312-x86_64-linux-gnu.so: built for CPython 3.12; "
        "needs GLIBC_2.38, target has 2.36",
    ]


def test_long_lists_are_cut_at_twenty_files(tmp_path: Path) -> None:
    findings = [Finding(f"pkg/m{index:02}.pyd", "Windows") for index in range(25)]
    with pytest.raises(AuditError) as caught:
        raise_for_findings(findings, tmp_path, PY311)
    lines = caught.value.what.splitlines()
    assert lines[0].startswith("25 files cannot load")
    assert lines[1] == "  pkg/m00.pyd: Windows"
    assert lines[20] == "  pkg/m19.pyd: Windows"
    assert lines[21:] == ["  ... and 5 more"]


def test_one_file_is_singular(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match=r"1 file cannot load on the target"):
        raise_for_findings([Finding("x.dylib", "macOS")], tmp_path, PY311)


# --- severity: what fails the build, what is only reported ----------------------------------

DEBUGPY_ATTACH = "debugpy/_vendored/pydevd/pydevd_attach_to_process"


def severities(tmp_path: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in audit_tree(tmp_path, PY311):
        found.setdefault(finding.path, set()).add(finding.severity)
    return found


def test_finding_fields_keep_their_order_and_default_to_error() -> None:
    assert Finding("a.pyd", "Windows") == Finding("a.pyd", "Windows", "error")
    assert Finding("a.dll", "Windows", "warning").severity == "warning"


def test_a_debugpy_tree_has_only_warnings_and_does_not_raise(tmp_path: Path) -> None:
    write(tmp_path, f"{DEBUGPY_ATTACH}/attach_amd64.dll", binaries.pe_image())
    write(tmp_path, f"{DEBUGPY_ATTACH}/attach_x86_64.dylib",
          binaries.macho(binaries.CPU_TYPE_X86_64, filetype=binaries.MH_DYLIB))
    write(tmp_path, f"{DEBUGPY_ATTACH}/attach_linux_x86.so",
          binaries.elf_header(binaries.EM_386, bits=32))
    write(tmp_path, f"{DEBUGPY_ATTACH}/attach_linux_amd64.so", X86_64_ELF)
    write(tmp_path, "clr_loader/ffi/dlls/amd64/ClrLoader.dll", binaries.pe_image())
    findings = audit_tree(tmp_path, PY311)
    assert [(f.path, f.problem, f.severity) for f in findings] == [
        ("clr_loader/ffi/dlls/amd64/ClrLoader.dll", "Windows PE binary (.dll, x86_64)",
         "warning"),
        (f"{DEBUGPY_ATTACH}/attach_amd64.dll", "Windows PE binary (.dll, x86_64)", "warning"),
        (f"{DEBUGPY_ATTACH}/attach_linux_x86.so", "32-bit ELF for i386, target is x86_64",
         "warning"),
        (f"{DEBUGPY_ATTACH}/attach_x86_64.dylib", "macOS Mach-O binary for x86_64", "warning"),
    ]
    assert errors_of(findings) == ()
    assert warnings_of(findings) == findings
    raise_for_findings(findings, tmp_path, PY311)


@pytest.mark.parametrize(("name", "content"), [
    ("pkg/_speedups.pyd", binaries.pe_image()),
    ("pkg/_speedups.cp311-win_amd64.pyd", binaries.pe_image()),
    ("pkg/_SPEEDUPS.PYD", b""),
    ("pkg/_core.cpython-311-darwin.so", binaries.macho(binaries.CPU_TYPE_ARM64)),
    ("pkg/_core.cpython-311-darwin.so", bytes(64)),
    ("pkg/_core.cpython-311-aarch64-linux-gnu.so", binaries.elf_header(binaries.EM_AARCH64)),
    ("pkg/_core.cpython-312-x86_64-linux-gnu.so", X86_64_ELF),
    ("pkg/_core.abi3.so", binaries.elf_header(binaries.EM_AARCH64)),
    ("pkg/_core.abi3.so", binaries.pe_image()),
    ("pkg/_core.pypy310-pp73-x86_64-linux-gnu.so", X86_64_ELF),
    ("pkg/_core.graalpy311-38-native-x86_64-linux.so", X86_64_ELF),
    ("pkg.libs/libfoo-abc123.so.1", binaries.elf_header(binaries.EM_AARCH64)),
    ("pkg.libs/libfoo-abc123.so", binaries.elf_header(binaries.EM_386, bits=32)),
    ("pkg.libs/libfoo-abc123.dll", binaries.pe_image()),
    ("pkg.libs/deeper/libfoo.dylib", binaries.macho(binaries.CPU_TYPE_X86_64)),
    ("pkg/lib/libbar.so.3", binaries.macho(binaries.CPU_TYPE_X86_64)),
    ("pkg/lib/libbar.so.3.0.1", binaries.pe_image()),
    ("pkg/helper.so", b"\x7fELF\x02\x01\x01" + bytes(20)),  # broken: may well be a module
])
def test_extension_modules_and_the_libraries_they_link_are_errors(
        tmp_path: Path, name: str, content: bytes) -> None:
    write(tmp_path, name, content)
    assert severities(tmp_path) == {name: {"error"}}
    with pytest.raises(AuditError, match="1 file cannot load"):
        raise_for_findings(audit_tree(tmp_path, PY311), tmp_path, PY311)


@pytest.mark.parametrize(("name", "content"), [
    ("pkg/native.dll", binaries.pe_image(binaries.PE_ARM64)),
    ("pkg/LIB.DLL", b""),
    ("pkg/libssl.3.dylib", binaries.macho(binaries.CPU_TYPE_X86_64, filetype=binaries.MH_DYLIB)),
    ("pkg/libz.dylib", b""),
    ("pkg/attach_linux_arm64.so", binaries.elf_header(binaries.EM_AARCH64)),
    ("pkg/attach.so", binaries.macho(binaries.CPU_TYPE_ARM64, filetype=binaries.MH_DYLIB)),
    ("pkg/_ext.so", binaries.pe_image()),
    ("pkg/x32.so", binaries.elf_header(binaries.EM_X86_64, bits=32)),
    ("pkg.dylibs/libfoo.dylib", binaries.macho(binaries.CPU_TYPE_X86_64)),  # delocate, macOS
    ("pkg/libs/helper.dll", binaries.pe_image()),  # a plain "libs" folder is not vendored
])
def test_foreign_helpers_not_named_as_modules_are_warnings(tmp_path: Path, name: str,
                                                          content: bytes) -> None:
    write(tmp_path, name, content)
    assert severities(tmp_path) == {name: {"warning"}}
    raise_for_findings(audit_tree(tmp_path, PY311), tmp_path, PY311)


def test_the_libs_folder_counts_only_inside_the_audited_tree(tmp_path: Path) -> None:
    root = tmp_path / "app.libs" / "site-packages"
    write(root, "pkg/helper.dll", binaries.pe_image())
    assert [f.severity for f in audit_tree(root, PY311)] == ["warning"]


def test_raising_counts_and_lists_only_errors(tmp_path: Path) -> None:
    findings = (Finding("a/attach.dll", "Windows PE binary (.dll, x86_64)", "warning"),
                Finding("b/x.pyd", "Windows PE binary (.pyd, x86_64)"),
                Finding("c/attach.dylib", "macOS Mach-O binary for x86_64", "warning"))
    with pytest.raises(AuditError) as caught:
        raise_for_findings(findings, tmp_path, PY311)
    assert caught.value.what.splitlines() == [
        "1 file cannot load on the target (Linux x86_64, CPython 3.11, glibc 2.36):",
        "  b/x.pyd: Windows PE binary (.pyd, x86_64)",
    ]


def test_no_warnings_no_summary() -> None:
    assert warning_summary((), ".python_packages/", PY311) is None
    assert warning_summary([Finding("x.pyd", "Windows")], ".python_packages/", PY311) is None


def test_the_warning_summary_names_files_problems_and_why_they_are_allowed() -> None:
    findings = (Finding("a/attach.dll", "Windows PE binary (.dll, x86_64)", "warning"),
                Finding("b/x.pyd", "Windows PE binary (.pyd, x86_64)"),
                Finding("c/attach_linux_x86.so", "32-bit ELF for i386, target is x86_64",
                        "warning"))
    summary = warning_summary(findings, ".python_packages/", PY311)
    assert summary is not None
    assert summary.splitlines() == [
        "2 files in .python_packages/ will not load natively on the target (Linux x86_64, "
        f"CPython 3.11, glibc 2.36) but are packaged anyway ({WARNING_REASON}):",
        "  a/attach.dll: Windows PE binary (.dll, x86_64)",
        "  c/attach_linux_x86.so: 32-bit ELF for i386, target is x86_64",
    ]
    assert "Functions runtime" in WARNING_REASON and "not Python extension modules" in summary


def test_the_warning_summary_is_cut_at_ten_files_and_singular_for_one() -> None:
    many = [Finding(f"pkg/h{index:02}.dll", "Windows", "warning") for index in range(13)]
    lines = (warning_summary(many, "here", PY311) or "").splitlines()
    assert lines[0].startswith("13 files in here will not load natively")
    assert lines[1:11] == [f"  pkg/h{index:02}.dll: Windows" for index in range(10)]
    assert lines[11:] == ["  ... and 3 more"]
    one = warning_summary(many[:1], "here", PY311) or ""
    assert one.startswith("1 file in here will not load natively") and " is packaged " in one
