"""The files ``micro new`` writes, as ``str.format`` templates.

Fields: ``name`` (helloworld / foo-bar), ``module`` (helloworld / foo_bar), ``package``
(helloworld / foobar) and ``service`` (Helloworld / FooBar).
"""

from __future__ import annotations

__all__ = ["TEMPLATES"]

PROTO = """syntax = "proto3";

package {package};

service {service} {{
  // A read-only environment (micro env add NAME ADDR --read-only) calls only endpoints
  // marked side-effect free; mark the ones that only read:
  //   rpc Get(GetRequest) returns (GetResponse) {{
  //     option idempotency_level = NO_SIDE_EFFECTS;
  //   }}
  rpc Call(CallRequest) returns (CallResponse) {{}}
  rpc Stream(StreamingRequest) returns (stream StreamingResponse) {{}}
  rpc PingPong(stream Ping) returns (stream Pong) {{}}
}}

message CallRequest {{
  string name = 1;
}}

message CallResponse {{
  string msg = 1;
}}

message StreamingRequest {{
  int64 count = 1;
}}

message StreamingResponse {{
  int64 count = 1;
}}

message Ping {{
  int64 stroke = 1;
}}

message Pong {{
  int64 stroke = 1;
}}
"""

MAIN = '''"""The {name} service: ``python main.py``."""

import micro

from handler import {service}


def main() -> None:
    service = micro.Service("{name}")
    service.handle({service}())
    service.run()


if __name__ == "__main__":
    main()
'''

HANDLER = '''"""The {service} handler: one method per rpc of proto/{module}.proto."""

from collections.abc import AsyncIterator

from proto import {module}_pb2 as pb
from proto import {module}_pb2_grpc as pb_grpc


class {service}(pb_grpc.{service}Servicer):
    async def Call(self, request: pb.CallRequest, context) -> pb.CallResponse:
        return pb.CallResponse(msg=f"Hello {{request.name}}")

    async def Stream(self, request: pb.StreamingRequest, context) -> AsyncIterator[pb.StreamingResponse]:
        for i in range(request.count):
            yield pb.StreamingResponse(count=i)

    async def PingPong(self, request_iterator: AsyncIterator[pb.Ping], context) -> AsyncIterator[pb.Pong]:
        async for ping in request_iterator:
            yield pb.Pong(stroke=ping.stroke)
'''

PROTO_INIT = '''"""Generated protobuf code of the {name} service (regenerate after editing the .proto)."""
'''

TESTS_INIT = ""

CONFTEST = '''"""Tests run against an in-memory platform (micro.testing): no server needed."""

from micro.testing import micro_platform

__all__ = ["micro_platform"]
'''

TEST_HANDLER = '''"""Tests of the {service} handler: ``python -m pytest`` in the service folder."""

import asyncio

import micro
from micro.testing import call_handler

from handler import {service}
from proto import {module}_pb2 as pb


def test_call_says_hello(micro_platform) -> None:
    reply = asyncio.run(call_handler({service}().Call, pb.CallRequest(name="John")))
    assert reply.msg == "Hello John"


def test_stream_sends_count_messages(micro_platform) -> None:
    replies = asyncio.run(call_handler({service}().Stream, pb.StreamingRequest(count=3)))
    assert [r.count for r in replies] == [0, 1, 2]


def test_ping_pong_answers_every_stroke(micro_platform) -> None:
    pongs = asyncio.run(call_handler({service}().PingPong, [pb.Ping(stroke=1), pb.Ping(stroke=2)]))
    assert [p.stroke for p in pongs] == [1, 2]


def test_the_store_is_in_memory(micro_platform) -> None:
    asyncio.run(micro.store.write("greeting", "hello", table="{name}"))
    [record] = asyncio.run(micro_platform.store.read("greeting", table="{name}"))
    assert record.value == b"hello"
'''

REQUIREMENTS = """# Dependencies of the {name} service, one per line.
# The micro platform itself is provided by the runtime: do not list it here.
"""

README = """# {name}

A micro service, created with `micro new {name}`.

## Run

    micro server            # in another terminal, if none runs yet
    micro auth create account --type service --service {name} {name}-svc   # prints its secret
    MICRO_AUTH_ID={name}-svc MICRO_AUTH_SECRET=<its secret> python main.py

The service logs in with `MICRO_AUTH_ID`/`MICRO_AUTH_SECRET` (or `MICRO_TOKEN`) of a
service account bound to it (not an admin's password), and registers itself through the
server at `MICRO_PROXY` (default `127.0.0.1:8081`).

## Call

    micro call {name} {service}.Call '{{"name": "John"}}'
    micro {name} call --name John
    micro stream {name} {service}.Stream '{{"count": 3}}'

## Test

    python -m pytest

## Change the API

Edit `proto/{module}.proto`, then regenerate the code beside it (the generated files are
committed with it):

    python generate.py
"""

GENERATE = '''"""Regenerate the code of proto/*.proto after editing it: ``python generate.py``.

Runs protoc (grpcio-tools, which micro installs) on every .proto file in proto/ and makes the
generated modules import each other from the package (``from . import x_pb2``): proto/ is a
package, and protoc writes top-level imports. Nothing generated needs editing by hand.
"""

import re
import sys
from pathlib import Path

PROTO = Path(__file__).resolve().parent / "proto"


class GenerateError(Exception):
    """protoc is missing or failed; the message says which."""


def generate(proto_dir: Path = PROTO) -> list[Path]:
    """Generate the code of every .proto in ``proto_dir``; returns the .proto files."""
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError as exc:
        raise GenerateError("Generating the code needs grpcio-tools: pip install grpcio-tools") from exc
    include = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(proto_dir.glob("*.proto"))
    for proto in protos:
        args = [
            "protoc",
            f"-I{{proto_dir}}",
            f"-I{{include}}",
            f"--python_out={{proto_dir}}",
            f"--pyi_out={{proto_dir}}",
            f"--grpc_python_out={{proto_dir}}",
            str(proto),
        ]
        if protoc.main(args) != 0:
            raise GenerateError(f"protoc failed on {{proto.name}}")
    local = "|".join(re.escape(proto.stem) for proto in protos)
    for module in proto_dir.glob("*_pb2*.py"):
        text = module.read_text()
        fixed = re.sub(rf"^import ({{local}})_pb2 as ", r"from . import \\1_pb2 as ", text, flags=re.M)
        if fixed != text:
            module.write_text(fixed)
    return protos


def main() -> None:
    try:
        protos = generate()
    except GenerateError as exc:
        sys.exit(str(exc))
    for proto in protos:
        print(f"Generated the code of proto/{{proto.name}}")


if __name__ == "__main__":
    main()
'''

GITIGNORE = """__pycache__/
*.pyc
.venv/
.pytest_cache/
"""

TEMPLATES: dict[str, str] = {
    "main.py": MAIN,
    "generate.py": GENERATE,
    "handler.py": HANDLER,
    "proto/__init__.py": PROTO_INIT,
    "proto/{module}.proto": PROTO,
    "tests/__init__.py": TESTS_INIT,
    "tests/conftest.py": CONFTEST,
    "tests/test_handler.py": TEST_HANDLER,
    "requirements.txt": REQUIREMENTS,
    "README.md": README,
    ".gitignore": GITIGNORE,
}
