"""Field kinds: what each protobuf field becomes in a form (UI-free, no Textual)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FieldKind", "FieldSpec", "spec_for", "type_name"]

INT32_RANGE = (-(2**31), 2**31 - 1)
UINT32_RANGE = (0, 2**32 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)
UINT64_RANGE = (0, 2**64 - 1)

# google.protobuf.XValue -> the kind of its inner value
_WRAPPERS = {
    "google.protobuf.DoubleValue": "double",
    "google.protobuf.FloatValue": "float",
    "google.protobuf.Int64Value": "int64",
    "google.protobuf.UInt64Value": "uint64",
    "google.protobuf.Int32Value": "int32",
    "google.protobuf.UInt32Value": "uint32",
    "google.protobuf.BoolValue": "bool",
    "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "bytes",
}
_JSON_TYPES = {
    "google.protobuf.Struct": dict,
    "google.protobuf.Value": object,
    "google.protobuf.ListValue": list,
    "google.protobuf.Any": dict,
}


class FieldKind(enum.Enum):
    STRING = "string"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT = "float"
    DOUBLE = "double"
    BOOL = "bool"
    BYTES = "bytes"
    ENUM = "enum"
    MESSAGE = "message"
    TIMESTAMP = "timestamp"
    DURATION = "duration"
    FIELD_MASK = "field_mask"
    JSON = "json"  # Struct, Value, ListValue, Any: a JSON editor


_SCALAR_BY_CPP = {
    1: FieldKind.INT32,
    2: FieldKind.INT64,
    3: FieldKind.UINT32,
    4: FieldKind.UINT64,
    5: FieldKind.DOUBLE,
    6: FieldKind.FLOAT,
    7: FieldKind.BOOL,
    8: FieldKind.ENUM,
}


@dataclass(slots=True)
class FieldSpec:
    """What the form needs to know about one field (or a map key/value, or a list item)."""

    name: str
    json_name: str
    kind: FieldKind
    descriptor: Any = None  # the FieldDescriptor, None for synthetic specs
    message_type: Any = None  # Descriptor of MESSAGE kinds
    enum_names: list[str] = field(default_factory=list)
    repeated: bool = False
    map_key: FieldSpec | None = None
    map_value: FieldSpec | None = None
    presence: bool = False  # a toggle decides whether the field is sent
    oneof: str = ""  # the real oneof this field belongs to
    wrapper: bool = False  # google.protobuf wrapper: a nullable scalar
    json_shape: type | None = None  # for JSON kinds: dict, list or object

    @property
    def is_map(self) -> bool:
        return self.map_key is not None

    @property
    def type_name(self) -> str:
        """The type as the .proto spells it (``sint32``, ``Color``, ``map<int64, Address>``)."""
        return type_name(self.descriptor) if self.descriptor is not None else self.kind.value


# FieldDescriptor.TYPE_* -> the scalar's .proto name
_TYPE_NAMES = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
    8: "bool", 9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64",
    17: "sint32", 18: "sint64",
}  # fmt: skip


def type_name(fd: Any) -> str:
    """A field's type as its .proto spells it: ``sint32``, ``fixed64``, ``Color``, ``Timestamp``,
    ``map<int64, Address>`` (a repeated field: the type of one item)."""
    mt = fd.message_type
    if fd.is_repeated and mt is not None and mt.GetOptions().map_entry:
        return f"map<{type_name(mt.fields_by_name['key'])}, {type_name(mt.fields_by_name['value'])}>"
    if fd.enum_type is not None:
        return str(fd.enum_type.name)
    if mt is not None:
        return str(mt.name)
    return _TYPE_NAMES.get(fd.type, "?")


def _is_synthetic_oneof(fd: Any) -> bool:
    oneof = fd.containing_oneof
    return oneof is not None and len(oneof.fields) == 1 and oneof.name == "_" + fd.name


def _kind_of(fd: Any) -> tuple[FieldKind, dict[str, Any]]:
    if fd.cpp_type == 9:  # string or bytes
        return (FieldKind.BYTES if fd.type == 12 else FieldKind.STRING), {}
    if fd.cpp_type != 10:
        kind = _SCALAR_BY_CPP[fd.cpp_type]
        extra: dict[str, Any] = {}
        if kind is FieldKind.ENUM:
            extra["enum_names"] = [v.name for v in fd.enum_type.values]
        return kind, extra
    full = fd.message_type.full_name
    if full == "google.protobuf.Timestamp":
        return FieldKind.TIMESTAMP, {}
    if full == "google.protobuf.Duration":
        return FieldKind.DURATION, {}
    if full == "google.protobuf.FieldMask":
        return FieldKind.FIELD_MASK, {}
    if full in _WRAPPERS:
        return FieldKind(_WRAPPERS[full]), {"wrapper": True}
    if full in _JSON_TYPES:
        return FieldKind.JSON, {"json_shape": _JSON_TYPES[full]}
    return FieldKind.MESSAGE, {"message_type": fd.message_type}


def spec_for(fd: Any) -> FieldSpec:
    """The spec of a protobuf ``FieldDescriptor``."""
    mt = fd.message_type
    if fd.is_repeated and mt is not None and mt.GetOptions().map_entry:
        key = spec_for(mt.fields_by_name["key"])
        value = spec_for(mt.fields_by_name["value"])
        key.presence = value.presence = False
        return FieldSpec(fd.name, fd.json_name, value.kind, fd, repeated=True, map_key=key, map_value=value)
    kind, extra = _kind_of(fd)
    oneof = fd.containing_oneof
    real_oneof = oneof.name if oneof is not None and not _is_synthetic_oneof(fd) else ""
    presence = bool(fd.has_presence) and not fd.is_repeated and not real_oneof
    return FieldSpec(
        fd.name,
        fd.json_name,
        kind,
        fd,
        repeated=bool(fd.is_repeated),
        presence=presence,
        oneof=real_oneof,
        **extra,
    )
