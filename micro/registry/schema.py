"""Service schemas: a registry :class:`~micro.registry.Service` from protobuf service descriptors.

Every service registers, per endpoint, its method path, request/response type names,
streaming kind and a :class:`~micro.registry.Value` tree of its messages, plus the serialized
``FileDescriptorSet`` of its protos. Clients (CLI, gateway, workspace) rebuild the message
classes from that set with :func:`pool_from_descriptor_set`, so no stubs are needed to call
any service.
"""

from __future__ import annotations

import contextlib
import importlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    FileDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.protobuf.message import DecodeError

from micro import errors
from micro.registry import IDEMPOTENCY, Endpoint, Node, Service, Streaming, Value

__all__ = ["describe", "descriptor_set", "endpoint_for", "message_value", "pool_from_descriptor_set"]

_SCALAR_NAMES: dict[int, str] = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}


def describe(
    name: str,
    services: Sequence[ServiceDescriptor],
    *,
    address: str,
    node_id: str | None = None,
    version: str = "latest",
    metadata: Mapping[str, str] | None = None,
) -> Service:
    """The registry entry of a service named ``name`` serving ``services`` at ``address``."""
    return Service(
        name=name,
        version=version,
        metadata=dict(metadata or {}),
        endpoints=[endpoint_for(method) for svc in services for method in svc.methods],
        nodes=[Node(id=node_id or f"{name}-{uuid.uuid4().hex[:8]}", address=address)],
        descriptor_set=descriptor_set([svc.file for svc in services]),
    )


def endpoint_for(method: MethodDescriptor) -> Endpoint:
    """The endpoint ``Handler.Method`` of a protobuf method.

    Its ``option idempotency_level`` goes into the endpoint's metadata (``idempotency``):
    clients read it from the registry to let only side-effect-free calls through to a
    read-only environment.
    """
    service = method.containing_service
    level = method.GetOptions().idempotency_level
    metadata = {}
    if level != descriptor_pb2.MethodOptions.IDEMPOTENCY_UNKNOWN:
        metadata[IDEMPOTENCY] = descriptor_pb2.MethodOptions.IdempotencyLevel.Name(level)
    return Endpoint(
        name=f"{service.name}.{method.name}",
        method=f"/{service.full_name}/{method.name}",
        request_type=method.input_type.full_name,
        response_type=method.output_type.full_name,
        streaming=_streaming(client=method.client_streaming, server=method.server_streaming),
        request=message_value(method.input_type),
        response=message_value(method.output_type),
        metadata=metadata,
    )


def _streaming(*, client: bool, server: bool) -> Streaming:
    if client and server:
        return Streaming.BIDI
    if client:
        return Streaming.CLIENT
    if server:
        return Streaming.SERVER
    return Streaming.UNARY


def message_value(message: Descriptor) -> Value:
    """A message as a schema tree: its name, full type name and fields, nested ones expanded.

    A message type already being expanded higher up the path (a recursive type) appears with
    its type name but without fields, so the tree is always finite.
    """
    return Value(name=message.name, type=message.full_name, values=_fields(message, (message.full_name,)))


def _fields(message: Descriptor, path: tuple[str, ...]) -> list[Value]:
    return [_field_value(f, path) for f in message.fields]


def _field_value(field: FieldDescriptor, path: tuple[str, ...]) -> Value:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        key, value = message.fields_by_name["key"], message.fields_by_name["value"]
        type_name = f"map<{_type_name(key)}, {_type_name(value)}>"
        return Value(name=field.name, type=type_name, values=_expand(value.message_type, path))
    type_name = _type_name(field)
    if field.is_repeated:
        type_name = f"repeated {type_name}"
    return Value(name=field.name, type=type_name, values=_expand(message, path))


def _expand(message: Descriptor | None, path: tuple[str, ...]) -> list[Value]:
    if message is None or message.full_name in path:
        return []
    return _fields(message, (*path, message.full_name))


def _type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return str(field.message_type.full_name)
    if field.enum_type is not None:
        return str(field.enum_type.full_name)
    return _SCALAR_NAMES.get(field.type, "unknown")


def descriptor_set(files: Sequence[FileDescriptor]) -> bytes:
    """A serialized ``FileDescriptorSet`` of ``files`` and their transitive dependencies.

    Files come dependencies first, each once, so a pool can add them in order.
    """
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dep in file.dependencies:
            visit(dep)
        ordered.append(file)

    for file in files:
        visit(file)
    fds = descriptor_pb2.FileDescriptorSet()
    for file in ordered:
        fds.file.add().MergeFromString(file.serialized_pb)
    return fds.SerializeToString()


def pool_from_descriptor_set(data: bytes) -> descriptor_pool.DescriptorPool:
    """A fresh pool holding every file of a serialized ``FileDescriptorSet``.

    Files are added dependencies first whatever their order in the set; a dependency missing
    from the set is taken from the default pool when it is there (the well-known types).
    Every well-known type is in the pool even when no file imports it: a ``google.protobuf.Any``
    may carry any of them (``"@type": "type.googleapis.com/google.protobuf.Empty"``), and
    JSON parsing resolves that type URL in this pool.

    Raises:
        micro.errors.BadRequest: the data is not a usable descriptor set.
    """
    fds = descriptor_pb2.FileDescriptorSet()
    try:
        fds.MergeFromString(data)
    except DecodeError as exc:
        raise errors.BadRequest("invalid descriptor set") from exc
    by_name = {f.name: f for f in fds.file}
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str, chain: tuple[str, ...]) -> None:
        if name in added:
            return
        if name in chain:
            raise errors.BadRequest(f"invalid descriptor set: import cycle through {name}")
        proto = by_name.get(name) or _default_file(name)
        if proto is None:
            raise errors.BadRequest(f"invalid descriptor set: missing file {name}")
        for dep in proto.dependency:
            add(dep, (*chain, name))
        try:
            pool.Add(proto)
        except (TypeError, ValueError) as exc:
            raise errors.BadRequest(f"invalid descriptor set: {exc}") from exc
        added.add(name)

    for file in fds.file:
        add(file.name, ())
    for name in _WELL_KNOWN_FILES:
        if name not in by_name:
            add(name, ())
    return pool


_WELL_KNOWN_FILES = tuple(
    f"google/protobuf/{name}.proto"
    for name in (
        "any", "api", "duration", "empty", "field_mask", "source_context", "struct",
        "timestamp", "type", "wrappers",
    )
)  # fmt: skip


def _default_file(name: str) -> descriptor_pb2.FileDescriptorProto | None:
    """A file of the default pool, importing protobuf's own module for a well-known type."""
    if name.startswith("google/protobuf/") and name.endswith(".proto"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name.removesuffix(".proto").replace("/", ".") + "_pb2")
    try:
        file: Any = descriptor_pool.Default().FindFileByName(name)
    except KeyError:
        return None
    proto = descriptor_pb2.FileDescriptorProto()
    proto.MergeFromString(file.serialized_pb)
    return proto
