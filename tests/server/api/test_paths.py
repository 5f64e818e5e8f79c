"""The gateway's path resolution (the spec's table, row by row) and query parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from micro import errors
from server.api.paths import MAX_DEPTH, MAX_FIELDS, Target, parse_query, resolve

# the table of spec/semantics.md (API gateway), written out
TABLE = [
    ("/foo", "foo", "Foo.Call"),
    ("/foo/bar", "foo", "Foo.Bar"),
    ("/foo/foo/bar", "foo", "Foo.Bar"),
    ("/foo/bar/baz", "foo", "Bar.Baz"),
    ("/foo/bar/baz-xyz", "foo", "Bar.BazXyz"),
    ("/foo/fooBar/bazCat", "foo", "FooBar.BazCat"),
    ("/foo/bar/baz/cat", "foo.bar", "Baz.Cat"),
    ("/v1/foo/bar", "v1.foo", "Foo.Bar"),
    ("/v1/foo/bar/baz", "v1.foo", "Bar.Baz"),
]


@pytest.mark.parametrize(("path", "service", "endpoint"), TABLE)
def test_the_spec_table(path: str, service: str, endpoint: str) -> None:
    assert resolve(path) == Target(service, endpoint)


@pytest.mark.parametrize(
    ("path", "same_as"),
    [
        ("/foo/", "/foo"),
        ("//foo//bar", "/foo/bar"),
        ("/foo/./bar", "/foo/bar"),
        ("/x/../foo/bar", "/foo/bar"),
        ("/../../foo", "/foo"),
        ("foo/bar", "/foo/bar"),
    ],
)
def test_segments_are_cleaned(path: str, same_as: str) -> None:
    assert resolve(path) == resolve(same_as)


@pytest.mark.parametrize("path", ["/", "", "//", "/./", "/.."])
def test_a_path_naming_nothing_is_not_found(path: str) -> None:
    with pytest.raises(errors.NotFound):
        resolve(path)


@given(st.text(max_size=300))
def test_any_path_resolves_or_is_not_found(path: str) -> None:
    try:
        target = resolve(path)
    except errors.NotFound:
        return
    assert target.service and "." in target.endpoint


def test_query_keys_nest_and_repeat() -> None:
    assert parse_query("name=Jane&a.b=1&a.c=x&tag=1&tag=2&empty=") == {
        "name": "Jane",
        "a": {"b": "1", "c": "x"},
        "tag": ["1", "2"],
        "empty": "",
    }
    assert parse_query(b"q=%C3%BC+x") == {"q": "ü x"}
    assert parse_query("") == {}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("a=1&a.b=2", "is both a value and an object"),
        ("a.b=2&a=1", "is both a value and an object"),
        ("a..b=1", "invalid query field"),
        (".a=1", "invalid query field"),
        ("q=%FF", "not valid UTF-8"),
        (b"q=\xff", "not valid UTF-8"),
        (".".join(["a"] * (MAX_DEPTH + 1)) + "=1", "nests too deeply"),
        ("&".join(f"k{i}=1" for i in range(MAX_FIELDS + 1)), "too many query fields"),
    ],
)
def test_bad_queries_are_400_naming_the_field(query: str | bytes, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message):
        parse_query(query)


@pytest.mark.parametrize(
    ("service", "endpoint", "path"),
    [
        ("greeter", "Greeter.Hello", "/greeter/hello"),
        ("routeguide", "RouteGuide.GetFeature", "/routeguide/routeGuide/getFeature"),
        ("foo", "Bar.BazXyz", "/foo/bar/bazXyz"),
        ("foo.bar", "Baz.Cat", "/foo/bar/baz/cat"),
        ("v1.foo", "Foo.Bar", "/v1/foo/foo/bar"),
    ],
)
def test_the_openapi_path_of_an_endpoint_resolves_back_to_it(service: str, endpoint: str, path: str) -> None:
    from server.api.openapi import path_of

    assert path_of(service, endpoint) == path
    assert resolve(path) == Target(service, endpoint)
