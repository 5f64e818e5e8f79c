"""The JSON codec of dynamic calls: JSON requests to bytes, response bytes to proto3 JSON
(``.proto`` field names in ``.proto`` order, default values included, int64 as strings)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message

from micro import errors
from micro.client.dynamic._schema import Method

__all__ = ["decode", "dumps", "encode", "explain_refusal", "has_unknown_fields"]


def encode(method: Method, json_text: str | Mapping[str, Any]) -> bytes:
    """The request bytes for ``json_text`` (a JSON object, as text or already parsed).

    Raises:
        micro.errors.BadRequest: ``Error creating request: …`` naming the field or position.
    """
    message = method.request()
    # the service's own pool: an Any's "@type" names a type of the service's schema (or a
    # well-known type), which protobuf's default pool does not hold
    pool = _pool(message)
    if isinstance(json_text, str) and json_text.strip()[:1] not in ("", "{"):
        raise errors.BadRequest("Error creating request: the request must be a JSON object")
    try:
        if isinstance(json_text, str):
            json_format.Parse(json_text if json_text.strip() else "{}", message, descriptor_pool=pool)
        else:
            json_format.ParseDict(dict(json_text), message, descriptor_pool=pool)
    except json_format.ParseError as exc:
        raise errors.BadRequest(
            f"Error creating request: {explain_refusal(message.DESCRIPTOR, json_text, exc)}"
        ) from exc
    return message.SerializeToString()


def explain_refusal(descriptor: Any, json_text: str | Mapping[str, Any], exc: Exception) -> str:
    """Why protobuf refused ``json_text`` (JSON for a ``descriptor`` message, ``exc`` the
    ``ParseError`` it raised), in one line naming the field and what was wrong, else
    protobuf's own reason on one line. The CLI, the HTTP gateway (through :func:`encode`)
    and the workspace's request form all say it the same way."""
    pool: DescriptorPool = descriptor.file.pool
    return _explain_text(descriptor, json_text, pool) or _parse_detail(exc)


def _pool(message: Message) -> DescriptorPool:
    """The descriptor pool ``message``'s type comes from (the service version's own)."""
    pool: DescriptorPool = message.DESCRIPTOR.file.pool  # type: ignore[assignment]
    return pool


def _parse_detail(exc: Exception) -> str:
    detail = str(exc)
    # protobuf prefixes its messages with "Failed to parse <field> field: "; keep the reason
    return " ".join(detail.replace("Failed to load JSON: ", "").split())  # one line


def _explain_text(
    descriptor: Descriptor, json_text: str | Mapping[str, Any], pool: DescriptorPool
) -> str | None:
    """What :func:`_explain` says of a request protobuf refused (None: JSON syntax, which
    protobuf's own message places by line and column)."""
    if isinstance(json_text, str):
        try:
            data = json.loads(json_text)
        except (ValueError, RecursionError):
            return None
    else:
        data = dict(json_text)
    try:
        return _explain(descriptor, data, "", pool)
    except RecursionError:
        return None


def _explain(descriptor: Descriptor, data: Any, path: str, pool: DescriptorPool) -> str | None:
    """The first thing in ``data`` (JSON for a ``descriptor`` message at ``path``) that
    protobuf refuses, in one line naming the field and what was wrong: protobuf's own
    messages are its parser's (``expected string or bytes-like object, got 'int'``,
    ``invalid literal for int() with base 10``, ``Available Fields(except extensions)``).

    protobuf stays the judge of what is valid: each field is parsed on its own, and only
    the one it refuses is described (None: no single field is at fault)."""
    if descriptor.full_name in _WELL_KNOWN or not isinstance(data, dict):
        return None  # described by the field holding it
    fields = {**{f.json_name: f for f in descriptor.fields}, **descriptor.fields_by_name}
    oneofs: dict[str, str] = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        field = fields.get(key)
        if field is None:
            if str(key).startswith("[") or (str(key) == "@type" and path):
                continue  # an extension, or an Any's type: protobuf's to judge
            known = ", ".join(f.name for f in descriptor.fields[:12])
            more = ", …" if len(descriptor.fields) > 12 else ""
            return f'unknown field "{where}" ({descriptor.full_name} has: {known or "no fields"}{more})'
        oneof = field.containing_oneof
        if oneof is not None and value is not None:
            if oneof.name in oneofs:
                first = oneofs[oneof.name]
                return f'fields "{first}" and "{where}" are both of oneof "{oneof.name}": set one'
            oneofs[oneof.name] = where
        if _accepted(descriptor, key, value, pool):
            continue
        return _explain_field(field, value, where, pool)
    return None


