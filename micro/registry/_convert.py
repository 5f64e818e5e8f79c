"""Registry protobuf messages ⇄ :mod:`micro.registry` domain types (client and handler share it)."""

from __future__ import annotations

from micro.proto.registry import registry_pb2
from micro.registry import Endpoint, Node, Result, Service, Streaming, Value

__all__ = [
    "endpoint_from_proto",
    "endpoint_to_proto",
    "node_from_proto",
    "result_from_proto",
    "result_to_proto",
    "service_from_proto",
    "service_to_proto",
    "value_from_proto",
    "value_to_proto",
]

_STREAMING_TO_PROTO: dict[Streaming, registry_pb2.Streaming.ValueType] = {
    Streaming.UNARY: registry_pb2.UNARY,
    Streaming.SERVER: registry_pb2.SERVER,
    Streaming.CLIENT: registry_pb2.CLIENT,
    Streaming.BIDI: registry_pb2.BIDI,
}
_STREAMING_FROM_PROTO = {v: k for k, v in _STREAMING_TO_PROTO.items()}


def value_to_proto(value: Value) -> registry_pb2.Value:
    return registry_pb2.Value(
        name=value.name, type=value.type, values=[value_to_proto(v) for v in value.values]
    )


def value_from_proto(pb: registry_pb2.Value) -> Value:
    return Value(name=pb.name, type=pb.type, values=[value_from_proto(v) for v in pb.values])


def endpoint_to_proto(endpoint: Endpoint) -> registry_pb2.Endpoint:
    pb = registry_pb2.Endpoint(
        name=endpoint.name,
        metadata=endpoint.metadata,
        method=endpoint.method,
        request_type=endpoint.request_type,
        response_type=endpoint.response_type,
        streaming=_STREAMING_TO_PROTO[endpoint.streaming],
    )
    if endpoint.request is not None:
        pb.request.CopyFrom(value_to_proto(endpoint.request))
    if endpoint.response is not None:
        pb.response.CopyFrom(value_to_proto(endpoint.response))
    return pb


def endpoint_from_proto(pb: registry_pb2.Endpoint) -> Endpoint:
    return Endpoint(
        name=pb.name,
        method=pb.method,
        request_type=pb.request_type,
        response_type=pb.response_type,
        # an unknown kind from a newer peer degrades to unary rather than failing the call
        streaming=_STREAMING_FROM_PROTO.get(pb.streaming, Streaming.UNARY),
        request=value_from_proto(pb.request) if pb.HasField("request") else None,
        response=value_from_proto(pb.response) if pb.HasField("response") else None,
        metadata=dict(pb.metadata),
    )


def _node_to_proto(node: Node) -> registry_pb2.Node:
    port = node.address.rsplit(":", 1)[-1] if ":" in node.address else ""
    return registry_pb2.Node(
        id=node.id,
        address=node.address,
        port=int(port) if port.isdigit() else 0,
        metadata=node.metadata,
    )


def node_from_proto(pb: registry_pb2.Node) -> Node:
    address = pb.address
    if pb.port and address and ":" not in address:  # a v3 client may send host and port apart
        address = f"{address}:{pb.port}"
    return Node(id=pb.id, address=address, metadata=dict(pb.metadata))


def service_to_proto(
    service: Service, *, ttl: int | None = None, domain: str | None = None
) -> registry_pb2.Service:
    """The wire form of ``service``; ``ttl``/``domain`` fill its ``options`` when given."""
    pb = registry_pb2.Service(
        name=service.name,
        version=service.version,
        metadata=service.metadata,
        endpoints=[endpoint_to_proto(e) for e in service.endpoints],
        nodes=[_node_to_proto(n) for n in service.nodes],
        descriptor_set=service.descriptor_set,
    )
    if ttl is not None or domain is not None:
        pb.options.CopyFrom(registry_pb2.Options(ttl=ttl or 0, domain=domain or ""))
    return pb


def service_from_proto(pb: registry_pb2.Service) -> Service:
    return Service(
        name=pb.name,
        version=pb.version or "latest",
        metadata=dict(pb.metadata),
        endpoints=[endpoint_from_proto(e) for e in pb.endpoints],
        nodes=[node_from_proto(n) for n in pb.nodes],
        descriptor_set=pb.descriptor_set,
    )


def result_to_proto(result: Result) -> registry_pb2.Result:
    return registry_pb2.Result(
        action=result.action,
        service=service_to_proto(result.service),
        timestamp=int(result.timestamp),
    )


def result_from_proto(pb: registry_pb2.Result) -> Result:
    return Result(action=pb.action, service=service_from_proto(pb.service), timestamp=float(pb.timestamp))
