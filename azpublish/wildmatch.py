"""git's ``wildmatch`` (``wildmatch.c`` with ``WM_PATHNAME``) as a regular expression that never
backtracks exponentially.

Semantics, as git (2.52 and later) matches a ``.gitignore`` pattern against a path:

- ``?`` is one character other than ``/``; ``*`` is any run of them;
- ``**`` is special only as a whole segment (at the start or after ``/``, and at the end or
  before ``/``): ``**/`` matches zero or more folders, a trailing ``**`` anything. Glued to a
  name (``foo**``, ``**bar``) it is an ordinary ``*``;
- ``[...]`` as git parses it: ``!`` or ``^`` negates, a leading ``]`` is a member, ``\\``
  escapes, ``a-z`` ranges (a reversed one is empty), the POSIX classes ``[:alpha:]`` and the
  rest in their ASCII meaning; it never matches ``/``. An unclosed bracket or an unknown class
  makes the whole pattern match nothing, as in git;
- ``\\`` makes the next character literal; a pattern ending in a lone ``\\`` matches nothing.

Patterns and texts are "byte views": one character per byte (see ``bytes_view``), since git
compares bytes.

Why it is linear: Python's ``re`` backtracks, and ``*a*a*a...`` against a long name would try
every way to split it. Here each segment is one atomic group (its extent is fixed: up to the
next ``/``), and inside a segment every ``*`` but the last commits to the *earliest* place where
the fixed-length piece after it matches, which is always a right choice (standard wildcard
matching). Between ``**`` runs, the group of segments is committed at the first folder where it
matches, which is right for the same reason: the next ``**`` can absorb any folders skipped.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Literal", "bytes_view", "translate"]

_ALL = frozenset(range(256))
_PLAIN = re.compile(r"[^*?\[\\]*")
_SLASH = ord("/")
_POSIX_CLASSES: dict[str, frozenset[int]] = {
    name: frozenset(map(ord, chars)) for name, chars in {
        "alnum": string.ascii_letters + string.digits,
        "alpha": string.ascii_letters,
        "blank": " \t",
        "cntrl": "".join(map(chr, (*range(32), 127))),
        "digit": string.digits,
        "graph": "".join(map(chr, range(33, 127))),
        "lower": string.ascii_lowercase,
        "print": "".join(map(chr, range(32, 127))),
        "punct": string.punctuation,
        "space": " \t\n\v\f\r",
        "upper": string.ascii_uppercase,
        "xdigit": string.hexdigits,
    }.items()
}


@dataclass(frozen=True)
class Literal:
    """A pattern without wildcards: it matches exactly this text."""

    text: str


class _Never(Exception):
    """The pattern can match nothing (unclosed bracket, unknown class, trailing backslash)."""


# Tokens: a character set (frozenset of byte values), STAR, or one of the ** forms.
_STAR = "*"
_ANY_FOLDERS = "**/"  # zero or more whole folders
_SOME_FOLDERS = "**\\/"  # "**" before an escaped slash: one or more folders
_EVERYTHING = "**"  # a trailing "**": anything, slashes included
_Token = frozenset[int] | str


def bytes_view(text: str) -> str:
    """One character per UTF-8 byte (undecodable bytes kept, via surrogateescape)."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def translate(pattern: str, *, casefold: bool = False) -> str | Literal | None:
    """The regex (for ``re.match`` with ``re.DOTALL``; it anchors its own end) matching what
    ``pattern`` matches, a ``Literal`` when it has no wildcard, or None when it matches nothing.

    ``casefold`` folds ASCII letters as git's ``WM_CASEFOLD`` does.
    """
    if not casefold and _PLAIN.fullmatch(pattern):
        return Literal(pattern)  # the common case, a plain name or path: no parsing needed
    try:
        tokens = list(_tokens(pattern, casefold))
    except _Never:
        return None
    if all(isinstance(token, frozenset) and len(token) == 1 for token in tokens):
        return Literal("".join(chr(next(iter(token))) for token in tokens))  # type: ignore[arg-type]
    return _render(tokens)


def _tokens(pattern: str, casefold: bool) -> Iterable[_Token]:
    index, end = 0, len(pattern)
    while index < end:
        char = pattern[index]
        if char == "\\":
            if index + 1 == end:
                raise _Never
            yield _members({ord(pattern[index + 1])}, casefold)
            index += 2
        elif char == "?":
            yield _ALL - {_SLASH}
            index += 1
        elif char == "[":
            members, index = _bracket(pattern, index + 1, casefold)
            yield members
        elif char == "*":
            stop = index
            while stop < end and pattern[stop] == "*":
                stop += 1
            token, index = _star(pattern, index, stop)
            yield token
        else:
            yield _members({ord(char)}, casefold)
            index += 1


def _star(pattern: str, start: int, stop: int) -> tuple[str, int]:
    """The token for the run of stars ``pattern[start:stop]`` and where the next token starts."""
    after = pattern[stop:stop + 1]
    whole_segment = stop - start >= 2 and (start == 0 or pattern[start - 1] == "/")
    if whole_segment and not after:
        return _EVERYTHING, stop
    if whole_segment and after == "/":
        return _ANY_FOLDERS, stop + 1
    if whole_segment and pattern[stop:stop + 2] == "\\/":
        return _SOME_FOLDERS, stop + 2
    return _STAR, stop


