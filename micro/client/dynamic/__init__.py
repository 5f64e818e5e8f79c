"""Dynamic calls: JSON in, JSON out, for any registered service, with no stubs.

A service registers, per endpoint, its method path, message type names and streaming kind,
plus the serialized ``FileDescriptorSet`` of its protos. A :class:`Schema` rebuilds one
descriptor pool per service *version* from that set (two versions may register different
schemas under the same file names), :func:`encode` and :func:`decode` turn JSON into request
bytes and response bytes into proto3 JSON (``.proto`` field names, default values included,
int64 as strings), and :func:`call` / :func:`stream` make the call as raw bytes through the
proxy. Used by the CLI, the HTTP gateway and the workspace.

A ``guard`` given to :func:`call` / :func:`stream` sees the endpoint before anything is sent
and raises to refuse it: a read-only environment lets through only endpoints marked
side-effect free (:func:`micro.environment.refuse_unless_side_effect_free`).

Schemas are cached per service version in ``MICRO_HOME/cache`` (:class:`Schemas`), so a
repeated command does not fetch them again; a cached schema that no longer fits (an unknown
endpoint, request field or response field) is refreshed from the registry.
"""

from __future__ import annotations

from micro.client.dynamic._cache import CACHE_SECONDS, Schemas
from micro.client.dynamic._codec import decode, dumps, encode, explain_refusal, has_unknown_fields
from micro.client.dynamic._invoke import ReplyMetadata, call, invoke, invoke_stream, stream
from micro.client.dynamic._schema import (
    Guard,
    InvalidMethodName,
    Method,
    Schema,
    check_method_name,
    endpoint_not_found,
    find_endpoint,
    service_not_found,
)

__all__ = [
    "CACHE_SECONDS",
    "Guard",
    "InvalidMethodName",
    "Method",
    "ReplyMetadata",
    "Schema",
    "Schemas",
    "call",
    "check_method_name",
    "decode",
    "dumps",
    "encode",
    "endpoint_not_found",
    "explain_refusal",
    "find_endpoint",
    "has_unknown_fields",
    "invoke",
    "invoke_stream",
    "service_not_found",
    "stream",
]
