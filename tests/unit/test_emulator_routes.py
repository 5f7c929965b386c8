from __future__ import annotations

import pytest

from azpublish.emulator.funchost import IndexedFunction
from azpublish.emulator.routes import (
    allowed_methods,
    match_route,
    match_template,
    parse_template,
)


def http(name: str, route: str | None = None, methods: tuple[str, ...] = (),
         *, disabled: bool = False) -> IndexedFunction:
    return IndexedFunction(
        name=name, trigger="httpTrigger", route=route, methods=methods, auth_level="function",
        bindings=({"type": "httpTrigger", "direction": "in", "name": "req"},),
        script_file="function_app.py", entry_point=name, is_disabled=disabled,
    )


def params(template: str, path: str) -> dict[str, str] | None:
    return match_template(parse_template(template), path)


@pytest.mark.parametrize(("template", "path", "expected"), [
    ("items/{id}", "items/42", {"id": "42"}),
    ("items/{id}", "ITEMS/abc", {"id": "abc"}),
    ("items/{id}", "items", None),
    ("items/{id}", "items/1/2", None),
    ("items/{id}", "items/42/", {"id": "42"}),
    ("items/{id}", "items/a%20b", {"id": "a b"}),
    ("items/{id?}", "items", {}),
    ("items/{id?}", "items/7", {"id": "7"}),
    ("items/{id=first}", "items", {"id": "first"}),
    ("files/{*rest}", "files/a/b/c.txt", {"rest": "a/b/c.txt"}),
    ("files/{*rest}", "files", {}),
    ("files/{**rest}", "files/x", {"rest": "x"}),
    ("{*all}", "anything/at/all", {"all": "anything/at/all"}),
    ("", "", {}),
    ("", "x", None),
    ("files/{name}.{ext}", "files/report.final.pdf", {"name": "report.final", "ext": "pdf"}),
    ("files/{name}.{ext}", "files/readme", None),
    ("v{version:int}/ping", "V2/ping", {"version": "2"}),
    ("v{version:int}/ping", "vx/ping", None),
])
def test_template_matching(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert params(template, path) == expected


@pytest.mark.parametrize(("constraint", "good", "bad"), [
    ("int", ["0", "-12", "2147483647"], ["1.5", "abc", "2147483648", ""]),
    ("long", ["2147483648"], ["9223372036854775808", "x"]),
    ("alpha", ["abcXYZ"], ["abc1", "a-b"]),
    ("bool", ["true", "False"], ["yes", "1"]),
    ("guid", ["3f2504e0-4f89-11d3-9a0c-0305e82c3301", "3f2504e04f8911d39a0c0305e82c3301",
              "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}"], ["3f2504e0", "not-a-guid"]),
    ("double", ["1.5", "-2", "1e3"], ["abc", "nan", "inf"]),
    ("datetime", ["2024-01-31", "2024-01-31T10:00:00"], ["yesterday"]),
    ("min(10)", ["10", "11"], ["9"]),
    ("max(10)", ["10", "-1"], ["11"]),
    ("range(1,3)", ["1", "3"], ["0", "4"]),
    ("minlength(3)", ["abc"], ["ab"]),
    ("maxlength(3)", ["abc"], ["abcd"]),
    ("length(2)", ["ab"], ["a", "abc"]),
    ("length(2,3)", ["ab", "abc"], ["a", "abcd"]),
    ("regex(^\\d{{3}}$)", ["123"], ["1234", "12a"]),
])
def test_constraints(constraint: str, good: list[str], bad: list[str]) -> None:
    template = parse_template(f"x/{{value:{constraint}}}")
    for value in good:
        assert match_template(template, f"x/{value}") == {"value": value}, value
    for value in bad:
        assert match_template(template, f"x/{value}") is None, value


def test_constraints_chain() -> None:
    assert params("x/{n:int:min(5)}", "x/7") == {"n": "7"}
    assert params("x/{n:int:min(5)}", "x/3") is None
    assert params("x/{n:int:min(5)}", "x/7.5") is None


@pytest.mark.parametrize("template", [
    "items/{id:nope}", "items/{*rest}/more", "items/{id}/{id}", "items/{", "a//b", "x/{1bad}",
])
def test_invalid_templates_are_refused(template: str) -> None:
    with pytest.raises(ValueError, match="route template"):
        parse_template(template)


def test_literal_beats_parameter_beats_catch_all_whatever_the_order() -> None:
    functions = [http("catch", "items/{*rest}"), http("by_id", "items/{id}"),
                 http("by_int", "items/{id:int}"), http("new", "items/new")]
    assert match_route(functions, "items/new", "GET") == (functions[3], {})
    assert match_route(functions, "items/5", "GET") == (functions[2], {"id": "5"})
    assert match_route(functions, "items/abc", "GET") == (functions[1], {"id": "abc"})
    assert match_route(functions, "items/a/b", "GET") == (functions[0], {"rest": "a/b"})


def test_default_route_is_the_function_name() -> None:
    function = http("HttpTrigger1", None)
    assert match_route([function], "httptrigger1", "POST") == (function, {})
    assert match_route([function], "other", "POST") is None


def test_method_filtering_and_405_versus_404() -> None:
    get = http("get_item", "items/{id}", ("GET",))
    delete = http("delete_item", "items/{id}", ("DELETE",))
    assert match_route([get, delete], "items/1", "get") == (get, {"id": "1"})
    assert match_route([get, delete], "items/1", "DELETE") == (delete, {"id": "1"})
    assert match_route([get, delete], "items/1", "PUT") is None
    assert allowed_methods([get, delete], "items/1") == frozenset({"GET", "DELETE"})
    assert allowed_methods([get, delete], "nothing/here") is None
    assert allowed_methods([http("any", "any")], "any") == frozenset({"*"})


def test_method_falls_through_to_a_less_specific_route() -> None:
    literal_get = http("literal", "items/new", ("GET",))
    param_post = http("param", "items/{id}", ("POST",))
    assert match_route([literal_get, param_post], "items/new", "POST") == (
        param_post, {"id": "new"})


def test_disabled_and_non_http_functions_are_not_routed() -> None:
    timer = IndexedFunction(
        name="tick", trigger="timerTrigger", route=None, methods=(), auth_level="function",
        bindings=(), script_file="function_app.py", entry_point="tick")
    disabled = http("off", "off", disabled=True)
    assert match_route([timer, disabled], "tick", "GET") is None
    assert match_route([timer, disabled], "off", "GET") is None
    assert allowed_methods([timer, disabled], "off") is None


def test_a_function_with_a_broken_template_never_matches() -> None:
    broken, fine = http("broken", "items/{id:nope}"), http("fine", "items/{id}")
    assert match_route([broken, fine], "items/1", "GET") == (fine, {"id": "1"})