def _explain_field(field: FieldDescriptor, value: Any, where: str, pool: DescriptorPool) -> str:
    """What is wrong with ``value`` for ``field`` (protobuf refused it)."""
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if not isinstance(value, dict):
            return f'field "{where}": expected an object, got {_shown(value)}'
        keys, values = entry.fields_by_name["key"], entry.fields_by_name["value"]
        for key, item in value.items():
            if not _accepted(entry, "key", key, pool):
                return f'field "{where}": key {_shown(key)} is not {_expected(keys)}'
            found = _explain_value(values, item, f"{where}[{key}]", pool)
            if found is not None:
                return found
    elif field.is_repeated:
        if not isinstance(value, list):
            return f'field "{where}": expected a list, got {_shown(value)}'
        for index, item in enumerate(value):
            found = _explain_value(field, item, f"{where}[{index}]", pool)
            if found is not None:
                return found
    else:
        found = _explain_value(field, value, where, pool)
        if found is not None:
            return found
    return f'field "{where}": invalid value'


def _explain_value(field: FieldDescriptor, value: Any, where: str, pool: DescriptorPool) -> str | None:
    """What is wrong with one value of ``field`` (a list's item, a map's value; None:
    protobuf takes it)."""
    message = field.message_type
    if message is not None and message.full_name not in _WELL_KNOWN:
        if not isinstance(value, dict):
            return f'field "{where}": expected an object, got {_shown(value)}'
        return _explain(message, value, where, pool)
    holder = field.containing_type
    if holder is not None and _accepted(holder, field.name, [value] if field.is_repeated else value, pool):
        return None
    if message is not None and message.full_name == "google.protobuf.Any" and isinstance(value, dict):
        return _explain_any(value, where, pool)
    return f'field "{where}": expected {_expected(field)}, got {_shown(value)}'


def _explain_any(value: dict[str, Any], where: str, pool: DescriptorPool) -> str:
    """What is wrong with an ``Any`` (protobuf refused it)."""
    type_url = value.get("@type")
    if not isinstance(type_url, str) or not type_url:
        return f'field "{where}": an Any needs "@type" (the type of its value)'
    try:
        inner = pool.FindMessageTypeByName(type_url.rpartition("/")[2])
    except KeyError:
        return f'field "{where}": unknown "@type" {_shown(type_url)}'
    fields = {k: v for k, v in value.items() if k != "@type"}
    if inner.full_name not in _WELL_KNOWN:
        found = _explain(inner, fields, where, pool)
        if found is not None:
            return found
    return f'field "{where}": not a valid {inner.full_name}'


def _accepted(descriptor: Descriptor, key: str, value: Any, pool: DescriptorPool) -> bool:
    """Whether protobuf takes ``{key: value}`` for a ``descriptor`` message."""
    from google.protobuf import message_factory

    try:
        message = message_factory.GetMessageClass(descriptor)()
        json_format.ParseDict({key: value}, message, descriptor_pool=pool)
    except json_format.ParseError:
        return False
    return True


#: the JSON each well-known type takes (proto3's JSON mapping)
_WELL_KNOWN = {
    "google.protobuf.Timestamp": 'an RFC 3339 time text ("2024-01-02T03:04:05Z")',
    "google.protobuf.Duration": 'a duration text in seconds ("1.5s")',
    "google.protobuf.FieldMask": 'a text of comma-separated field paths ("a,b.c")',
    "google.protobuf.Struct": "an object",
    "google.protobuf.ListValue": "a list",
    "google.protobuf.Value": "any JSON value",
    "google.protobuf.Empty": "an empty object",
    "google.protobuf.Any": 'an object with "@type"',
    "google.protobuf.DoubleValue": "a number",
    "google.protobuf.FloatValue": "a number",
    "google.protobuf.Int64Value": "a 64-bit integer",
    "google.protobuf.UInt64Value": "an unsigned 64-bit integer",
    "google.protobuf.Int32Value": "a 32-bit integer",
    "google.protobuf.UInt32Value": "an unsigned 32-bit integer",
    "google.protobuf.BoolValue": "true or false",
    "google.protobuf.StringValue": "a string",
    "google.protobuf.BytesValue": "base64 text",
}

_SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: "a number",
    FieldDescriptor.TYPE_FLOAT: "a number",
    FieldDescriptor.TYPE_INT64: "a 64-bit integer",
    FieldDescriptor.TYPE_SINT64: "a 64-bit integer",
    FieldDescriptor.TYPE_SFIXED64: "a 64-bit integer",
    FieldDescriptor.TYPE_UINT64: "an unsigned 64-bit integer",
    FieldDescriptor.TYPE_FIXED64: "an unsigned 64-bit integer",
    FieldDescriptor.TYPE_INT32: "a 32-bit integer",
    FieldDescriptor.TYPE_SINT32: "a 32-bit integer",
    FieldDescriptor.TYPE_SFIXED32: "a 32-bit integer",
    FieldDescriptor.TYPE_UINT32: "an unsigned 32-bit integer",
    FieldDescriptor.TYPE_FIXED32: "an unsigned 32-bit integer",
    FieldDescriptor.TYPE_BOOL: "true or false",
    FieldDescriptor.TYPE_STRING: "a string",
    FieldDescriptor.TYPE_BYTES: "base64 text",
}


def _expected(field: FieldDescriptor) -> str:
    """What a value of ``field`` must be, in words."""
    if field.enum_type is not None:
        names = [v.name for v in field.enum_type.values]
        shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        return f"one of {shown} (or its number)"
    if field.message_type is not None:
        return _WELL_KNOWN.get(field.message_type.full_name, "an object")
    return _SCALARS.get(field.type, "a value of its type")


def _shown(value: Any) -> str:
    """``value`` as the line quotes it (short)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "…"


def decode(method: Method, data: bytes) -> dict[str, Any]:
    """A response as proto3 JSON data: ``.proto`` field names, defaults included, int64 as str."""
    message = _parse(method.response, data)
    return _to_dict(message)


def _parse(cls: type[Message], data: bytes) -> Message:
    message = cls()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise errors.InternalServerError(f"cannot decode {cls.DESCRIPTOR.full_name}: {exc}") from exc
    return message


def _to_dict(message: Message) -> dict[str, Any]:
    data = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        descriptor_pool=_pool(message),  # an Any holding the service's types
    )
    ordered: dict[str, Any] = _in_proto_order(message.DESCRIPTOR, data)  # type: ignore[arg-type]
    return ordered


def _in_proto_order(descriptor: Descriptor, data: Any) -> Any:
    """``data`` (a message's JSON) with its keys in the .proto's field order, as Go's
    protojson prints them (MessageToDict puts the fields that are set first, defaults after)."""
    if not isinstance(data, dict) or descriptor.full_name.startswith("google.protobuf."):
        return data  # well-known types have JSON forms of their own
    ordered: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            values = sub.fields_by_name["value"].message_type
            if values is not None and isinstance(value, dict):
                value = {k: _in_proto_order(values, v) for k, v in value.items()}
        elif sub is not None and field.is_repeated and isinstance(value, list):
            value = [_in_proto_order(sub, item) for item in value]
        elif sub is not None:
            value = _in_proto_order(sub, value)
        ordered[field.name] = value
    for key, value in data.items():  # extensions and anything else, as they came
        ordered.setdefault(key, value)
    return ordered


def has_unknown_fields(method: Method, data: bytes) -> bool:
    """Whether ``data`` holds fields the response schema does not know (a stale schema)."""
    from google.protobuf.unknown_fields import UnknownFieldSet

    message = _parse(method.response, data)
    return _unknown(message, UnknownFieldSet)


def _unknown(message: Message, unknown_set: Any) -> bool:
    if len(unknown_set(message)):
        return True
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = value.values() if field.message_type.fields_by_name["value"].message_type else []
        elif field.is_repeated:
            items = value
        else:
            items = [value]
        if any(_unknown(item, unknown_set) for item in items):
            return True
    return False


def dumps(data: Any, *, compact: bool = False) -> str:
    """JSON as the CLI prints it: 2-space indent, or one compact line (NDJSON)."""
    if compact:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(data, indent=2, ensure_ascii=False)
