"""The descriptor → field model layer, one test per row of the spec's table (no Textual)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from micro_tui._sample_proto import descriptor_set_bytes
from micro_tui.forms import (
    FieldKind,
    FormError,
    FormModel,
    JsonSyntaxError,
    MapNode,
    MessageNode,
    RepeatedNode,
    ScalarNode,
    pool_from_descriptor_set,
)


@pytest.fixture(scope="module")
def pool() -> Any:
    return pool_from_descriptor_set(descriptor_set_bytes())


@pytest.fixture
def form(pool: Any) -> FormModel:
    return FormModel(pool.FindMessageTypeByName("demo.Kitchen"), pool)


def scalar(form: FormModel, name: str) -> ScalarNode:
    node = form.root.child(name)
    assert isinstance(node, ScalarNode)
    return node


def errors_of(form: FormModel) -> dict[str, str]:
    return {e.path: e.message for e in form.errors()}


def test_fields_follow_declaration_order(form: FormModel) -> None:
    names = list(form.root.children)
    assert names[:4] == ["name", "i32", "i64", "u32"]
    assert names[-1] == "mask"


def test_empty_form_is_empty_message(form: FormModel) -> None:
    assert form.to_dict() == {}
    assert form.to_message().ByteSize() == 0


def test_string_as_is(form: FormModel) -> None:
    scalar(form, "name").set("héllo {")
    assert form.to_dict() == {"name": "héllo {"}


def test_int32_range_check(form: FormModel) -> None:
    scalar(form, "i32").set("2147483647")
    assert form.to_dict() == {"i32": 2147483647}
    scalar(form, "i32").set("2147483648")
    assert "out of range" in errors_of(form)["i32"]
    scalar(form, "i32").set("1.5")
    assert errors_of(form)["i32"] == "not an integer"
    scalar(form, "u32").set("-1")
    assert "out of range" in errors_of(form)["u32"]


def test_int64_is_a_json_string_with_range_check(form: FormModel) -> None:
    scalar(form, "i64").set("-9223372036854775808")
    scalar(form, "u64").set("18446744073709551615")
    assert form.to_dict() == {"i64": "-9223372036854775808", "u64": "18446744073709551615"}
    scalar(form, "u64").set("18446744073709551616")
    assert "out of range" in errors_of(form)["u64"]
    scalar(form, "i64").set("12a")
    assert errors_of(form)["i64"] == "digits only"


def test_float_and_double_allow_nan_and_infinity(form: FormModel) -> None:
    scalar(form, "score").set("NaN")
    scalar(form, "ratio").set("-inf")
    assert form.to_dict() == {"score": "NaN", "ratio": "-Infinity"}
    scalar(form, "score").set("2.5")
    assert form.to_message().score == 2.5
    scalar(form, "ratio").set("1e39")
    assert "out of range" in errors_of(form)["ratio"]
    scalar(form, "ratio").set("abc")
    assert "not a number" in errors_of(form)["ratio"]


def test_bool_switch(form: FormModel) -> None:
    scalar(form, "active").set("true")
    assert form.to_dict() == {"active": True}
    scalar(form, "active").set("false")
    assert form.to_dict() == {}


def test_bytes_base64(form: FormModel) -> None:
    scalar(form, "blob").set("aGVsbG8=")
    assert form.to_message().blob == b"hello"
    scalar(form, "blob").set("not base64!")
    assert errors_of(form)["blob"] == "not base64"


def test_enum_by_name(form: FormModel) -> None:
    node = scalar(form, "color")
    assert node.spec.kind is FieldKind.ENUM
    assert node.spec.enum_names == ["COLOR_UNSPECIFIED", "RED", "GREEN", "BLUE"]
    node.set("GREEN")
    assert form.to_dict() == {"color": "GREEN"}
    node.set("PINK")
    assert "one of" in errors_of(form)["color"]


def test_message_presence_and_lazy_children(form: FormModel) -> None:
    inner = form.root.child("inner")
    assert isinstance(inner, MessageNode)
    assert not inner.present and not inner.built
    assert form.to_dict() == {}
    inner.present = True
    assert form.to_dict() == {"inner": {}}
    scalar_node = inner.child("count")
    assert isinstance(scalar_node, ScalarNode)
    scalar_node.set("x")
    assert errors_of(form) == {"inner.count": "not an integer"}


def test_recursive_message_is_safe(form: FormModel) -> None:
    tree = form.root.child("tree")
    assert isinstance(tree, MessageNode)
    depth = tree
    for _ in range(50):
        depth.present = True
        child = depth.child("child")
        assert isinstance(child, MessageNode)
        assert not child.built  # one level at a time
        depth = child
    assert len(json.dumps(form.to_dict())) > 50 * len('{"child": }')


def test_optional_scalar_has_presence(form: FormModel) -> None:
    node = scalar(form, "nickname")
    assert node.spec.presence and not node.spec.oneof
    assert form.to_dict() == {}
    node.set("")
    assert form.to_dict() == {"nickname": ""}  # present and empty is sent
    assert form.to_message().HasField("nickname")
    node.present = False
    assert form.to_dict() == {}


def test_repeated_add_remove_move(form: FormModel) -> None:
    tags = form.root.child("tags")
    assert isinstance(tags, RepeatedNode)
    for text in ("a", "b", "c"):
        item = tags.add()
        assert isinstance(item, ScalarNode)
        item.text = text
    tags.move(2, -2)
    tags.remove(1)
    assert form.to_dict() == {"tags": ["c", "b"]}
    numbers = form.root.child("numbers")
    assert isinstance(numbers, RepeatedNode)
    bad = numbers.add()
    assert isinstance(bad, ScalarNode)
    bad.text = "x"
    assert errors_of(form) == {"numbers[0]": "digits only"}
    items = form.root.child("items")
    assert isinstance(items, RepeatedNode)
    message = items.add()
    assert isinstance(message, MessageNode) and message.present
    numbers.remove(0)
    assert form.to_dict() == {"tags": ["c", "b"], "items": [{}]}


def test_repeated_paths_follow_moves(form: FormModel) -> None:
    numbers = form.root.child("numbers")
    assert isinstance(numbers, RepeatedNode)
    first, second = numbers.add(), numbers.add()
    assert isinstance(second, ScalarNode)
    second.text = "oops"
    numbers.move(1, -1)
    assert errors_of(form) == {"numbers[0]": "digits only"}
    assert first.path == "numbers[1]"


def test_map_rows_with_duplicate_key_check(form: FormModel) -> None:
    labels = form.root.child("labels")
    assert isinstance(labels, MapNode)
    for key_text, value_text in (("a", "1"), ("b", "2")):
        key, value = labels.add()
        key.text = key_text
        assert isinstance(value, ScalarNode)
        value.text = value_text
    assert form.to_dict() == {"labels": {"a": 1, "b": 2}}
    key, _ = labels.add()
    key.text = "a"
    assert errors_of(form) == {"labels[2].key": "duplicate key 'a' (also row 0)"}


def test_oneof_only_chosen_member_exists(form: FormModel) -> None:
    root = form.root
    assert root.children["text"].spec.oneof == "choice"
    scalar(form, "text").set("hi")
    scalar(form, "number").set("not a number")
    assert form.to_dict() == {}  # nothing chosen yet
    root.choose("choice", "text")
    assert form.to_dict() == {"text": "hi"}  # the other member's bad text is irrelevant
    root.choose("choice", "nested")
    nested = root.child("nested")
    assert isinstance(nested, MessageNode)
    nested.present = True
    assert form.to_dict() == {"nested": {}}
    assert form.to_message().WhichOneof("choice") == "nested"


def test_timestamp_rfc3339_and_now(form: FormModel) -> None:
    node = scalar(form, "when")
    assert node.spec.kind is FieldKind.TIMESTAMP and node.spec.presence
    node.set("2024-05-01T12:00:00Z")
    assert form.to_message().when.seconds == 1714564800
    node.set("now")
    assert form.to_dict()["when"].endswith("Z")
    node.set("2024-13-01")
    assert "RFC 3339" in errors_of(form)["when"]


def test_duration_number_and_unit(form: FormModel) -> None:
    node = scalar(form, "timeout")
    node.set("250ms")
    assert form.to_dict() == {"timeout": "0.25s"}
    node.set("2m")
    assert form.to_message().timeout.seconds == 120
    node.set("soon")
    assert "not a duration" in errors_of(form)["timeout"]


def test_wrappers_are_nullable_scalars(form: FormModel) -> None:
    maybe = scalar(form, "maybe")
    assert maybe.spec.wrapper and maybe.spec.kind is FieldKind.INT64 and maybe.spec.presence
    assert form.to_dict() == {}
    maybe.set("0")
    assert form.to_dict() == {"maybe": "0"}
    assert form.to_message().HasField("maybe")
    scalar(form, "title").set("t")
    assert form.to_message().title.value == "t"


def test_struct_value_any_field_mask(form: FormModel) -> None:
    scalar(form, "extra").set('{"a": [1, true, null]}')
    scalar(form, "anything").set('"text"')
    scalar(form, "packed").set('{"@type": "type.googleapis.com/demo.Inner", "label": "x"}')
    scalar(form, "mask").set("name, inner.label")
    msg = form.to_message()
    assert msg.extra["a"][1] is True
    assert msg.anything.string_value == "text"
    assert msg.packed.type_url.endswith("demo.Inner")
    assert list(msg.mask.paths) == ["name", "inner.label"]
    scalar(form, "extra").set("[1]")
    assert errors_of(form)["extra"] == "must be a JSON object"
    scalar(form, "extra").set("{")
    assert "invalid JSON at line 1" in errors_of(form)["extra"]


FULL = {
    "name": "n",
    "i32": -5,
    "i64": "-9000000000",
    "u32": 7,
    "u64": "18446744073709551615",
    "s32": -3,
    "f64": "12",
    "ratio": 1.5,
    "score": "NaN",
    "active": True,
    "blob": "aGk=",
    "color": "BLUE",
    "inner": {"label": "l", "count": 2},
    "tree": {"name": "root", "child": {"name": "leaf", "child": {}}},
    "nickname": "",
    "tags": ["x", "y"],
    "numbers": ["1", "-2"],
    "items": [{"label": "a"}, {}],
    "labels": {"k": 1, "j": 0},
    "number": 4,
    "when": "2024-05-01T12:00:00Z",
    "timeout": "1.500s",
    "maybe": "0",
    "title": "",
    "extra": {"a": [1.0, "b", None]},
    "anything": 3.0,
    "packed": {"@type": "type.googleapis.com/demo.Inner", "label": "p"},
    "mask": "name,inner.label",
}


def test_json_round_trip_through_json_format(form: FormModel) -> None:
    from google.protobuf import json_format

    msg = json_format.ParseDict(FULL, form.message_class()(), descriptor_pool=form.pool)
    expected = json_format.MessageToDict(msg, descriptor_pool=form.pool)
    form.from_json(json.dumps(FULL))
    assert form.to_dict() == expected
    assert form.to_message() == msg
    # and again: form → JSON → form is stable
    again = FormModel(form.descriptor, form.pool)
    again.from_json(form.to_json())
    assert again.to_dict() == expected


def test_json_syntax_error_names_position(form: FormModel) -> None:
    with pytest.raises(JsonSyntaxError) as info:
        form.from_json('{\n  "name": "x",\n  oops\n}')
    assert (info.value.line, info.value.column) == (3, 3)
    assert "line 3 column 3" in str(info.value)


def test_json_type_error_is_a_form_error(form: FormModel) -> None:
    with pytest.raises(FormError) as info:
        form.from_json('{"i32": "many"}')
    assert "i32" in str(info.value)
    with pytest.raises(FormError):
        form.from_json("[]")


def test_find_by_path(form: FormModel) -> None:
    form.from_json('{"items": [{"label": "a"}], "labels": {"k": 1}}')
    node = form.find("items[0].label")
    assert isinstance(node, ScalarNode) and node.text == "a"
    assert form.find("labels[0].value") is not None
