"""describe() and pool_from_descriptor_set over a hand-built proto (no codegen needed)."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, timestamp_pb2
from google.protobuf.descriptor import ServiceDescriptor

from micro import errors
from micro.proto.registry import registry_pb2
from micro.registry import Streaming, Value
from micro.registry._convert import service_from_proto, service_to_proto
from micro.registry.schema import describe, pool_from_descriptor_set

F = descriptor_pb2.FieldDescriptorProto
TIMESTAMP = timestamp_pb2.DESCRIPTOR.name


def _field(name: str, number: int, kind: int, type_name: str = "", repeated: bool = False) -> F:
    field = F(name=name, number=number, type=kind, label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)  # type: ignore[arg-type]
    if type_name:  # an empty type_name still counts as set
        field.type_name = type_name
    return field


def _demo_files() -> list[descriptor_pb2.FileDescriptorProto]:
    demo = descriptor_pb2.FileDescriptorProto(
        name="demo/demo.proto", package="demo", syntax="proto3", dependency=[TIMESTAMP]
    )
    demo.enum_type.add(name="Kind").value.extend(
        [descriptor_pb2.EnumValueDescriptorProto(name="KIND_UNSPECIFIED", number=0)]
    )
    node = demo.message_type.add(name="Node")
    node.field.extend(
        [
            _field("name", 1, F.TYPE_STRING),
            _field("children", 2, F.TYPE_MESSAGE, ".demo.Node", repeated=True),
            _field("parent", 3, F.TYPE_MESSAGE, ".demo.Node"),
            _field("index", 4, F.TYPE_MESSAGE, ".demo.Node.IndexEntry", repeated=True),
            _field("kind", 5, F.TYPE_ENUM, ".demo.Kind"),
            _field("at", 6, F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        ]
    )
    entry = node.nested_type.add(name="IndexEntry")
    entry.options.map_entry = True
    entry.field.extend([_field("key", 1, F.TYPE_STRING), _field("value", 2, F.TYPE_MESSAGE, ".demo.Node")])
    request = demo.message_type.add(name="Request")
    request.field.extend(
        [
            _field("name", 1, F.TYPE_STRING),
            _field("tags", 2, F.TYPE_STRING, repeated=True),
            _field("inner", 3, F.TYPE_MESSAGE, ".demo.Request.Inner"),
            _field("tree", 4, F.TYPE_MESSAGE, ".demo.Node"),
        ]
    )
    request.nested_type.add(name="Inner").field.extend(
        [_field("count", 1, F.TYPE_INT64), _field("flag", 2, F.TYPE_BOOL)]
    )
    demo.message_type.add(name="Response").field.extend(
        [_field("data", 1, F.TYPE_BYTES), _field("score", 2, F.TYPE_DOUBLE)]
    )
    svc = demo.service.add(name="Demo")
    for method, client, server in [
        ("Unary", False, False),
        ("Server", False, True),
        ("Client", True, False),
        ("Bidi", True, True),
    ]:
        svc.method.add(
            name=method,
            input_type=".demo.Request",
            output_type=".demo.Response",
            client_streaming=client,
            server_streaming=server,
        )
    levels = descriptor_pb2.MethodOptions
    svc.method[0].options.idempotency_level = levels.NO_SIDE_EFFECTS
    svc.method[2].options.idempotency_level = levels.IDEMPOTENT
    other = descriptor_pb2.FileDescriptorProto(
        name="demo/other.proto", package="other", syntax="proto3", dependency=["demo/demo.proto"]
    )
    other.service.add(name="Other").method.add(name="Echo", input_type=".demo.Node", output_type=".demo.Node")
    return [demo, other]


@pytest.fixture
def services() -> list[ServiceDescriptor]:
    """The Demo and Other services, from a pool of their own."""
    pool = descriptor_pool.DescriptorPool()
    ts = descriptor_pb2.FileDescriptorProto()
    ts.MergeFromString(descriptor_pool.Default().FindFileByName(TIMESTAMP).serialized_pb)
    pool.Add(ts)
    for file in _demo_files():
        pool.Add(file)
    return [pool.FindServiceByName("demo.Demo"), pool.FindServiceByName("other.Other")]


def _names(value: Value) -> dict[str, Value]:
    return {v.name: v for v in value.values}


def test_describe_lists_every_method_with_path_types_and_streaming_kind(
    services: list[ServiceDescriptor],
) -> None:
    svc = describe("demo", services, address="127.0.0.1:9000")
    got = [(e.name, e.method, e.request_type, e.response_type, e.streaming) for e in svc.endpoints]
    assert got == [
        ("Demo.Unary", "/demo.Demo/Unary", "demo.Request", "demo.Response", Streaming.UNARY),
        ("Demo.Server", "/demo.Demo/Server", "demo.Request", "demo.Response", Streaming.SERVER),
        ("Demo.Client", "/demo.Demo/Client", "demo.Request", "demo.Response", Streaming.CLIENT),
        ("Demo.Bidi", "/demo.Demo/Bidi", "demo.Request", "demo.Response", Streaming.BIDI),
        ("Other.Echo", "/other.Other/Echo", "demo.Node", "demo.Node", Streaming.UNARY),
    ]


def test_describe_builds_one_node_with_defaults(services: list[ServiceDescriptor]) -> None:
    svc = describe("demo", services, address="127.0.0.1:9000")
    assert (svc.name, svc.version, svc.metadata) == ("demo", "latest", {})
    [node] = svc.nodes
    assert node.address == "127.0.0.1:9000"
    assert node.id.startswith("demo-") and len(node.id) == len("demo-") + 8
    other = describe("demo", services, address="127.0.0.1:9000")
    assert other.nodes[0].id != node.id


def test_describe_takes_node_id_version_and_metadata(services: list[ServiceDescriptor]) -> None:
    svc = describe("demo", services, address="h:1", node_id="n1", version="v2", metadata={"a": "b"})
    assert (svc.version, svc.metadata, svc.nodes[0].id) == ("v2", {"a": "b"}, "n1")


def test_request_schema_expands_nested_messages_and_names_types(services: list[ServiceDescriptor]) -> None:
    request = describe("demo", services, address="h:1").endpoints[0].request
    assert request is not None
    assert (request.name, request.type) == ("Request", "demo.Request")
    fields = _names(request)
    assert [(v.name, v.type) for v in request.values] == [
        ("name", "string"),
        ("tags", "repeated string"),
        ("inner", "demo.Request.Inner"),
        ("tree", "demo.Node"),
    ]
    assert [(v.name, v.type, v.values) for v in fields["inner"].values] == [
        ("count", "int64", []),
        ("flag", "bool", []),
    ]
    tree = _names(fields["tree"])
    assert tree["kind"].type == "demo.Kind"
    assert [(v.name, v.type) for v in tree["at"].values] == [("seconds", "int64"), ("nanos", "int32")]


def test_recursive_messages_stop_at_a_type_already_on_the_path(services: list[ServiceDescriptor]) -> None:
    endpoints = describe("demo", services, address="h:1").endpoints
    tree = _names(_names(endpoints[0].request)["tree"])  # type: ignore[arg-type]
    assert (tree["children"].type, tree["children"].values) == ("repeated demo.Node", [])
    assert (tree["parent"].type, tree["parent"].values) == ("demo.Node", [])
    assert (tree["index"].type, tree["index"].values) == ("map<string, demo.Node>", [])
    echo = endpoints[4].request
    assert echo is not None and echo.type == "demo.Node"
    assert _names(echo)["parent"].values == []


def test_response_schema(services: list[ServiceDescriptor]) -> None:
    response = describe("demo", services, address="h:1").endpoints[1].response
    assert response == Value(
        name="Response",
        type="demo.Response",
        values=[Value(name="data", type="bytes"), Value(name="score", type="double")],
    )


def test_descriptor_set_holds_every_file_once_dependencies_first(services: list[ServiceDescriptor]) -> None:
    data = describe("demo", services, address="h:1").descriptor_set
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    assert [f.name for f in fds.file] == [TIMESTAMP, "demo/demo.proto", "demo/other.proto"]


def test_pool_from_descriptor_set_builds_dynamic_messages(services: list[ServiceDescriptor]) -> None:
    pool = pool_from_descriptor_set(describe("demo", services, address="h:1").descriptor_set)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("demo.Request"))
    msg = json_format.ParseDict({"name": "x", "tags": ["a"], "tree": {"at": "2024-01-02T03:04:05Z"}}, cls())
    assert cls.FromString(msg.SerializeToString()).tree.at.seconds == 1704164645
    assert pool.FindMethodByName("other.Other.Echo").input_type.full_name == "demo.Node"


def test_pool_from_descriptor_set_accepts_any_file_order() -> None:
    fds = descriptor_pb2.FileDescriptorSet(file=list(reversed(_demo_files())))
    ts = fds.file.add()
    ts.MergeFromString(descriptor_pool.Default().FindFileByName(TIMESTAMP).serialized_pb)
    pool = pool_from_descriptor_set(fds.SerializeToString())
    assert pool.FindMessageTypeByName("demo.Node").fields_by_name["at"].message_type.full_name == (
        "google.protobuf.Timestamp"
    )


def test_pool_takes_missing_well_known_types_from_the_default_pool() -> None:
    fds = descriptor_pb2.FileDescriptorSet(file=_demo_files())
    pool = pool_from_descriptor_set(fds.SerializeToString())
    assert pool.FindServiceByName("demo.Demo").methods_by_name["Bidi"].client_streaming


def test_pool_from_garbage_or_incomplete_set_is_bad_request() -> None:
    with pytest.raises(errors.BadRequest):
        pool_from_descriptor_set(b"\xff\xff\xff")
    fds = descriptor_pb2.FileDescriptorSet(file=_demo_files()[1:])  # other.proto without demo.proto
    with pytest.raises(errors.BadRequest, match=r"missing file demo/demo\.proto"):
        pool_from_descriptor_set(fds.SerializeToString())


def test_describe_real_generated_service() -> None:
    registry = registry_pb2.DESCRIPTOR.services_by_name["Registry"]
    svc = describe("registry", [registry], address="h:1", node_id="registry-core")
    watch = next(e for e in svc.endpoints if e.name == "Registry.Watch")
    assert (watch.method, watch.streaming) == ("/registry.Registry/Watch", Streaming.SERVER)
    pool = pool_from_descriptor_set(svc.descriptor_set)
    assert pool.FindMessageTypeByName("registry.Service").fields_by_name["descriptor_set"].type == 12


def test_describe_carries_each_methods_idempotency_level_through_the_registry(
    services: list[ServiceDescriptor],
) -> None:
    # what a registry client gets back, after the registry proto
    svc = service_from_proto(service_to_proto(describe("demo", services, address="h:1")))
    marks = {e.name: (e.metadata, e.side_effect_free) for e in svc.endpoints}
    assert marks == {
        "Demo.Unary": ({"idempotency": "NO_SIDE_EFFECTS"}, True),
        "Demo.Server": ({}, False),
        "Demo.Client": ({"idempotency": "IDEMPOTENT"}, False),  # idempotent still changes state
        "Demo.Bidi": ({}, False),
        "Other.Echo": ({}, False),
    }


def test_core_reads_are_marked_side_effect_free_and_nothing_else() -> None:
    import importlib

    from micro.registry.schema import endpoint_for

    unmarked = set()
    for package in ("auth", "broker", "config", "debug", "events", "network", "registry", "runtime", "store"):
        module = importlib.import_module(f"micro.proto.{package}.{package}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            unmarked |= {e.method for e in map(endpoint_for, service.methods) if not e.side_effect_free}
    # each changes state (or issues a token: Auth.Token, a session call clients exempt by name)
    assert unmarked == {
        "/auth.Auth/Generate",
        "/auth.Auth/Token",
        "/auth.Auth/Revoke",
        "/auth.Accounts/Delete",
        "/auth.Accounts/ChangeSecret",
        "/auth.Rules/Create",
        "/auth.Rules/Delete",
        "/auth.Namespaces/Create",
        "/auth.Namespaces/Delete",
        "/broker.Broker/Publish",
        "/config.Config/Set",
        "/config.Config/Delete",
        "/events.Stream/Publish",
        "/events.Stream/PublishStream",
        "/events.Stream/Consume",
        "/events.Store/Retention",
        "/events.Store/Delete",
        "/events.Store/ResetGroup",
        "/registry.Registry/Register",
        "/registry.Registry/Deregister",
        "/runtime.Runtime/Create",
        "/runtime.Runtime/Delete",
        "/runtime.Runtime/Update",
        "/runtime.Source/Upload",
        "/store.Store/Write",
        "/store.Store/Delete",
        "/store.BlobStore/Write",
        "/store.BlobStore/Delete",
    }
