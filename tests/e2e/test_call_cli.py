"""``micro call``, ``micro stream``, dynamic commands, ``get service``, ``health`` and ``stats``
through the real CLI against a real server and a real service process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import MICRO, MicroServer, Runner, close_pipes, one_line

PROTO = """
syntax = "proto3";
package helloworld;

service Helloworld {
  rpc Call(CallRequest) returns (CallResponse) {}
  rpc Stream(StreamingRequest) returns (stream StreamingResponse) {}
  rpc PingPong(stream Ping) returns (stream Pong) {}
  rpc Echo(EchoMessage) returns (EchoMessage) {
    option idempotency_level = NO_SIDE_EFFECTS;  // a read-only env may call it
  }
  rpc Fail(CallRequest) returns (CallResponse) {}
}

message CallRequest { string name = 1; }
message CallResponse { string msg = 1; }
message StreamingRequest { int64 count = 1; int32 delay_ms = 2; }
message StreamingResponse { int64 count = 1; }
message Ping { int64 stroke = 1; }
message Pong { int64 stroke = 1; }
message Friend { string email = 1; }
message User { string email = 1; Friend friend = 2; string first_name = 3; }
message EchoMessage {
  User user = 1;
  repeated string ss = 2;
  repeated bool bs = 3;
  repeated int64 is = 4;
  repeated double fs = 5;
  int32 count = 6;
  bool b = 7;
  string user_id = 8;
}
"""

MAIN = """
import asyncio

import micro
from micro import errors

import helloworld_pb2 as pb
import helloworld_pb2_grpc as pb_grpc


class Helloworld(pb_grpc.HelloworldServicer):
    async def Call(self, request, context):
        return pb.CallResponse(msg=f"Hello {request.name}")

    async def Stream(self, request, context):
        for i in range(request.count):
            if i:
                await asyncio.sleep(request.delay_ms / 1000)
            yield pb.StreamingResponse(count=i)

    async def PingPong(self, request_iterator, context):
        async for ping in request_iterator:
            yield pb.Pong(stroke=ping.stroke)

    async def Echo(self, request, context):
        return request

    async def Fail(self, request, context):
        raise errors.NotFound(f"no greeting for {request.name}")


service = micro.Service("helloworld")
service.handle(Helloworld())
service.run()
"""


@pytest.fixture(scope="module")
def helloworld(shared_server: MicroServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real helloworld service process registered with the shared server; yields its address."""
    from grpc_tools import protoc

    folder = tmp_path_factory.mktemp("helloworld")
    (folder / "helloworld.proto").write_text(PROTO)
    (folder / "main.py").write_text(textwrap.dedent(MAIN))
    assert protoc.main(["protoc", f"-I{folder}", f"--python_out={folder}", f"--grpc_python_out={folder}",
                        str(folder / "helloworld.proto")]) == 0  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env.update(MICRO_PROXY=shared_server.address, MICRO_HOME=str(folder / "home"), GRPC_VERBOSITY="NONE")
    env.update(MICRO_AUTH_ID="admin", MICRO_AUTH_SECRET="micro")  # registering needs an account
    proc = subprocess.Popen(
        [sys.executable, "main.py"], cwd=folder, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + 20
    address = ""
    while not address:
        address = next((ln.split("Listening on ")[1].split()[0] for ln in lines if "Listening on" in ln), "")
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"helloworld did not start: {''.join(lines)}")
        time.sleep(0.02)
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(10)
        close_pipes(proc, reader)


