"""The pure document functions: dotted paths, deep merge, delete, secret markers."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from micro import errors
from micro.config import _document as doc

keys = st.text(alphabet="abcAB_-1", min_size=1, max_size=4)
leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=3)
trees = st.recursive(leaves, lambda children: st.dictionaries(keys, children, max_size=4), max_leaves=12)
documents = st.dictionaries(keys, trees, max_size=4)
paths = st.lists(keys, min_size=1, max_size=3)


def test_split_dotted_path() -> None:
    assert doc.split("a.B.c") == ["a", "B", "c"]


@pytest.mark.parametrize("path", ["", ".", "a.", ".a", "a..b"])
def test_split_refuses_empty_keys(path: str) -> None:
    with pytest.raises(errors.BadRequest):
        doc.split(path)


def test_split_allows_the_root_where_asked() -> None:
    assert doc.split("", allow_root=True) == []


def test_lookup_missing_is_not_found() -> None:
    with pytest.raises(errors.NotFound):
        doc.lookup({"a": {"b": 1}}, ["a", "c"])
    with pytest.raises(errors.NotFound):
        doc.lookup({"a": 1}, ["a", "b"])


def test_keys_are_case_sensitive() -> None:
    document = doc.set_at({}, ["Key"], 1)
    assert doc.lookup(document, ["Key"]) == 1
    assert not doc.exists(document, ["key"])


def test_objects_merge_and_siblings_survive() -> None:
    document = doc.set_at({}, ["x"], {"a": 1})
    document = doc.set_at(document, ["x"], {"b": 2})
    assert document == {"x": {"a": 1, "b": 2}}


def test_deep_merge_of_nested_objects() -> None:
    document = doc.set_at({}, ["x"], {"a": {"b": 1, "c": 2}, "d": 3})
    document = doc.set_at(document, ["x"], {"a": {"c": 4, "e": 5}})
    assert document == {"x": {"a": {"b": 1, "c": 4, "e": 5}, "d": 3}}


def test_scalar_and_map_replace_each_other() -> None:
    document = doc.set_at({}, ["x"], 1)
    document = doc.set_at(document, ["x", "y"], 2)
    assert document == {"x": {"y": 2}}
    document = doc.set_at(document, ["x"], "flat")
    assert document == {"x": "flat"}


def test_lists_replace_rather_than_merge() -> None:
    document = doc.set_at({}, ["x"], [1, 2])
    assert doc.set_at(document, ["x"], [3]) == {"x": [3]}


def test_root_set_needs_an_object() -> None:
    assert doc.set_at({"a": 1}, [], {"b": 2}) == {"a": 1, "b": 2}
    with pytest.raises(errors.BadRequest):
        doc.set_at({}, [], 3)


def test_delete_removes_the_subtree_only() -> None:
    document = {"a": {"b": {"c": 1}, "d": 2}}
    assert doc.delete(document, ["a", "b"]) == {"a": {"d": 2}}
    assert doc.delete(document, ["a", "x", "y"]) is document


def test_secret_markers_are_opaque_to_merge() -> None:
    sealed = doc.seal({"user": "u", "pass": "p"}, lambda leaf: f"enc({leaf})")
    assert sealed == {"user": {"$secret": "enc(u)"}, "pass": {"$secret": "enc(p)"}}
    document = doc.set_at({}, ["db"], sealed)
    # merging an object over a secret leaf replaces it instead of merging into the marker
    document = doc.set_at(document, ["db", "pass"], {"new": 1})
    assert document == {"db": {"user": {"$secret": "enc(u)"}, "pass": {"new": 1}}}
    assert doc.mask(document) == {"db": {"user": "[secret]", "pass": {"new": 1}}}
    assert doc.reveal(document, lambda payload: payload[4:-1])["db"]["user"] == "u"


def test_lookup_does_not_enter_a_secret() -> None:
    document = doc.set_at({}, ["s"], doc.seal("v", lambda leaf: leaf))
    with pytest.raises(errors.NotFound):
        doc.lookup(document, ["s", "$secret"])


def test_reserved_key_is_refused() -> None:
    with pytest.raises(errors.BadRequest):
        doc.check_value({"a": {"$secret": "x"}})


def test_reserved_key_is_refused_in_a_path() -> None:
    with pytest.raises(errors.BadRequest, match="reserved"):
        doc.split("a.$secret")


@given(documents, paths, trees)
def test_set_then_lookup_reads_back_a_non_object(
    document: dict[str, Any], keys: list[str], value: Any
) -> None:
    before = copy.deepcopy(document)
    updated = doc.set_at(document, keys, value)
    assert document == before  # never mutates
    if not isinstance(value, dict):
        assert doc.lookup(updated, keys) == value


@given(documents, paths, st.dictionaries(keys, trees, min_size=1, max_size=3))
def test_set_of_an_object_keeps_untouched_siblings(
    document: dict[str, Any], keys: list[str], value: dict[str, Any]
) -> None:
    updated = doc.set_at(document, keys, value)
    node = doc.lookup(updated, keys)
    for key, child in value.items():
        if not isinstance(child, dict):
            assert node[key] == child
    try:
        old = doc.lookup(document, keys)
    except errors.NotFound:
        old = None
    if isinstance(old, dict):
        for key in old.keys() - value.keys():
            assert node[key] == old[key]


@given(documents, paths)
def test_delete_then_lookup_is_not_found(document: dict[str, Any], keys: list[str]) -> None:
    before = copy.deepcopy(document)
    updated = doc.delete(document, keys)
    assert document == before
    assert not doc.exists(updated, keys)
    # everything outside the deleted subtree survives
    other = [k for k in document if k != keys[0]]
    for key in other:
        assert updated[key] == document[key]
