"""Flags of a dynamic command → request fields: the v3 table and the schema-aware extras."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor

from commands._flags import FlagError, FlagSpec, flag_specs, flags_to_request

F = descriptor_pb2.FieldDescriptorProto


def _request() -> Descriptor:
    """``test.Request``: every shape the flags map onto."""
    file = descriptor_pb2.FileDescriptorProto(name="flags_test.proto", package="test", syntax="proto3")
    friend = file.message_type.add(name="Friend")
    friend.field.add(name="email", number=1, type=F.TYPE_STRING)
    user = file.message_type.add(name="User")
    user.field.add(name="email", number=1, type=F.TYPE_STRING)
    user.field.add(name="name", number=2, type=F.TYPE_STRING)
    user.field.add(name="friend", number=3, type=F.TYPE_MESSAGE, type_name=".test.Friend")
    user.field.add(name="first_name", number=4, type=F.TYPE_STRING)
    color = file.enum_type.add(name="Color")
    color.value.add(name="RED", number=0)
    color.value.add(name="GREEN", number=1)
    req = file.message_type.add(name="Request")
    repeated = F.LABEL_REPEATED
    req.field.add(name="ss", number=1, type=F.TYPE_STRING, label=repeated)
    req.field.add(name="bs", number=2, type=F.TYPE_BOOL, label=repeated)
    req.field.add(name="is", number=3, type=F.TYPE_INT64, label=repeated)
    req.field.add(name="fs", number=4, type=F.TYPE_DOUBLE, label=repeated)
    req.field.add(name="user", number=5, type=F.TYPE_MESSAGE, type_name=".test.User")
    req.field.add(name="b", number=6, type=F.TYPE_BOOL)
    req.field.add(name="count", number=7, type=F.TYPE_INT32)
    req.field.add(name="user_id", number=8, type=F.TYPE_STRING)  # an underscore that does not nest
    req.field.add(name="color", number=9, type=F.TYPE_ENUM, type_name=".test.Color")
    req.field.add(name="big", number=10, type=F.TYPE_UINT64)
    req.field.add(name="name", number=11, type=F.TYPE_STRING)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return pool.FindMessageTypeByName("test.Request")


REQ = _request()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--ss=a,b"], {"ss": ["a", "b"]}),
        (["--ss", "a,b"], {"ss": ["a", "b"]}),
        (["--ss=a", "--ss=b"], {"ss": ["a", "b"]}),
        (["--ss", "a", "--ss", "b"], {"ss": ["a", "b"]}),
        (["--bs=true,false"], {"bs": [True, False]}),
        (["--is=10,20"], {"is": [10, 20]}),
        (["--fs=10.1,20.2"], {"fs": [10.1, 20.2]}),
        (["--user_email=someemail"], {"user": {"email": "someemail"}}),
        (
            ["--user_email=someemail", "--user_name=somename"],
            {"user": {"email": "someemail", "name": "somename"}},
        ),
        (["--b"], {"b": True}),
        (["--user_friend_email=hi"], {"user": {"friend": {"email": "hi"}}}),
    ],
)
def test_v3_flag_table(args: list[str], expected: dict[str, object]) -> None:
    assert flags_to_request(args, REQ) == expected


def test_exact_field_name_with_underscore_does_not_nest() -> None:
    assert flags_to_request(["--user_id", "7"], REQ) == {"user_id": "7"}
    assert flags_to_request(["--user_first_name=Ada"], REQ) == {"user": {"first_name": "Ada"}}


def test_values_are_coerced_to_the_field_type() -> None:
    got = flags_to_request(["--count", "-3", "--color", "green", "--big=18446744073709551615"], REQ)
    assert got == {"count": -3, "color": "GREEN", "big": 18446744073709551615}


def test_nan_and_infinities_become_their_proto3_json_names() -> None:
    # float('nan') reached json_format, which refused it: "Couldn't parse NaN, use quoted..."
    from google.protobuf import json_format
    from google.protobuf.message_factory import GetMessageClass

    got = flags_to_request(["--fs=nan,inf,-inf,1.5"], REQ)
    assert got == {"fs": ["NaN", "Infinity", "-Infinity", 1.5]}
    json_format.ParseDict(got, GetMessageClass(REQ)())  # what the call does with it


def test_bare_bool_before_another_flag_and_explicit_bool_word() -> None:
    assert flags_to_request(["--b", "--name", "x"], REQ) == {"b": True, "name": "x"}
    assert flags_to_request(["--b", "false"], REQ) == {"b": False}
    assert flags_to_request(["--b=false"], REQ) == {"b": False}


def test_kebab_case_flag_names_match_snake_case_fields() -> None:
    assert flags_to_request(["--user-id=9"], REQ) == {"user_id": "9"}


def test_message_field_takes_json() -> None:
    assert flags_to_request(['--user={"email":"a@b"}'], REQ) == {"user": {"email": "a@b"}}


def test_unknown_flag() -> None:
    with pytest.raises(FlagError, match=r"^Unknown flag: nosuch$"):
        flags_to_request(["--nosuch=1"], REQ)
    with pytest.raises(FlagError, match=r"^Unknown flag: user_nosuch$"):
        flags_to_request(["--user_nosuch=1"], REQ)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "abc"], "Invalid value for --count: 'abc' is not a valid int32"),
        (["--count", "99999999999"], "Invalid value for --count: '99999999999' is not a valid int32"),
        (["--big=-1"], "Invalid value for --big: '-1' is not a valid uint64"),
        (["--is=1,x"], "Invalid value for --is: 'x' is not a valid int64"),
        (["--b=maybe"], "Invalid value for --b: 'maybe' is not a valid bool"),
        (["--color=blue"], "Invalid value for --color: 'blue' is not one of RED, GREEN"),
        (["--name"], "Flag --name needs a value"),
        (["stray"], "Unexpected argument: stray"),
    ],
)
def test_bad_values_are_one_line_errors(args: list[str], message: str) -> None:
    with pytest.raises(FlagError) as info:
        flags_to_request(args, REQ)
    assert str(info.value) == message


def test_flag_specs_flatten_nested_fields_with_types() -> None:
    specs = flag_specs(REQ)
    assert FlagSpec("ss", "[]string") in specs
    assert FlagSpec("is", "[]int64") in specs
    assert FlagSpec("user_friend_email", "string") in specs
    assert FlagSpec("count", "int32") in specs
    assert FlagSpec("color", "Color") in specs
    assert [s.name for s in specs][:4] == ["ss", "bs", "is", "fs"]