def _json(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- read-only environments ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["call", "store", "Store.Write", '{"record":{"key":"ro-key","value":"YWZ0ZXI="}}'],
        ["call", "config", "Config.Set", '{"path":"ro.path","value":{"data":"1"}}'],
        ["call", "helloworld", "Helloworld.Fail", '{"name":"x"}'],  # sent, it would be "no greeting…"
        ["stream", "helloworld", "Helloworld.Stream", '{"count":1}'],
        ["helloworld", "call", "--name", "x"],  # a dynamic command to a user service
        ["helloworld", "fail", "--name", "x"],
        ["registry", "deregister", "--name", "helloworld"],  # a dynamic command to a core service
    ],
)
def test_read_only_env_sends_no_call_that_is_not_side_effect_free(
    micro: Runner, shared_server: MicroServer, helloworld: str, args: list[str]
) -> None:
    assert _json(micro("call", "store", "Store.Write", '{"record":{"key":"ro-key","value":"YmVmb3Jl"}}'))
    assert micro("env", "add", "prod", shared_server.address, "--read-only").returncode == 0
    refused = micro("-e", "prod", *args)
    assert refused.returncode == 1
    assert one_line(refused.stderr) == "Environment 'prod' is read-only"
    assert refused.stdout == ""
    # nothing changed on the server
    assert micro("store", "read", "ro-key").stdout == "before\n"
    assert micro("config", "get", "ro.path").returncode == 1
    assert _json(micro("call", "helloworld", "Helloworld.Call", '{"name":"x"}')) == {"msg": "Hello x"}


def test_read_only_env_still_reads_and_keeps_its_session(shared_server: MicroServer, helloworld: str) -> None:
    from tests.e2e.conftest import run_micro

    assert run_micro("env", "add", "prod", shared_server.address, "--read-only").returncode == 0
    assert run_micro("env", "set", "prod").returncode == 0
    # no MICRO_TOKEN: login (Auth.Token) and the calls below use this env's own session
    login = run_micro("login", "--username", "admin", "--password", "micro")
    assert login.returncode == 0, login.stderr
    admin = run_micro("--output", "json", "user")
    assert admin.returncode == 0, admin.stderr
    assert run_micro("store", "write", "ro-read", "v").returncode == 1  # a built-in write: refused
    written = run_micro("-e", "local", "store", "write", "ro-read", "v", address=shared_server.address,
                        env={"MICRO_TOKEN": shared_server.token() or ""})  # fmt: skip
    assert written.returncode == 0, written.stderr
    read = run_micro("call", "store", "Store.Read", '{"key":"ro-read"}')
    assert _json(read)["records"][0]["value"] == "dg=="  # type: ignore[index]
    assert run_micro("store", "read", "ro-read").stdout == "v\n"
    listed = run_micro("stream", "store", "Store.List", '{"options":{"prefix":"ro-read"}}')
    assert _json(listed) == {"keys": ["ro-read"]}
    # a user service's endpoint marked NO_SIDE_EFFECTS in its .proto, as a dynamic command
    echoed = run_micro("helloworld", "echo", "--count", "7")
    assert _json(echoed)["count"] == 7  # type: ignore[index]
    logout = run_micro("logout")
    assert logout.returncode == 0, logout.stderr
    assert run_micro("call", "store", "Store.Read", '{"key":"ro-read"}').returncode == 2  # logged out


# --- micro call / stream -----------------------------------------------------------------


def test_call_core_store_write_then_read(micro: Runner) -> None:
    written = micro("call", "store", "Store.Write", '{"record":{"key":"call-k","value":"aGk="}}')
    assert _json(written) == {"version": "1"}
    read = micro("call", "store", "Store.Read", '{"key":"call-k"}')
    assert read.stdout.startswith('{\n  "records": [\n')  # 2-space indent
    record = _json(read)["records"][0]  # type: ignore[index]
    assert record == {"key": "call-k", "value": "aGk=", "version": "1", "expiry": "0", "metadata": {}}


def test_call_user_service_prints_the_response(micro: Runner, helloworld: str) -> None:
    result = micro("call", "helloworld", "Helloworld.Call", '{"name":"John"}')
    assert result.stdout == '{\n  "msg": "Hello John"\n}\n'
    direct = micro("call", "--address", helloworld, "helloworld", "Helloworld.Call", '{"name":"Node"}')
    assert _json(direct) == {"msg": "Hello Node"}
    assert _json(micro("call", "helloworld", "Helloworld.Call")) == {
        "msg": "Hello "
    }  # request defaults to {}


