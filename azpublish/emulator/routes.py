"""HTTP route templates as the Functions host (ASP.NET Core routing) reads them.

A template such as ``items/{id:int}/{*rest}`` is parsed once into segments; a request path (the
part after ``/api/``) matches when every segment does. Literals compare case-insensitively,
``{name?}`` and ``{name=default}`` may be missing at the end, ``{*name}`` takes the rest of the
path. When several functions match, the most specific template wins, ranked like ASP.NET's
inbound precedence (literal < complex segment < constrained parameter < parameter < catch-all).

Telling 404 from 405 is the caller's job: ``match_route`` is None in both cases, and
``allowed_methods`` says which methods the path would have accepted.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from azpublish.emulator.funchost import IndexedFunction

HTTP_TRIGGER = "httptrigger"

_CONSTRAINT = re.compile(r"(?P<name>[A-Za-z]+)(?:\((?P<arg>.*)\))?$")


@dataclass(frozen=True)
class _Param:
    name: str
    constraints: tuple[tuple[str, str | None], ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False


@dataclass(frozen=True)
class _Segment:
    parts: tuple[str | _Param, ...]

    @property
    def single_param(self) -> _Param | None:
        only = self.parts[0] if len(self.parts) == 1 else None
        return only if isinstance(only, _Param) else None

    @property
    def precedence(self) -> int:
        param = self.single_param
        if param is None:
            return 2 if any(isinstance(p, _Param) for p in self.parts) else 1
        if param.catch_all:
            return 5
        return 3 if param.constraints else 4


@dataclass(frozen=True)
class RouteTemplate:
    text: str
    segments: tuple[_Segment, ...]

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(s.precedence for s in self.segments)


def _parse_param(body: str, template: str) -> _Param:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default: str | None = None
    if "=" in body:
        body, default = body.split("=", 1)
    optional = body.endswith("?")
    body = body.rstrip("?")
    name, *raw_constraints = _split_constraints(body)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"route template {template!r}: bad parameter name {name!r}")
    constraints: list[tuple[str, str | None]] = []
    for raw in raw_constraints:
        found = _CONSTRAINT.match(raw)
        if not found or found.group("name").lower() not in _CHECKS:
            raise ValueError(f"route template {template!r}: unknown constraint {raw!r}")
        constraints.append((found.group("name").lower(), found.group("arg")))
    return _Param(name, tuple(constraints), optional, default, catch_all)


def _split_constraints(body: str) -> list[str]:
    """Split ``id:int:min(1)`` on colons outside parentheses (regex() may hold colons)."""
    pieces, depth, current = [], 0, ""
    for char in body:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == ":" and depth == 0:
            pieces.append(current)
            current = ""
        else:
            current += char
    return [*pieces, current]


def _segment_parts(text: str, template: str) -> list[str | _Param]:
    """Literals and parameters of one segment; ``{{`` and ``}}`` stand for literal braces."""
    parts: list[str | _Param] = []
    literal, body, in_param, index = "", "", False, 0
    while index < len(text):
        pair = text[index:index + 2]
        if pair in ("{{", "}}"):
            if in_param:
                body += pair[0]
            else:
                literal += pair[0]
            index += 2
            continue
        char = text[index]
        index += 1
        if char == "{" and not in_param:
            in_param, body = True, ""
        elif char == "}" and in_param:
            parts.extend([literal] if literal else [])
            parts.append(_parse_param(body, template))
            in_param, literal = False, ""
        elif char in "{}":
            raise ValueError(f"route template {template!r}: unbalanced braces in {text!r}")
        elif in_param:
            body += char
        else:
            literal += char
    if in_param:
        raise ValueError(f"route template {template!r}: unbalanced braces in {text!r}")
    return [*parts, literal] if literal else parts


@lru_cache(maxsize=512)
def parse_template(template: str) -> RouteTemplate:
    """Parse a route template; ValueError says what is wrong with it (the host refuses it too)."""
    segments: list[_Segment] = []
    texts = template.strip("/").split("/") if template.strip("/") else []
    seen: set[str] = set()
    for index, text in enumerate(texts):
        if not text:
            raise ValueError(f"route template {template!r}: empty segment")
        parts = _segment_parts(text, template)
        segment = _Segment(tuple(parts))
        params = [p for p in parts if isinstance(p, _Param)]
        for param in params:
            if param.name.lower() in seen:
                raise ValueError(f"route template {template!r}: parameter {param.name!r} twice")
            seen.add(param.name.lower())
        if any(p.catch_all for p in params) and (
            segment.single_param is None or index != len(texts) - 1
        ):
            raise ValueError(f"route template {template!r}: a catch-all must be the last segment")
        segments.append(segment)
    return RouteTemplate(template, tuple(segments))


def _is_int(value: str, bits: int) -> bool:
    if not re.fullmatch(r"[+-]?\d+", value):
        return False
    limit: int = 2 ** (bits - 1)
    return -limit <= int(value) < limit


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value.strip("{}()"))
    except ValueError:
        return False
    return len(value.strip("{}()")) in (32, 36)


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _numeric_arg(check: Callable[[float, list[float]], bool]) -> Callable[[str, str | None], bool]:
    def run(value: str, arg: str | None) -> bool:
        bounds = [float(a) for a in (arg or "").split(",") if a.strip()]
        return _is_number(value) and check(float(value), bounds)

    return run


def _length_arg(value: str, arg: str | None) -> bool:
    bounds = [int(a) for a in (arg or "").split(",") if a.strip()]
    return bounds[0] <= len(value) <= bounds[-1] if bounds else False


_CHECKS: dict[str, Callable[[str, str | None], bool]] = {
    "int": lambda v, _: _is_int(v, 32),
    "long": lambda v, _: _is_int(v, 64),
    "bool": lambda v, _: v.lower() in ("true", "false"),
    "alpha": lambda v, _: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "guid": lambda v, _: _is_guid(v),
    "double": lambda v, _: _is_number(v),
    "float": lambda v, _: _is_number(v),
    "decimal": lambda v, _: _is_number(v),
    "datetime": lambda v, _: _is_datetime(v),
    "min": _numeric_arg(lambda x, b: bool(b) and x >= b[0]),
    "max": _numeric_arg(lambda x, b: bool(b) and x <= b[0]),
    "range": _numeric_arg(lambda x, b: len(b) == 2 and b[0] <= x <= b[1]),
    "length": _length_arg,
    "minlength": lambda v, a: len(v) >= int(a or 0),
    "maxlength": lambda v, a: len(v) <= int(a or 0),
    "regex": lambda v, a: re.search(a or "", v, re.IGNORECASE) is not None,
}


def _satisfies(param: _Param, value: str) -> bool:
    return all(_CHECKS[name](value, arg) for name, arg in param.constraints)


def _match_segment(segment: _Segment, text: str, values: dict[str, str]) -> bool:
    param = segment.single_param
    if param is not None:
        if not text or not _satisfies(param, text):
            return False
        values[param.name] = text
        return True
    # Greedy groups: like ASP.NET, the last parameter gets the least ("a.b.pdf" -> "a.b", "pdf").
    pattern = "".join(
        f"(?P<{p.name}>.+)" if isinstance(p, _Param) else re.escape(p) for p in segment.parts
    )
    found = re.fullmatch(pattern, text, re.IGNORECASE)
    if found is None:
        return False
    params = [p for p in segment.parts if isinstance(p, _Param)]
    if not all(_satisfies(p, found.group(p.name)) for p in params):
        return False
    values.update(found.groupdict())
    return True


def match_template(template: RouteTemplate, path: str) -> dict[str, str] | None:
    """The route parameters when ``path`` (percent-encoded, no leading ``api/``) matches."""
    texts = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
    values: dict[str, str] = {}
    for index, segment in enumerate(template.segments):
        param = segment.single_param
        if param is not None and param.catch_all:
            rest = "/".join(texts[index:]) or param.default
            if rest is not None:
                if not _satisfies(param, rest):
                    return None
                values[param.name] = rest
            return values
        if index >= len(texts):
            if param is None or not (param.optional or param.default is not None):
                return None
            if param.default is not None:
                values[param.name] = param.default
            continue
        if isinstance(segment.parts[0], str) and len(segment.parts) == 1:
            if segment.parts[0].lower() != texts[index].lower():
                return None
        elif not _match_segment(segment, texts[index], values):
            return None
    return values if len(texts) <= len(template.segments) else None


def _http_functions(functions: Iterable[IndexedFunction]) -> list[IndexedFunction]:
    """The routes the host serves: a function it refused to create has none."""
    return [f for f in functions
            if f.trigger.lower() == HTTP_TRIGGER and not f.is_disabled and not f.host_error]


def _template_of(function: IndexedFunction) -> RouteTemplate | None:
    try:
        return parse_template(function.route if function.route is not None else function.name)
    except ValueError:
        return None


def _candidates(
    functions: Iterable[IndexedFunction], path: str
) -> list[tuple[IndexedFunction, dict[str, str]]]:
    """Every enabled http function whose route matches ``path``, most specific first."""
    found: list[tuple[tuple[int, ...], int, IndexedFunction, dict[str, str]]] = []
    for order, function in enumerate(_http_functions(functions)):
        template = _template_of(function)
        values = match_template(template, path) if template is not None else None
        if template is not None and values is not None:
            found.append((template.precedence, order, function, values))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(function, values) for _, _, function, values in found]


def _accepts(function: IndexedFunction, method: str) -> bool:
    return not function.methods or method.upper() in (m.upper() for m in function.methods)


def match_route(
    functions: Iterable[IndexedFunction], path: str, method: str
) -> tuple[IndexedFunction, dict[str, str]] | None:
    """The function that serves ``method path`` and its route parameters, or None."""
    for function, values in _candidates(functions, path):
        if _accepts(function, method):
            return function, values
    return None


def allowed_methods(functions: Iterable[IndexedFunction], path: str) -> frozenset[str] | None:
    """None when no route matches ``path`` (404); else the methods it takes (``*`` = any).

    When ``match_route`` found nothing but this is not None, the answer is 405.
    """
    candidates = _candidates(functions, path)
    if not candidates:
        return None
    methods: set[str] = set()
    for function, _ in candidates:
        methods.update(m.upper() for m in function.methods or ("*",))
    return frozenset(methods)
