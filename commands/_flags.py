"""Flags of a dynamic command → the fields of a request message, as in v3.

``--user_email=x`` becomes ``{"user": {"email": "x"}}`` when the request has a message field
``user`` with a field ``email`` (an underscore nests only where the schema says so: field
names contain underscores themselves, and an exact field name wins); values are coerced to
the field's type; a bare ``--flag`` on a bool is true; repeated fields take ``--ss a,b`` or
``--ss a --ss b``; message fields also take a JSON object. UI-free: the result is a dict for
``json_format.ParseDict``; mistakes raise :class:`FlagError` with the one line to print.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["FlagError", "FlagSpec", "flag_specs", "flags_to_request", "split_flags", "type_name"]

_INTS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1, "sint32"),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1, "sfixed32"),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1, "uint32"),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1, "fixed32"),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1, "int64"),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1, "sint64"),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1, "sfixed64"),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1, "uint64"),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1, "fixed64"),
}
_FLOATS = {FieldDescriptor.TYPE_DOUBLE: "double", FieldDescriptor.TYPE_FLOAT: "float"}
_TRUE = {"1", "t", "true", "yes", "y", "on"}
_FALSE = {"0", "f", "false", "no", "n", "off"}
# nesting deeper than this is given as JSON (and bounds recursive message types)
_MAX_DEPTH = 6


class FlagError(ValueError):
    """A flag that cannot become a request field; the message is the line to print."""


@dataclass(frozen=True, slots=True)
class FlagSpec:
    """One flag a request accepts: ``--name type``."""

    name: str
    type: str


def _is_map(field: FieldDescriptor) -> bool:
    message = field.message_type
    return message is not None and bool(message.GetOptions().map_entry)


def _is_bool(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_BOOL and not field.is_repeated


def type_name(field: FieldDescriptor) -> str:
    """A field's type as flags show it: ``string``, ``[]int64``, ``map[string]string``, an enum."""
    if _is_map(field):
        entry = field.message_type
        assert entry is not None  # a map field's type is its entry message
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return f"map[{_scalar_name(key)}]{_scalar_name(value)}"
    name = _scalar_name(field)
    return f"[]{name}" if field.is_repeated else name


def _scalar_name(field: FieldDescriptor) -> str:
    if field.type in _INTS:
        return _INTS[field.type][2]
    if field.type in _FLOATS:
        return _FLOATS[field.type]
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "bool"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return "bytes"
    if field.enum_type is not None:
        return str(field.enum_type.name)
    if field.message_type is not None:
        return str(field.message_type.name)
    return "string"


def flag_specs(message: Descriptor) -> list[FlagSpec]:
    """Every flag ``message`` accepts, nested message fields flattened with underscores."""
    specs: list[FlagSpec] = []

    def walk(desc: Descriptor, prefix: str, path: tuple[str, ...]) -> None:
        for field in desc.fields:
            name = prefix + field.name
            sub = field.message_type
            nested = (
                sub is not None
                and not _is_map(field)
                and not field.is_repeated
                and not sub.full_name.startswith("google.protobuf.")
                and sub.full_name not in path
                and len(path) < _MAX_DEPTH
                and len(sub.fields) > 0
            )
            if nested and sub is not None:
                walk(sub, name + "_", (*path, sub.full_name))
            else:
                specs.append(FlagSpec(name, type_name(field)))

    walk(message, "", (message.full_name,))
    return specs


def split_flags(args: Sequence[str], message: Descriptor) -> dict[str, list[str | None]]:
    """``--k=v``, ``--k v`` and bare ``--k`` (a bool) into ``{k: [values]}`` in order.

    A bare flag has the value None. Whether ``--k v`` takes ``v`` depends on the field: a
    bool takes the next word only when it is a bool literal.
    """
    flags: dict[str, list[str | None]] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            raise FlagError(f"Unexpected argument: {arg}")
        key, eq, value = arg.lstrip("-").partition("=")
        if not key:
            raise FlagError(f"Unexpected argument: {arg}")
        if eq:
            flags.setdefault(key, []).append(value)
            continue
        field = _resolve(message, key)
        nxt = args[i] if i < len(args) else None
        if field is not None and _is_bool(field[-1]):
            if nxt is not None and nxt.lower() in _TRUE | _FALSE:
                flags.setdefault(key, []).append(nxt)
                i += 1
            else:
                flags.setdefault(key, []).append(None)
        elif nxt is not None and not nxt.startswith("--"):
            flags.setdefault(key, []).append(nxt)
            i += 1
        else:
            flags.setdefault(key, []).append(None)
    return flags