def test_handler_error_reaches_the_cli_with_its_detail(micro: Runner, helloworld: str) -> None:
    result = micro("call", "helloworld", "Helloworld.Fail", '{"name":"x"}')
    assert (result.returncode, one_line(result.stderr)) == (1, "No greeting for x")


def test_stream_prints_each_response_as_it_arrives(shared_server: MicroServer, helloworld: str) -> None:
    env = {**os.environ, "MICRO_PROXY": shared_server.address}
    args = [
        MICRO,
        "stream",
        "helloworld",
        "Helloworld.Stream",
        '{"count":3,"delay_ms":400}',
        "--output",
        "json",
    ]
    with subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        still_running = proc.poll() is None  # the rest is still on its way
        rest = proc.stdout.read()
        proc.wait(20)
    assert first == '{"count":"0"}\n'
    assert still_running
    assert rest == '{"count":"1"}\n{"count":"2"}\n'
    assert proc.returncode == 0


def test_stream_text_output_is_indented_json(micro: Runner, helloworld: str) -> None:
    result = micro("stream", "helloworld", "Helloworld.Stream", '{"count":2}')
    assert result.stdout == '{\n  "count": "0"\n}\n{\n  "count": "1"\n}\n'


@pytest.mark.parametrize(
    ("args", "line", "code"),
    [
        (["call", "helloworld", "Helloworld.Call", '{"name":'], "Error creating request: ", 1),
        (["call", "helloworld", "Helloworld.Call", '{"nosuch":1}'], "Error creating request: ", 1),
        (
            ["call", "helloworld", "Helloworld.Nosuch"],
            "Endpoint Helloworld.Nosuch not found for service helloworld",
            4,
        ),
        (["call", "nosuch", "Foo.Call"], 'Service "nosuch" not found', 4),
        (["call", "helloworld", "Call"], 'Method name "Call" invalid format. Expecting service.endpoint', 3),
        (["helloworld", "nosuch"], "Endpoint Helloworld.Nosuch not found for service helloworld", 4),
        (["helloworld", "--nosuch=1"], "Unknown flag: nosuch", 1),
        (
            ["helloworld", "echo", "--count", "abc"],
            "Invalid value for --count: 'abc' is not a valid int32",
            1,
        ),
    ],
)
def test_bad_requests(micro: Runner, helloworld: str, args: list[str], line: str, code: int) -> None:
    result = micro(*args)
    assert result.returncode == code
    assert one_line(result.stderr).startswith(line)
    assert result.stdout == ""


# --- dynamic commands --------------------------------------------------------------------


def test_dynamic_command_one_and_two_words(micro: Runner, helloworld: str) -> None:
    assert _json(micro("helloworld", "--name=John")) == {"msg": "Hello John"}
    assert _json(micro("helloworld", "call", "--name", "John")) == {"msg": "Hello John"}
    assert _json(micro("helloworld", "helloworld", "call", "--name", "Jo")) == {"msg": "Hello Jo"}


def test_dynamic_command_maps_nested_and_repeated_flags(micro: Runner, helloworld: str) -> None:
    got = micro(
        "helloworld", "echo", "--user_email=a@b", "--user_friend_email", "c@d", "--ss", "x", "--ss", "y",
        "--bs=true,false", "--is=10,20", "--fs=1.5", "--count", "3", "--b", "--user_id=u1",
    )  # fmt: skip
    assert _json(got) == {
        "user": {"email": "a@b", "friend": {"email": "c@d"}, "first_name": ""},
        "ss": ["x", "y"],
        "bs": [True, False],
        "is": ["10", "20"],
        "fs": [1.5],
        "count": 3,
        "b": True,
        "user_id": "u1",
    }


def test_dynamic_streams_print_every_response(micro: Runner, helloworld: str) -> None:
    result = micro("--output", "json", "helloworld", "stream", "--count", "2")
    assert result.stdout == '{"count":"0"}\n{"count":"1"}\n'
    ping = micro("--output", "json", "helloworld", "pingPong", "--stroke", "7")  # v3's spelling
    assert ping.stdout == '{"stroke":"7"}\n'