def _bracket(pattern: str, index: int, casefold: bool) -> tuple[frozenset[int], int]:
    """The set ``[...]`` matches (its inside starting at ``index``), and the index after it."""
    end = len(pattern)
    negated = pattern[index:index + 1] in ("!", "^")
    index += negated
    members: set[int] = set()
    previous = 0  # the last single member, the start of a possible range; 0 after a range
    while True:
        if index >= end:
            raise _Never
        char = pattern[index]
        if char == "\\":
            index += 1
            if index >= end:
                raise _Never
            previous = ord(pattern[index])
            members.add(previous)
        elif char == "-" and previous and index + 1 < end and pattern[index + 1] != "]":
            index += 1
            if pattern[index] == "\\":
                index += 1
                if index >= end:
                    raise _Never
            members.update(range(previous, ord(pattern[index]) + 1))  # reversed: empty
            previous = 0
        elif char == "[" and pattern[index + 1:index + 2] == ":":
            close = pattern.find("]", index + 2)
            if close < 0:
                raise _Never
            if close - (index + 2) < 1 or pattern[close - 1] != ":":
                previous = ord("[")  # no ":]": the "[" is an ordinary member
                members.add(previous)
            else:
                name = pattern[index + 2:close - 1]
                if name not in _POSIX_CLASSES:
                    raise _Never
                members |= _POSIX_CLASSES[name]
                previous = 0
                index = close
        else:
            previous = ord(char)
            members.add(previous)
        index += 1
        if pattern[index:index + 1] == "]":
            break
    folded = _members(members, casefold)  # folded before negating: [!a] excludes "A" too
    matched = (_ALL - folded) if negated else folded
    return matched - {_SLASH}, index + 1


def _members(members: set[int] | frozenset[int], casefold: bool) -> frozenset[int]:
    if not casefold:
        return frozenset(members)
    folded = set(members)
    for value in members:
        char = chr(value)
        if char in string.ascii_letters:
            folded.update((ord(char.lower()), ord(char.upper())))
    return frozenset(folded)


# --- rendering ------------------------------------------------------------------------------


def _render(tokens: Sequence[_Token]) -> str | None:
    """Segments are atomic; ``**`` groups committed at their first match (see module doc)."""
    groups: list[list[_Token]] = [[]]
    joins: list[str] = []
    for token in tokens:
        if isinstance(token, str) and token != _STAR:
            joins.append(token)
            groups.append([])
        else:
            groups[-1].append(token)
    rendered = [_group(group, last=index == len(groups) - 1) for index, group in enumerate(groups)]
    if any(part is None for part in rendered):
        return None
    out = [rendered[0] or ""]
    for index, join in enumerate(joins):
        body = rendered[index + 1] or ""
        last = index == len(joins) - 1
        if join == _EVERYTHING:  # always the last token
            out.append(".*")
            continue
        folders = "(?:[^/]*/)*?" if join == _ANY_FOLDERS else "(?:[^/]*/)+?"
        # The last group must end the text, so its choice of folders may be revised.
        out.append(folders + body if last else f"(?>{folders}{body})")
    return "".join(out)


def _group(tokens: list[_Token], *, last: bool) -> str | None:
    """Segments of one group, each atomic up to and including the "/" (or the end) closing it.

    A group before a ``**`` ends with "/" (git's rule for a special ``**``), so its last
    segment is empty; the last group ends the text unless a trailing ``**`` follows.
    """
    segments: list[list[_Token]] = [[]]
    for token in tokens:
        if token == frozenset((_SLASH,)):
            segments.append([])
        else:
            segments[-1].append(token)
    out = []
    for index, segment in enumerate(segments):
        closing = "/" if index < len(segments) - 1 else (r"\Z" if last else "")
        rendered = _segment(segment)
        if rendered is None:
            return None
        if not rendered:
            out.append(closing)
        else:
            out.append(f"(?>{rendered}{closing})")
    return "".join(out)


def _segment(tokens: list[_Token]) -> str | None:
    """Fixed-length pieces separated by ``*``: every ``*`` but the last takes the shortest run
    that lets the next piece match (committed), the last one backtracks over one segment."""
    pieces: list[list[frozenset[int]]] = [[]]
    for token in tokens:
        if token == _STAR:
            pieces.append([])
        elif isinstance(token, frozenset):
            if not token:
                return None  # an empty set: nothing can match it
            pieces[-1].append(token)
    rendered = ["".join(_char_class(member) for member in piece) for piece in pieces]
    if len(rendered) == 1:
        return rendered[0]
    middle = "".join(f"(?>[^/]*?{piece})" for piece in rendered[1:-1] if piece)
    return f"{rendered[0]}{middle}[^/]*{rendered[-1]}"


@functools.lru_cache(maxsize=4096)  # most sets are single characters, met again and again
def _char_class(members: frozenset[int]) -> str:
    if len(members) == 1:
        return re.escape(chr(next(iter(members))))
    ranges: list[tuple[int, int]] = []
    for value in sorted(members):
        if ranges and ranges[-1][1] == value - 1:
            ranges[-1] = (ranges[-1][0], value)
        else:
            ranges.append((value, value))
    parts = (f"\\x{low:02x}" if low == high else f"\\x{low:02x}-\\x{high:02x}"
             for low, high in ranges)
    return "[" + "".join(parts) + "]"
