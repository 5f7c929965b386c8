"""Test fixtures that construct binaries: minimal valid headers by hand, and real libraries via gcc.

The hand-made headers follow the formats' specifications field by field (``file`` and
pyelftools recognise them, see the audit tests); the gcc helpers build real shared libraries
whose dynamic section and version needs are the linker's own work.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

EM_386 = 3
EM_X86_64 = 62
EM_AARCH64 = 183

PE_AMD64 = 0x8664
PE_ARM64 = 0xAA64

CPU_TYPE_X86_64 = 0x01000007
CPU_TYPE_ARM64 = 0x0100000C
CPU_TYPE_POWERPC = 18
_CPU_SUBTYPES_ALL = {CPU_TYPE_X86_64: 3}  # CPU_SUBTYPE_X86_64_ALL; the others' "all" is 0
MH_BUNDLE = 8  # what Python extension modules are on macOS
MH_DYLIB = 6

_ET_DYN = 3


def elf_header(machine: int = EM_X86_64, *, bits: int = 64, little_endian: bool = True) -> bytes:
    """An ELF shared-object header with no sections or segments (e_shoff = e_phoff = 0)."""
    order = "<" if little_endian else ">"
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if little_endian else 2, 1, 0])
    ident = ident.ljust(16, b"\0")
    if bits == 64:
        # e_type e_machine e_version e_entry e_phoff e_shoff e_flags e_ehsize
        # e_phentsize e_phnum e_shentsize e_shnum e_shstrndx
        rest = struct.pack(order + "HHIQQQIHHHHHH", _ET_DYN, machine, 1, 0, 0, 0, 0, 64,
                           56, 0, 64, 0, 0)
    else:
        rest = struct.pack(order + "HHIIIIIHHHHHH", _ET_DYN, machine, 1, 0, 0, 0, 0, 52,
                           32, 0, 40, 0, 0)
    return ident + rest


def pe_image(machine: int = PE_AMD64) -> bytes:
    """A PE32+ DLL: DOS header whose e_lfanew points at "PE\\0\\0", COFF and optional header."""
    pe_offset = 0x80
    dos = bytearray(pe_offset)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, pe_offset)
    optional = bytearray(240)  # PE32+ optional header with 16 data directories
    struct.pack_into("<H", optional, 0, 0x20B)
    struct.pack_into("<I", optional, 108, 16)  # NumberOfRvaAndSizes
    characteristics = 0x2000 | 0x0020 | 0x0002  # DLL, large address aware, executable image
    coff = struct.pack("<HHIIIHH", machine, 0, 0, 0, 0, len(optional), characteristics)
    return bytes(dos) + b"PE\0\0" + coff + bytes(optional)


def macho(cpu_type: int = CPU_TYPE_ARM64, *, filetype: int = MH_BUNDLE, bits: int = 64,
          big_endian: bool = False) -> bytes:
    """A Mach-O header with no load commands."""
    order = ">" if big_endian else "<"
    magic = 0xFEEDFACF if bits == 64 else 0xFEEDFACE
    # magic cputype cpusubtype filetype ncmds sizeofcmds flags [reserved]
    header = struct.pack(order + "IiiIIII", magic, cpu_type, _CPU_SUBTYPES_ALL.get(cpu_type, 0),
                         filetype, 0, 0, 0)
    return header + (struct.pack(order + "I", 0) if bits == 64 else b"")


def macho_universal(*slices: bytes) -> bytes:
    """A fat (universal) Mach-O holding the given thin Mach-O images, 4 KiB aligned."""
    align = 12
    offset = 1 << align
    entries = b""
    body = b""
    for image in slices:
        order = "<" if image[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe") else ">"
        cpu_type, cpu_subtype = struct.unpack_from(order + "ii", image, 4)
        entries += struct.pack(">iiIII", cpu_type, cpu_subtype, offset + len(body), len(image),
                               align)
        body += image.ljust(1 << align, b"\0")
    header = struct.pack(">II", 0xCAFEBABE, len(slices)) + entries
    return header.ljust(offset, b"\0") + body


def java_class() -> bytes:
    """The start of a Java class file (Java 8): the same 0xcafebabe magic as a fat Mach-O."""
    return struct.pack(">IHHH", 0xCAFEBABE, 0, 52, 1)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI", "").lower() == "true":  # .ci/run installs it
            pytest.fail(f"{message}; .ci/run should have installed it")
        pytest.skip(message)
    return path


def compile_shared_library(output: Path, source: str, *args: str) -> Path:
    """Compile C ``source`` into the shared library ``output`` with gcc (extra ``args`` last)."""
    gcc = require_tool("gcc")
    output.parent.mkdir(parents=True, exist_ok=True)
    source_file = output.with_name(output.name + ".c")
    source_file.write_text(source)
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(output), str(source_file), *args],
                   check=True, capture_output=True)
    source_file.unlink()
    return output


_STUB_SOURCE = "int azp_stub_symbol(void) { return 1; }\n"
_USER_SOURCE = "int azp_stub_symbol(void);\nint azp_use(void) { return azp_stub_symbol(); }\n"


def library_needing_glibc(output: Path, version: str) -> Path:
    """A real library whose ``.gnu.version_r`` needs ``GLIBC_<version>`` from libc.so.6.

    The machine's own glibc cannot provide a newer version, so a stub libc.so.6 that defines
    the version node is built first and the library is linked against it, as the linker would
    against a newer glibc.
    """
    stubs = output.parent / "stub-glibc"
    stubs.mkdir(parents=True, exist_ok=True)
    version_script = stubs / "libc.map"
    version_script.write_text(f"GLIBC_{version} {{ global: azp_stub_symbol; local: *; }};\n")
    stub = compile_shared_library(stubs / "libc.so.6", _STUB_SOURCE, "-nostdlib",
                                  "-Wl,-soname,libc.so.6", f"-Wl,--version-script,{version_script}")
    library = compile_shared_library(output, _USER_SOURCE, "-nostdlib", str(stub))
    shutil.rmtree(stubs)
    return library


def library_linked_to_musl(output: Path) -> Path:
    """A real library whose only DT_NEEDED is libc.musl-x86_64.so.1, as in musllinux wheels."""
    stubs = output.parent / "stub-musl"
    compile_shared_library(stubs / "libc.musl-x86_64.so.1", _STUB_SOURCE, "-nostdlib",
                           "-Wl,-soname,libc.musl-x86_64.so.1")
    library = compile_shared_library(output, _USER_SOURCE, "-nostdlib", "-Wl,--no-as-needed",
                                     f"-L{stubs}", "-l:libc.musl-x86_64.so.1")
    shutil.rmtree(stubs)
    return library


def assemble_object(output: Path, triple: str) -> Path:
    """An empty object file for another platform, made by the LLVM assembler (a real toolchain)."""
    llvm_mc = require_tool("llvm-mc")
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([llvm_mc, f"--triple={triple}", "-filetype=obj", "-o", str(output),
                    "/dev/null"], check=True, capture_output=True)
    return output
