"""A real service process follows a config key through ``micro.config.watch``, without restart,
as the real ``micro config set`` changes it."""

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

from tests.e2e.conftest import MicroServer, Runner, close_pipes

PROTO = """
syntax = "proto3";
package greeter;

service Greeter {
  rpc Get(GetRequest) returns (GetResponse) {}
}

message GetRequest {}
message GetResponse { string greeting = 1; }
"""

# The watch runs as a task beside the service; Get answers from memory only, so the value
# can change only through the watch.
MAIN = """
import asyncio
import logging

import micro

import greeter_pb2 as pb
import greeter_pb2_grpc as pb_grpc

current = {"greeting": ""}


class Greeter(pb_grpc.GreeterServicer):
    async def Get(self, request, context):
        return pb.GetResponse(greeting=current["greeting"])


async def follow():
    try:
        async for change in micro.config.watch("greeting"):
            current["greeting"] = "" if change.deleted else str(change.value)
    except Exception:
        logging.exception("the watch failed")  # shows in the test's failure message
        raise


async def main():
    logging.basicConfig(level=logging.INFO)  # Service.run does this; serve() does not
    service = micro.Service("greeter")
    service.handle(Greeter())
    watcher = asyncio.create_task(follow())
    try:
        await service.serve()
    finally:
        watcher.cancel()


asyncio.run(main())
"""

DEADLINE = 15.0


@pytest.fixture
def greeter(shared_server: MicroServer, tmp_path: Path) -> Iterator[list[str]]:
    """The greeter service as a real process registered with the shared server; yields its log."""
    from grpc_tools import protoc

    (tmp_path / "greeter.proto").write_text(PROTO)
    (tmp_path / "main.py").write_text(textwrap.dedent(MAIN))
    out = f"--python_out={tmp_path}", f"--grpc_python_out={tmp_path}"
    assert protoc.main(["protoc", f"-I{tmp_path}", *out, str(tmp_path / "greeter.proto")]) == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env.update(MICRO_PROXY=shared_server.address, MICRO_HOME=str(tmp_path / "home"), GRPC_VERBOSITY="NONE")
    env.update(MICRO_AUTH_ID="admin", MICRO_AUTH_SECRET="micro")
    proc = subprocess.Popen(
        [sys.executable, "main.py"], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + 20
    while not any("Listening on" in line for line in lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"greeter did not start: {''.join(lines)}")
        time.sleep(0.02)
    try:
        yield lines
    finally:
        proc.terminate()
        proc.wait(10)
        close_pipes(proc, reader)


def _greeting(micro: Runner) -> str | None:
    result = micro("call", "greeter", "Greeter.Get", timeout=10)
    if result.returncode != 0:
        return None
    return str(json.loads(result.stdout).get("greeting", ""))


def _poll_until(micro: Runner, want: str, log: list[str], *, resend: bool = False) -> None:
    """Call Get until it answers ``want``; with ``resend``, set ``want`` again each round."""
    deadline = time.monotonic() + DEADLINE
    seen: str | None = None
    while True:
        if resend:
            assert micro("config", "set", "greeting", want).returncode == 0
        if (seen := _greeting(micro)) == want:
            return
        assert time.monotonic() < deadline, f"greeting stayed {seen!r}, not {want!r}: {''.join(log)}"
        time.sleep(0.1)


def test_service_follows_config_changes_without_restart(micro: Runner, greeter: list[str]) -> None:
    assert _greeting(micro) == ""  # nothing set yet: the in-memory value is empty
    # the watch opens beside the service's start, maybe after "Listening": until the first
    # change arrives, set it again
    _poll_until(micro, "hello", greeter, resend=True)
    # the watch is live: one set reaches the running service
    assert micro("config", "set", "greeting", "bye").returncode == 0
    _poll_until(micro, "bye", greeter)
