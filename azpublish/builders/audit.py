"""Binary audit: find files in a dependency tree that cannot load on the Azure Linux runtime.

The Functions Python runtime is Linux x86_64 (Debian bookworm, glibc 2.36) running the app's
exact CPython. Windows or macOS binaries, extension modules for another CPython, and ELF files
for another machine, for musl, or for a newer glibc all upload fine and then fail with
ImportError at run time, so they are found here, before the upload.

Each finding is an error (the build fails) or a warning (the file is packaged anyway). Errors are
files CPython imports as extension modules, and the shared libraries those link against. Real
packages also carry native helpers for other platforms that no import ever loads (debugpy's
``attach_amd64.dll``, ``attach_x86_64.dylib`` and 32-bit ``attach_linux_x86.so``; pythonnet's
.NET assemblies), and failing on those would block working apps, so they are warnings.

Only files named like shared libraries are opened, and only their first bytes are read, unless
they are ELF, whose headers pyelftools then reads (it seeks; it never loads the whole file).
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from azpublish.errors import AuditError
from azpublish.runtime import Target

FIX = ("rebuild the dependencies for the target with --build local or let the server build "
       "them with --build remote")
MAX_LISTED_FILES = 20
MAX_LISTED_WARNINGS = 10
WARNING_REASON = ("not Python extension modules; never loaded by the Functions runtime unless "
                  "your code loads them")

Severity = Literal["error", "warning"]

# Machine names as Python's multiarch triplets spell them, mapped to pyelftools' e_machine names.
_ELF_MACHINES = {
    "x86_64": "EM_X86_64",
    "aarch64": "EM_AARCH64",
    "i386": "EM_386",
    "arm": "EM_ARM",
    "ppc64": "EM_PPC64",
    "s390x": "EM_S390",
    "riscv64": "EM_RISCV",
}
_ELF_MACHINE_NAMES = {em: name for name, em in _ELF_MACHINES.items()}

_MACHO_CPU_TYPES = {
    7: "i386", 0x01000007: "x86_64", 12: "arm", 0x0100000C: "arm64", 18: "ppc",
    0x01000012: "ppc64",
}
_PE_MACHINES = {0x8664: "x86_64", 0x14C: "i386", 0xAA64: "arm64", 0x1C4: "arm"}

_ELF_MAGIC = b"\x7fELF"
_PE_MAGIC = b"MZ"
# mach_header magics as they appear on disk, in both byte orders, and the fat (universal)
# headers, which are always big-endian. Java class files also start with 0xcafebabe, but only
# files named like libraries get here, and for those it is a universal Mach-O.
_MACHO_THIN = {
    b"\xfe\xed\xfa\xce": ">", b"\xfe\xed\xfa\xcf": ">",
    b"\xce\xfa\xed\xfe": "<", b"\xcf\xfa\xed\xfe": "<",
}
_MACHO_FAT = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")
# Enough for a DOS header pointing at a nearby PE header, or a fat header and a few slices.
_HEAD_BYTES = 512

_SHARED_LIBRARY_NAME = re.compile(r"\.(?:so|pyd|dll|dylib)$|\.so(?:\.\d+)+$", re.IGNORECASE)
# The module name has no dots, so the first dot starts the extension suffix.
_CPYTHON_SUFFIX = re.compile(
    r"^[^.]+\.(?P<tag>(?:cpython-|cp)(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*))"
    r"(?:-(?P<platform>[^.]+))?\.(?:so|pyd)$"
)
_OTHER_PYTHON_SUFFIX = re.compile(r"^[^.]+\.(?P<tag>(?:pypy|graalpy)[^.]*)\.so$")
# For severity only, and looser than the two above (any module name, any case): whatever is
# named like an extension module is treated as one.
_EXTENSION_MODULE_NAME = re.compile(
    r"\.pyd$|\.(?:(?:cpython-|cp)\d+[a-z]*(?:-[^.]+)?|abi3|(?:pypy|graalpy)[^.]*)\.so$",
    re.IGNORECASE)
# libfoo.so.1: the sonames extension modules link against (auditwheel's vendored copies too).
_VERSIONED_LIBRARY_NAME = re.compile(r"\.so(?:\.\d+)+$", re.IGNORECASE)
# auditwheel and delvewheel put the libraries a package's extensions need in <package>.libs/.
_VENDORED_LIBRARIES_FOLDER = ".libs"
_GLIBC_VERSION = re.compile(r"^GLIBC_(\d+)\.(\d+)")
_MUSL_LIBRARIES = ("libc.musl-", "ld-musl-")
_SHT_DYNAMIC = 6
_SHT_GNU_VERNEED = 0x6FFFFFFE

_FLAG_MEANINGS = {"t": "free-threaded ", "d": "debug "}


@dataclass(frozen=True)
class Finding:
    path: str  # posix path relative to the audited folder
    problem: str
    severity: Severity = "error"


@dataclass(frozen=True)
class _Problem:
    text: str
    # Built for another OS or machine, as opposed to another Python or libc, or unreadable.
    foreign: bool = False


def audit_tree(folder: Path, target: Target) -> tuple[Finding, ...]:
    """Every problem with every shared library or extension module under ``folder``.

    A folder that does not exist holds nothing to upload, so it has no findings.
    """
    if not folder.is_dir():
        return ()
    findings: list[Finding] = []
    unreadable: list[OSError] = []
    for path in _candidates(folder, unreadable):
        relative = path.relative_to(folder).as_posix()
        problems = _file_problems(path, target)
        severity = _severity(relative, problems)
        findings.extend(Finding(relative, problem.text, severity) for problem in problems)
    # A directory the walk cannot list may hide binaries; say so rather than pass it.
    findings.extend(
        Finding(Path(str(error.filename)).relative_to(folder).as_posix(),
                f"directory cannot be read ({error.strerror or error})")
        for error in unreadable)
    # Stable: a file's problems keep their order.
    findings.sort(key=lambda finding: finding.path)
    return tuple(findings)


def errors_of(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    return tuple(finding for finding in findings if finding.severity == "error")


def warnings_of(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    return tuple(finding for finding in findings if finding.severity == "warning")


def raise_for_findings(findings: Sequence[Finding], folder: Path, target: Target) -> None:
    """Raise one ``AuditError`` naming the files with errors, or return if there are none.

    Warnings never raise; ``warning_summary`` describes them.
    """
    count, lines = _listing(errors_of(findings), MAX_LISTED_FILES)
    if not count:
        return
    files = "file" if count == 1 else "files"
    raise AuditError(
        f"{count} {files} cannot load on the target ({target.describe()}):\n" + "\n".join(lines),
        where=str(folder),
        fix=FIX,
    )


def warning_summary(findings: Sequence[Finding], where: str, target: Target) -> str | None:
    """One message naming the files with warnings and why they are packaged; None if none."""
    count, lines = _listing(warnings_of(findings), MAX_LISTED_WARNINGS)
    if not count:
        return None
    files, are = ("file", "is") if count == 1 else ("files", "are")
    return (f"{count} {files} in {where} will not load natively on the target "
            f"({target.describe()}) but {are} packaged anyway ({WARNING_REASON}):\n"
            + "\n".join(lines))


def _listing(findings: Sequence[Finding], limit: int) -> tuple[int, list[str]]:
    """How many files the findings name, and a line for each of the first ``limit``."""
    problems: dict[str, list[str]] = {}
    for finding in findings:
        problems.setdefault(finding.path, []).append(finding.problem)
    lines = [f"  {path}: {'; '.join(found)}" for path, found in list(problems.items())[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    return len(problems), lines


def audit_file(path: Path, target: Target) -> list[str]:
    """The problems of one library-named file; empty if it loads on the target.

    A Windows or macOS binary gets that one problem; anything else gets what its name says
    about the interpreter it was built for, then what its ELF headers say.
    """
    return [problem.text for problem in _file_problems(path, target)]


def _file_problems(path: Path, target: Target) -> list[_Problem]:
    if not path.is_file():
        return []  # a FIFO would block the read; a dangling link has nothing to load
    suffix = path.suffix.lower()
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEAD_BYTES)
            if suffix in (".pyd", ".dll") or head.startswith(_PE_MAGIC):
                return [_Problem(_windows_problem(head, suffix), foreign=True)]
            macos = _macos_problem(head, path.name)
            if macos:
                return [_Problem(macos, foreign=True)]
            problems = [_Problem(text) for text in _python_abi_problems(path.name, target)]
            if head.startswith(_ELF_MAGIC):
                problems.extend(_elf_problems(stream, target))
            return problems
    except OSError as error:
        return [_Problem(f"cannot be read ({error.strerror or error})")]


def _severity(relative: str, problems: Sequence[_Problem]) -> Severity:
    """Error for what an import loads, directly or as a dependency; warning for the rest."""
    path = PurePosixPath(relative)
    name = path.name.lower()
    if (_EXTENSION_MODULE_NAME.search(name) or _VERSIONED_LIBRARY_NAME.search(name)
            or any(part.endswith(_VENDORED_LIBRARIES_FOLDER) for part in path.parent.parts)):
        return "error"
    if name.endswith(".so"):
        # CPython imports an untagged name.so as module "name": one built for another OS or
        # machine fails either way and is some tool's helper, but an x86_64 ELF that needs a
        # newer glibc or musl, or is broken, is most likely a module that would fail to import.
        return "warning" if all(problem.foreign for problem in problems) else "error"
    return "warning"  # .dll, .dylib: CPython on Linux never imports them


def _candidates(folder: Path, unreadable: list[OSError]) -> Iterator[Path]:
    # os.walk is the fastest portable walk; names are filtered before any file is opened.
    for directory, _subdirectories, files in os.walk(folder, onerror=unreadable.append):
        for name in files:
            if _SHARED_LIBRARY_NAME.search(name):
                yield Path(directory, name)


def _windows_problem(head: bytes, suffix: str) -> str:
    if not head.startswith(_PE_MAGIC):
        return f"Windows-only file type ({suffix}), never loaded on Linux"
    machine = _pe_machine(head)
    detail = f"{suffix}, {machine}" if machine else suffix
    return f"Windows PE binary ({detail})"


def _pe_machine(head: bytes) -> str | None:
    if len(head) < 0x40:
        return None
    (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
    if head[pe_offset:pe_offset + 4] != b"PE\0\0" or len(head) < pe_offset + 6:
        return None
    (machine,) = struct.unpack_from("<H", head, pe_offset + 4)
    return _PE_MACHINES.get(machine, f"machine 0x{machine:04x}")


def _macos_problem(head: bytes, name: str) -> str | None:
    magic = head[:4]
    if magic in _MACHO_THIN:
        cpu = _macho_cpu(struct.unpack_from(_MACHO_THIN[magic] + "i", head, 4)[0])
        return f"macOS Mach-O binary for {cpu}"
    if magic in _MACHO_FAT:
        cpus = _fat_cpus(head)
        return "macOS Mach-O universal binary" + (f" for {', '.join(cpus)}" if cpus else "")
    if name.lower().endswith(".dylib"):
        return "macOS-only file type (.dylib), never loaded on Linux"
    match = _CPYTHON_SUFFIX.match(name)
    if match and (match["platform"] or "").startswith("darwin"):
        return f"named for macOS ({match['tag']}-{match['platform']})"
    return None


def _fat_cpus(head: bytes) -> list[str]:
    if len(head) < 8:
        return []
    (count,) = struct.unpack_from(">I", head, 4)
    entry = 20 if head[3] == 0xBE else 32  # fat_arch vs fat_arch_64
    return [_macho_cpu(struct.unpack_from(">i", head, offset)[0])
            for offset in range(8, min(8 + count * entry, len(head) - 4), entry)]


def _macho_cpu(cpu_type: int) -> str:
    return _MACHO_CPU_TYPES.get(cpu_type, f"cpu type 0x{cpu_type & 0xFFFFFFFF:x}")


def _python_abi_problems(name: str, target: Target) -> list[str]:
    """What the extension-module suffix says about the interpreter it was built for."""
    other = _OTHER_PYTHON_SUFFIX.match(name)
    if other:
        return [f"built for another Python implementation ({other['tag']}), "
                f"target is CPython {target.python_version}"]
    match = _CPYTHON_SUFFIX.match(name)
    if not match:
        return []  # abi3 and untagged modules load on any CPython 3
    problems = []
    version = (int(match["major"]), int(match["minor"]))
    flags = match["flags"]
    if version != target.python or flags:
        kind = "".join(_FLAG_MEANINGS.get(flag, "") for flag in flags)
        problems.append(f"built for {kind}CPython {version[0]}.{version[1]} ({match['tag']}), "
                        f"target is {target.python_version}")
    # CPython on Linux finds only <name>.cpython-3XY-<multiarch>.so, <name>.abi3.so and
    # <name>.so; any other suffix leaves the module missing at import.
    platform = match["platform"]
    if platform != target.multiarch:
        named = f"named for {platform}" if platform else "named without a platform"
        problems.append(f"{named}, CPython on the target loads only "
                        f"{target.multiarch} extension modules")
    return problems


def _elf_problems(stream: BinaryIO, target: Target) -> list[_Problem]:
    try:
        elf = ELFFile(stream)
        machine = _ELF_MACHINE_NAMES.get(elf["e_machine"], str(elf["e_machine"]))
        bits = "" if elf.elfclass == 64 else f"{elf.elfclass}-bit "
        if machine != target.machine:
            return [_Problem(f"{bits}ELF for {machine}, target is {target.machine}", foreign=True)]
        if bits:
            return [_Problem(f"{bits}ELF, target is 64-bit {target.machine}", foreign=True)]
        needed, versions = _dynamic_dependencies(elf)
    except (ELFError, ConstructError, struct.error, ValueError, IndexError, KeyError) as error:
        return [_Problem(f"broken ELF file ({error})")]
    musl = [library for library in needed if library.startswith(_MUSL_LIBRARIES)]
    if musl:
        return [_Problem(f"built for musl libc (needs {musl[0]}), target has glibc")]
    glibc = max(filter(None, map(_glibc_version, versions)), default=None)
    if glibc and glibc > target.glibc:
        return [_Problem(f"needs GLIBC_{glibc[0]}.{glibc[1]}, "
                         f"target has {target.glibc[0]}.{target.glibc[1]}")]
    return []


def _dynamic_dependencies(elf: ELFFile) -> tuple[list[str], list[str]]:
    """DT_NEEDED libraries and the symbol versions required from them (``.gnu.version_r``)."""
    needed: list[str] = []
    versions: list[str] = []
    for index in _section_indices(elf, {_SHT_DYNAMIC, _SHT_GNU_VERNEED}):
        section = elf.get_section(index)
        if isinstance(section, DynamicSection):
            needed.extend(str(getattr(tag, "needed", "")) for tag in section.iter_tags("DT_NEEDED"))
        elif isinstance(section, GNUVerNeedSection):
            versions.extend(str(aux.name) for _file, auxiliaries in section.iter_versions()
                            for aux in auxiliaries)
    return needed, versions


def _section_indices(elf: ELFFile, types: set[int]) -> list[int]:
    """Indices of the sections of the given types.

    Reads the section header table in one go: pyelftools would build an object for each of the
    30-odd sections of a typical library, which makes up most of the audit's time.
    """
    count, size = elf.num_sections(), elf["e_shentsize"]
    elf.stream.seek(elf["e_shoff"])
    table = elf.stream.read(count * size)
    # sh_type is the second 32-bit word of a section header in both ELF classes.
    sh_type = struct.Struct(("<" if elf.little_endian else ">") + "I")
    return [index for index in range(count)
            if sh_type.unpack_from(table, index * size + 4)[0] in types]


def _glibc_version(version: str) -> tuple[int, int] | None:
    match = _GLIBC_VERSION.match(version)
    return (int(match[1]), int(match[2])) if match else None
