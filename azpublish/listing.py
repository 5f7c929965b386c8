r"""How ``--list-included-files`` and ``--list-ignored-files`` write names a script can trust.

Three forms, one per consumer:

- human (the default): one record per line; a name holding a control character (C0, DEL, C1:
  newline, tab, ESC...), a byte that is not UTF-8, a double quote or a backslash is written the
  way git quotes paths (``core.quotePath``): in double quotes, with C escapes (``\n``, ``\t``,
  ``\"``, ``\\``) and the rest as octal bytes (``\033``, ``\302\233``, ``\351``). No
  terminal escape reaches the terminal, and a raw tab or newline never appears inside a field.
- ``-z``: NUL-terminated fields, names byte for byte (``Reporter.null_records``).
- ``--json``: the listing goes into the report; a name that is not UTF-8 is shown with Python's
  backslashreplace (``caf\xe9.py``) and its exact bytes in ``<field>_bytes_hex``, so the
  document is valid JSON with no lone surrogate in it.
"""

from __future__ import annotations

import re
from typing import Any

from azpublish.ignore import Ignored, Rule
from azpublish.report import to_bytes

# What makes git quote a path: C0 controls, '"', '\\', DEL; plus what core.quotePath=false still
# leaves unsafe for a terminal: C1 controls (CSI is U+009B) and bytes that are not UTF-8, which
# arrive as lone surrogates. Other non-ASCII letters pass unchanged.
_NEEDS_QUOTING = re.compile(r'[\x00-\x1f"\\\x7f-\x9f\ud800-\udfff]')
_C_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f",
              0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def quote_path(name: str) -> str:
    """``name`` unchanged when it is safe to print, else quoted as git's quote_c_style does."""
    if _NEEDS_QUOTING.search(name) is None:
        return name
    return '"' + _NEEDS_QUOTING.sub(_escape, name) + '"'


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if len(char) == 1 and ord(char) in _C_ESCAPES:
        return _C_ESCAPES[ord(char)]
    return "".join(f"\\{byte:03o}" for byte in to_bytes(char))


def rule_text(rule: Rule) -> str:
    """``source:line: pattern`` with the pattern's own bytes (``Rule.describe`` shows bytes that
    are not UTF-8 as ``\\xe9``): -z writes them raw, the text form quotes them as octal."""
    return f"{rule.where}: {rule.pattern}"


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
        return False
    return True


def json_name(name: str) -> str:
    """A name as a JSON string can carry it: itself, or backslashreplace when not UTF-8."""
    return name if is_utf8(name) else to_bytes(name).decode("utf-8", "backslashreplace")


def json_field(key: str, text: str) -> dict[str, str]:
    """``{key: text}``, and for text that is not UTF-8 its exact bytes in ``<key>_bytes_hex``."""
    if is_utf8(text):
        return {key: text}
    return {key: json_name(text), f"{key}_bytes_hex": to_bytes(text).hex()}


def ignored_json(ignored: Ignored) -> dict[str, Any]:
    """One record of the ignored listing: the path, and the rule, where it was written."""
    return {**json_field("path", ignored.path), **json_field("rule", ignored.rule.pattern),
            "source": ignored.rule.source, "line": ignored.rule.line}