def _resolve(message: Descriptor, key: str) -> list[FieldDescriptor] | None:
    """The field path ``key`` names in ``message`` (an exact field name wins over nesting)."""
    key = key.replace("-", "_")
    field = message.fields_by_name.get(key)
    if field is not None:
        return [field]
    # try every underscore as a nesting point, the longest field name first
    cuts = [i for i, ch in enumerate(key) if ch == "_"]
    for cut in reversed(cuts):
        head = message.fields_by_name.get(key[:cut])
        sub = head.message_type if head is not None else None
        if head is None or sub is None or head.is_repeated or _is_map(head):
            continue
        rest = _resolve(sub, key[cut + 1 :])
        if rest is not None:
            return [head, *rest]
    return None


def flags_to_request(args: Sequence[str], message: Descriptor) -> dict[str, Any]:
    """The request (a JSON-ready dict for ``message``) the flags ``args`` describe."""
    request: dict[str, Any] = {}
    for key, values in split_flags(args, message).items():
        path = _resolve(message, key)
        if path is None:
            raise FlagError(f"Unknown flag: {key}")
        target = request
        for parent in path[:-1]:
            child = target.setdefault(parent.name, {})
            if not isinstance(child, dict):
                raise FlagError(f"Flag --{key} conflicts with --{parent.name}")
            target = child
        field = path[-1]
        target[field.name] = _coerce(key, field, values)
    return request


def _coerce(key: str, field: FieldDescriptor, values: list[str | None]) -> Any:
    if _is_map(field):
        entry = field.message_type
        assert entry is not None  # a map field's type is its entry message
        result: dict[str, Any] = {}
        for item in _items(key, values):
            k, eq, v = item.partition("=")
            if not eq:
                raise FlagError(f"Invalid value for --{key}: {item!r} is not key=value")
            result[k] = _scalar(key, entry.fields_by_name["value"], v)
        return result
    if field.is_repeated:
        return [_scalar(key, field, item) for item in _items(key, values)]
    value = values[-1]
    if value is None:
        if _is_bool(field):
            return True
        raise FlagError(f"Flag --{key} needs a value")
    return _scalar(key, field, value)


def _items(key: str, values: list[str | None]) -> list[str]:
    """The items of a repeated flag: ``--ss a,b`` (one occurrence is split) or ``--ss a --ss b``."""
    present = [v for v in values if v is not None]
    if len(present) != len(values):
        raise FlagError(f"Flag --{key} needs a value")
    if len(present) == 1:
        return [] if present[0] == "" else present[0].split(",")
    return present


def _scalar(key: str, field: FieldDescriptor, value: str) -> Any:
    def bad(expected: str) -> FlagError:
        return FlagError(f"Invalid value for --{key}: {value!r} is not a valid {expected}")

    if field.type in _INTS:
        low, high, name = _INTS[field.type]
        try:
            number = (
                int(value.strip(), 0) if value.strip().lower().startswith(("0x", "0o", "0b")) else int(value)
            )
        except ValueError:
            raise bad(name) from None
        if not low <= number <= high:
            raise bad(name)
        return number
    if field.type in _FLOATS:
        try:
            real = float(value)
        except ValueError:
            raise bad(_FLOATS[field.type]) from None
        if real != real or real in (float("inf"), float("-inf")):
            return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[str(real)]  # proto3 JSON
        return real
    if field.type == FieldDescriptor.TYPE_BOOL:
        lowered = value.strip().lower()
        if lowered in _TRUE or lowered == "":
            return True
        if lowered in _FALSE:
            return False
        raise bad("bool")
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value.encode()).decode()
    if field.enum_type is not None:
        enum = field.enum_type
        for candidate in enum.values:
            if candidate.name.lower() == value.lower() or str(candidate.number) == value:
                return candidate.name
        names = ", ".join(v.name for v in enum.values)
        raise FlagError(f"Invalid value for --{key}: {value!r} is not one of {names}")
    if field.message_type is not None:
        if field.message_type.full_name.startswith("google.protobuf."):
            try:
                return json.loads(value)
            except ValueError:
                return value  # Timestamp, Duration, FieldMask take their JSON string form
        try:
            parsed = json.loads(value)
        except ValueError:
            raise bad(f"JSON object for {field.message_type.name}") from None
        if not isinstance(parsed, dict):
            raise bad(f"JSON object for {field.message_type.name}")
        return parsed
    return value
