"""OpenAPI 3.1 for what the gateway serves, generated from the registered schemas.

Each endpoint callable over plain HTTP (unary and server-streaming) is a ``POST`` at the path
the gateway resolves to it (:func:`path_of`, the inverse of :func:`server.api.paths.resolve`);
its request and response bodies are JSON Schemas of the messages as proto3 JSON writes them
(``.proto`` field names, 64-bit integers as strings — numbers are accepted too —, enums by
name, bytes as base64, well-known types in their JSON forms). Errors share one schema.
Streaming requests (client and bidirectional streams) need a WebSocket and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from micro.client.dynamic import Schema
from micro.registry import Streaming
from server.api.paths import resolve

__all__ = ["document", "path_of"]

_INT32 = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
}
_UINT32 = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_FLOAT = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}

# well-known types in their proto3 JSON forms
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
    },
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"], "contentEncoding": "base64"},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.Int32Value": {"type": ["integer", "null"], "format": "int32"},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"], "format": "int32", "minimum": 0},
    "google.protobuf.Int64Value": {"type": ["integer", "string", "null"], "format": "int64"},
    "google.protobuf.UInt64Value": {"type": ["integer", "string", "null"], "format": "int64"},
    "google.protobuf.DoubleValue": {"type": ["number", "null"]},
    "google.protobuf.FloatValue": {"type": ["number", "null"]},
}

_ERROR = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "code": {"type": "integer"},
        "detail": {"type": "string"},
        "status": {"type": "string"},
    },
    "required": ["id", "code", "detail", "status"],
}


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def path_of(service: str, endpoint: str) -> str | None:
    """The path the gateway resolves to ``service``'s ``endpoint`` (None: none does, e.g. a
    service named like a version, ``v1``)."""
    handler, _, method = endpoint.partition(".")
    if not handler or not method:
        return None
    if "." in service:
        candidates = ["/" + "/".join([*service.split("."), _lower_first(handler), _lower_first(method)])]
    else:
        candidates = [f"/{service}/{_lower_first(handler)}/{_lower_first(method)}"]
        if handler.lower() == service.replace("-", "").lower():
            # the short form when it resolves back (``/greeter/hello``, not ``RouteGuide``
            # of ``routeguide``: that is ``Routeguide``)
            candidates.insert(0, f"/{service}/{_lower_first(method)}")
    for path in candidates:
        try:
            target = resolve(path)
        except Exception:  # any refusal: not this path
            continue
        if (target.service, target.endpoint) == (service, endpoint):
            return path
    return None


class _Schemas:
    """JSON Schemas of messages and enums, by full name, in ``components.schemas``."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": _ERROR}

    def ref(self, descriptor: Any) -> dict[str, Any]:
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.components:
            self.components[name] = {}  # placeholder: recursive messages refer to it
            self.components[name] = self._message(descriptor)
        return {"$ref": f"#/components/schemas/{name}"}

    def query(self, descriptor: Any) -> list[dict[str, Any]]:
        """Query parameters for the request's top-level scalar fields (and lists of them)."""
        parameters: list[dict[str, Any]] = []
        for field in descriptor.fields:
            if field.message_type is not None:
                continue
            schema = self._field(field)
            parameter: dict[str, Any] = {
                "name": field.name,
                "in": "query",
                "required": False,
                "schema": schema,
            }
            if field.is_repeated:
                parameter.update(style="form", explode=True)
            parameters.append(parameter)
        return parameters

    def _enum(self, descriptor: EnumDescriptor) -> dict[str, Any]:
        name = descriptor.full_name
        if name not in self.components:
            names = [value.name for value in descriptor.values]
            self.components[name] = {
                "oneOf": [{"type": "string", "enum": names}, {"type": "integer"}],
            }
        return {"$ref": f"#/components/schemas/{name}"}

    def _message(self, descriptor: Descriptor) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for field in descriptor.fields:
            properties[field.name] = self._field(field)
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        return schema

    def _field(self, field: FieldDescriptor) -> dict[str, Any]:
        message = field.message_type
        if message is not None and message.GetOptions().map_entry:
            value = self._single(message.fields_by_name["value"])
            return {"type": "object", "additionalProperties": value}
        single = self._single(field)
        if field.is_repeated:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: FieldDescriptor) -> dict[str, Any]:
        kind = field.type
        if field.message_type is not None:
            return self.ref(field.message_type)
        if field.enum_type is not None:
            return self._enum(field.enum_type)
        if kind == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == FieldDescriptor.TYPE_STRING:
            return {"type": "string"}
        if kind == FieldDescriptor.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        if kind in _INT32:
            return {"type": "integer", "format": "int32"}
        if kind in _UINT32:
            return {"type": "integer", "format": "int32", "minimum": 0}
        if kind in _INT64:
            unsigned = kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64)
            schema: dict[str, Any] = {"type": ["integer", "string"], "format": "int64"}
            return schema if not unsigned else {**schema, "format": "uint64"}
        if kind in _FLOAT:
            return {
                "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]
            }
        return {}


def document(schemas: Iterable[Schema], *, namespace: str, version: str) -> dict[str, Any]:
    """The OpenAPI document of ``schemas`` (one per service; its first version's endpoints)."""
    components = _Schemas()
    paths: dict[str, Any] = {}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for schema in sorted(schemas, key=lambda s: s.name):
        for endpoint in sorted(schema.endpoints, key=lambda e: e.name):
            if endpoint.streaming not in (Streaming.UNARY, Streaming.SERVER):
                continue
            path = path_of(schema.name, endpoint.name)
            if path is None or path in paths:
                continue
            try:
                method = schema.method(endpoint.name)
            except Exception:  # a registration without usable descriptors
                continue
            unary = endpoint.streaming is Streaming.UNARY
            kind = "application/json" if unary else "application/x-ndjson"
            request = components.ref(method.request.DESCRIPTOR)
            responses = {
                "200": {
                    "description": "the reply" if unary else "the replies, one JSON object per line",
                    "content": {kind: {"schema": components.ref(method.response.DESCRIPTOR)}},
                },
                "4XX": {"description": "a client mistake", "content": error},
                "5XX": {"description": "the service failed or is unavailable", "content": error},
            }
            operation_id = f"{schema.name}.{endpoint.name}"
            item: dict[str, Any] = {}
            # GET takes the request's fields from the query string (``a.b=1`` nests)
            item["get"] = {
                "operationId": f"{operation_id}.get",
                "tags": [schema.name],
                "parameters": components.query(method.request.DESCRIPTOR),
                "responses": responses,
            }
            # the other methods take a JSON body (merged over the query string)
            for verb in ("post", "put", "patch", "delete"):
                item[verb] = {
                    "operationId": operation_id if verb == "post" else f"{operation_id}.{verb}",
                    "tags": [schema.name],
                    "requestBody": {"required": False, "content": {"application/json": {"schema": request}}},
                    "responses": responses,
                }
            paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": f"micro API — namespace {namespace}", "version": version},
        "paths": paths,
        "components": {
            "schemas": components.components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "micro-token"},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}, {}],
    }
