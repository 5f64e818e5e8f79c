"""A hand-built kitchen-sink proto (no codegen) for the fake facade, tests and demos.

``demo.Kitchen`` has a field of every kind the form table names; ``demo.Greeter`` has a
unary, a server-streaming, a client-streaming and a bidi endpoint.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FILE_NAME", "descriptor_set_bytes", "file_descriptor_proto"]

FILE_NAME = "demo/kitchen.proto"

_WKT_FILES = (
    "google/protobuf/timestamp.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/wrappers.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/any.proto",
    "google/protobuf/field_mask.proto",
)


def file_descriptor_proto() -> Any:
    """The ``FileDescriptorProto`` of ``demo/kitchen.proto``."""
    from google.protobuf import descriptor_pb2 as d

    f = d.FieldDescriptorProto
    fdp = d.FileDescriptorProto(name=FILE_NAME, package="demo", syntax="proto3")
    fdp.dependency.extend(_WKT_FILES)

    color = fdp.enum_type.add(name="Color")
    for i, name in enumerate(("COLOR_UNSPECIFIED", "RED", "GREEN", "BLUE")):
        color.value.add(name=name, number=i)

    inner = fdp.message_type.add(name="Inner")
    inner.field.add(name="label", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    inner.field.add(name="count", number=2, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL)

    # a recursive message: a tree of nodes
    tree = fdp.message_type.add(name="Tree")
    tree.field.add(name="name", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    tree.field.add(
        name="child", number=2, type=f.TYPE_MESSAGE, type_name=".demo.Tree", label=f.LABEL_OPTIONAL
    )

    k = fdp.message_type.add(name="Kitchen")
    n = iter(range(1, 1000))

    def add(name: str, ftype: int, *, type_name: str = "", repeated: bool = False, **kw: Any) -> Any:
        label = f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
        if type_name:
            kw["type_name"] = type_name
        return k.field.add(name=name, number=next(n), type=ftype, label=label, **kw)

    add("name", f.TYPE_STRING)
    add("i32", f.TYPE_INT32)
    add("i64", f.TYPE_INT64)
    add("u32", f.TYPE_UINT32)
    add("u64", f.TYPE_UINT64)
    add("s32", f.TYPE_SINT32)
    add("f64", f.TYPE_FIXED64)
    add("ratio", f.TYPE_FLOAT)
    add("score", f.TYPE_DOUBLE)
    add("active", f.TYPE_BOOL)
    add("blob", f.TYPE_BYTES)
    add("color", f.TYPE_ENUM, type_name=".demo.Color")
    add("inner", f.TYPE_MESSAGE, type_name=".demo.Inner")
    add("tree", f.TYPE_MESSAGE, type_name=".demo.Tree")
    k.oneof_decl.add(name="choice")
    # proto3 optional: a synthetic oneof per field, declared after the real ones
    k.oneof_decl.add(name="_nickname")
    add("nickname", f.TYPE_STRING, oneof_index=1, proto3_optional=True)
    add("tags", f.TYPE_STRING, repeated=True)
    add("numbers", f.TYPE_INT64, repeated=True)
    add("items", f.TYPE_MESSAGE, type_name=".demo.Inner", repeated=True)
    entry = k.nested_type.add(name="LabelsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL)
    add("labels", f.TYPE_MESSAGE, type_name=".demo.Kitchen.LabelsEntry", repeated=True)
    add("text", f.TYPE_STRING, oneof_index=0)
    add("number", f.TYPE_INT32, oneof_index=0)
    add("nested", f.TYPE_MESSAGE, type_name=".demo.Inner", oneof_index=0)
    add("when", f.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    add("timeout", f.TYPE_MESSAGE, type_name=".google.protobuf.Duration")
    add("maybe", f.TYPE_MESSAGE, type_name=".google.protobuf.Int64Value")
    add("title", f.TYPE_MESSAGE, type_name=".google.protobuf.StringValue")
    add("extra", f.TYPE_MESSAGE, type_name=".google.protobuf.Struct")
    add("anything", f.TYPE_MESSAGE, type_name=".google.protobuf.Value")
    add("packed", f.TYPE_MESSAGE, type_name=".google.protobuf.Any")
    add("mask", f.TYPE_MESSAGE, type_name=".google.protobuf.FieldMask")

    hello = fdp.message_type.add(name="HelloRequest")
    hello.field.add(name="name", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    hello.field.add(name="times", number=2, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL)
    # comments, as `protoc --include_source_info` keeps them (the form shows them as help)
    hello_path = [4, len(fdp.message_type) - 1, 2]
    fdp.source_code_info.location.add(path=[*hello_path, 0], leading_comments=" Who to greet.\n")
    location = fdp.source_code_info.location
    location.add(path=[*hello_path, 1], trailing_comments=" How many replies\n (streams).\n")
    reply = fdp.message_type.add(name="HelloReply")
    reply.field.add(name="message", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)

    svc = fdp.service.add(name="Greeter")
    svc.method.add(name="Hello", input_type=".demo.HelloRequest", output_type=".demo.HelloReply")
    svc.method.add(
        name="Stream", input_type=".demo.HelloRequest", output_type=".demo.HelloReply", server_streaming=True
    )
    svc.method.add(name="Cook", input_type=".demo.Kitchen", output_type=".demo.Kitchen")
    svc.method.add(
        name="Chat",
        input_type=".demo.HelloRequest",
        output_type=".demo.HelloReply",
        client_streaming=True,
        server_streaming=True,
    )
    return fdp


def descriptor_set_bytes() -> bytes:
    """A serialized ``FileDescriptorSet`` with the kitchen file and its dependencies."""
    import importlib

    from google.protobuf import descriptor_pb2

    fds = descriptor_pb2.FileDescriptorSet()
    for name in _WKT_FILES:
        module = importlib.import_module(
            "google.protobuf." + name.rsplit("/", 1)[1].replace(".proto", "_pb2")
        )
        dep = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(dep)
        fds.file.append(dep)
    fds.file.append(file_descriptor_proto())
    return fds.SerializeToString()