def test_dynamic_commands_take_output_after_the_command(micro: Runner, helloworld: str) -> None:
    # spec: every streaming command accepts --output after it; this said "Unknown flag: output"
    result = micro("helloworld", "stream", "--count", "2", "--output", "json")
    assert (result.returncode, result.stdout) == (0, '{"count":"0"}\n{"count":"1"}\n')
    short = micro("helloworld", "stream", "--count=1", "-o", "json")
    assert short.stdout == '{"count":"0"}\n'
    unary = micro("helloworld", "call", "--name", "x", "--output=json")
    assert _json(unary) == {"msg": "Hello x"}
    bad = micro("helloworld", "call", "--output", "yaml")
    assert (bad.returncode, one_line(bad.stderr)) == (
        1,
        "Invalid value for --output: 'yaml' is not one of 'text', 'json'.",
    )


def test_dynamic_help_lists_endpoints_and_flags(micro: Runner, helloworld: str) -> None:
    listing = micro("helloworld", "--help")
    assert listing.returncode == 0
    commands = [line.split()[0] for line in listing.stdout.split("Commands:\n")[1].splitlines()]
    assert commands == ["call", "echo", "fail", "ping-pong", "stream"]
    flags = micro("helloworld", "call", "--help").stdout
    assert "  --name string" in flags
    echo = micro("helloworld", "echo", "--help").stdout
    assert "--user_friend_email string" in echo and "--is                []int64" in echo


def test_unknown_word_is_unrecognized(micro: Runner) -> None:
    result = micro("nosuchword")
    assert (result.returncode, one_line(result.stderr)) == (
        1,
        "Unrecognized micro command: nosuchword. Please refer to 'micro --help'",
    )


def test_repeated_dynamic_command_uses_cached_schema(
    micro: Runner, helloworld: str, micro_home: Path
) -> None:
    assert _json(micro("helloworld", "--name=A")) == {"msg": "Hello A"}
    assert any((micro_home / "cache" / "schemas").iterdir())
    # with the registry gone from the cache's view, the cached schema still serves the call
    again = micro("helloworld", "--name=B", env={"MICRO_HOME": str(micro_home)})
    assert _json(again) == {"msg": "Hello B"}


# --- get service / health / stats --------------------------------------------------------


def test_get_service_shows_nodes_and_schemas(micro: Runner, helloworld: str) -> None:
    text = micro("get", "service", "helloworld").stdout
    assert text.startswith("service  helloworld\n\nversion latest\n")
    assert helloworld in text
    assert "Endpoint: Helloworld.Call\n\nRequest: {\n  name string\n}\n\nResponse: {\n  msg string\n}" in text
    assert "Endpoint: Helloworld.Stream (server stream)" in text
    data = _json(micro("get", "service", "helloworld", "--output", "json"))
    assert data[0]["nodes"][0]["address"] == helloworld  # type: ignore[index]
    missing = micro("get", "service", "nosuch")
    assert (missing.returncode, one_line(missing.stderr)) == (4, 'Service "nosuch" not found')


def test_health_and_stats_of_a_service_and_a_core_service(micro: Runner, helloworld: str) -> None:
    health = micro("health", "helloworld")
    assert health.returncode == 0
    node, address, status = one_line(health.stdout).split(" ")
    assert (address, status) == (helloworld, "ok")
    assert node.startswith("helloworld")
    assert micro("health", "store").stdout.split(" ")[2] == "ok\n"
    micro("helloworld", "--name=x")
    stats = _json(micro("stats", "helloworld", "--output", "json"))[0]  # type: ignore[index]
    assert int(stats["requests"]) >= 1 and int(stats["memory"]) > 0 and int(stats["threads"]) >= 1
    text = micro("stats", "store").stdout.splitlines()
    assert text[0].split() == [
        "NODE",
        "ADDRESS",
        "STARTED",
        "UPTIME",
        "MEMORY",
        "THREADS",
        "REQUESTS",
        "ERRORS",
    ]
    assert text[1].startswith("store-core ")
