"""``micro call`` with a ``google.protobuf.Any`` in the request: its ``@type`` is resolved in
the service's own schema (a message of the service, or a well-known type the service's protos
never import), through the real CLI against a real server and a real service process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from importlib import resources

import pytest

from tests._poll import eventually_sync
from tests.e2e.conftest import MicroServer, Runner, close_pipes, one_line

PROTO = """
syntax = "proto3";
package packing;

import "google/protobuf/any.proto";

service Packing {
  rpc Echo(Box) returns (Box) {}
}

message Label { string text = 1; int32 size = 2; }
message Box { string name = 1; google.protobuf.Any content = 2; }
"""

MAIN = """
import micro

import packing_pb2_grpc as pb_grpc


class Packing(pb_grpc.PackingServicer):
    async def Echo(self, request, context):
        return request


service = micro.Service("packing")
service.handle(Packing())
service.run()
"""


@pytest.fixture(scope="module")
def packing(shared_server: MicroServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``packing`` service process registered with the shared server."""
    from grpc_tools import protoc

    folder = tmp_path_factory.mktemp("packing")
    (folder / "packing.proto").write_text(PROTO)
    (folder / "main.py").write_text(textwrap.dedent(MAIN))
    include = resources.files("grpc_tools") / "_proto"  # google/protobuf/any.proto
    assert protoc.main(["protoc", f"-I{folder}", f"-I{include}", f"--python_out={folder}",
                        f"--grpc_python_out={folder}", str(folder / "packing.proto")]) == 0  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env.update(MICRO_PROXY=shared_server.address, MICRO_HOME=str(folder / "home"), GRPC_VERBOSITY="NONE")
    env.update(MICRO_AUTH_ID="admin", MICRO_AUTH_SECRET="micro")
    proc = subprocess.Popen(
        [sys.executable, "main.py"], cwd=folder, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        eventually_sync(
            lambda: proc.poll() is not None or any("Listening on" in line for line in lines),
            "the packing service listening",
            timeout=60,
        )
        if proc.poll() is not None:
            pytest.fail(f"packing exited {proc.returncode}: {''.join(lines)}")
    except BaseException:
        proc.kill()
        proc.wait(10)
        close_pipes(proc, reader)
        raise
    try:
        yield "packing"
    finally:
        proc.terminate()
        proc.wait(10)
        close_pipes(proc, reader)


@pytest.mark.parametrize(
    "content",
    [
        {"@type": "type.googleapis.com/packing.Label", "text": "fragile", "size": 3},
        {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.500s"},
        {"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": "2024-05-01T10:00:00Z"},
        {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {"a": [1, "x"]}},
    ],
)
def test_call_sends_an_any_holding_a_service_or_well_known_type(
    micro: Runner, packing: str, content: dict[str, object]
) -> None:
    request = {"name": "box", "content": content}
    result = micro("call", "packing", "Packing.Echo", json.dumps(request))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == request  # the service got it and sent it back whole


def test_call_with_an_unknown_any_type_is_one_line(micro: Runner, packing: str) -> None:
    request = {"content": {"@type": "type.googleapis.com/packing.Nope"}}
    result = micro("call", "packing", "Packing.Echo", json.dumps(request))
    assert result.returncode == 1
    assert "packing.Nope" in one_line(result.stderr)
