"""The JSON codec of dynamic calls: JSON requests to bytes, response bytes to proto3 JSON
(``.proto`` field names in ``.proto`` order, default values included, int64 as strings)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message

from micro import errors
from micro.client.dynamic._schema import Method

__all__ = ["decode", "dumps", "encode", "has_unknown_fields"]


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
        raise errors.BadRequest(f"Error creating request: {_parse_detail(exc)}") from exc
    return message.SerializeToString()


def _pool(message: Message) -> DescriptorPool:
    """The descriptor pool ``message``'s type comes from (the service version's own)."""
    pool: DescriptorPool = message.DESCRIPTOR.file.pool  # type: ignore[assignment]
    return pool


def _parse_detail(exc: Exception) -> str:
    detail = str(exc)
    # protobuf prefixes its messages with "Failed to parse <field> field: "; keep the reason
    return " ".join(detail.replace("Failed to load JSON: ", "").split())  # one line


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
