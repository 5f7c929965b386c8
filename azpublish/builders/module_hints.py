"""Which distribution an import name comes from, and which distributions run only on Windows.

One table for every message that names a package for a module (the import check) or advises
on a package that cannot be installed (the engines). Function apps run on Linux, so a
Windows-only package is never fixed by another build: it needs an environment marker in
requirements.txt and imports guarded by ``sys.platform``.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name

WINDOWS_MARKER = 'sys_platform == "win32"'

# Import name -> the distribution to list in requirements.txt, where the two differ.
MODULE_DISTRIBUTIONS = {
    "yaml": "PyYAML", "PIL": "Pillow", "cv2": "opencv-python-headless", "sklearn": "scikit-learn",
    "skimage": "scikit-image", "bs4": "beautifulsoup4", "dateutil": "python-dateutil",
    "dotenv": "python-dotenv", "jwt": "PyJWT", "Crypto": "pycryptodome", "attr": "attrs",
    "OpenSSL": "pyOpenSSL", "jose": "python-jose", "multipart": "python-multipart",
    "docx": "python-docx", "fitz": "PyMuPDF", "MySQLdb": "mysqlclient", "git": "GitPython",
    "psycopg2": "psycopg2-binary", "magic": "python-magic", "serial": "pyserial",
    # pywin32 installs many top-level modules and no module named pywin32.
    **dict.fromkeys(("pythoncom", "pywintypes", "win32api", "win32con", "win32com", "win32gui",
                     "win32file", "win32event", "win32process", "win32service",
                     "win32serviceutil", "win32clipboard", "win32pipe", "win32security",
                     "win32print", "win32pdh", "win32timezone", "win32ui", "winerror"),
                    "pywin32"),
    "winpty": "pywinpty", "wmi": "WMI", "winshell": "winshell", "comtypes": "comtypes",
}

# Canonical names of distributions that install or work only on Windows.
WINDOWS_ONLY = frozenset({"pywin32", "pypiwin32", "pywinpty", "wmi", "winshell", "comtypes",
                          "windows-curses"})

# Standard library modules that exist only in Windows builds of CPython.
WINDOWS_STDLIB = frozenset({"winreg", "msvcrt", "winsound", "_winapi", "_winreg", "nt"})


def distribution_for(module: str) -> str | None:
    """The distribution that provides ``module`` (dotted or not), when it is named otherwise."""
    return MODULE_DISTRIBUTIONS.get(module.split(".")[0])


def is_windows_only(distribution: str) -> bool:
    return canonicalize_name(distribution) in WINDOWS_ONLY


def with_windows_marker(requirement: str) -> str:
    """``requirement`` as a line that only Windows installs: an existing marker is kept."""
    base, _, marker = requirement.partition(";")
    if marker.strip():
        return f"{base.strip()}; ({marker.strip()}) and {WINDOWS_MARKER}"
    return f"{base.strip()}; {WINDOWS_MARKER}"
