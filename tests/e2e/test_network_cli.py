"""``micro network services|nodes|routes`` end to end: a real ``micro server``, real services
(``micro new`` helloworld, and a relay that calls helloworld with ``micro.client``), called
through the proxy (``micro call``), the HTTP gateway (urllib) and service to service; the
real CLI shows the counts."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests._poll import eventually_sync
from tests.e2e.conftest import MicroServer, one_line, run_micro
from tests.e2e.test_framework import helloworld, run_micro_in, start_service
from tests.e2e.test_gateway import http_address

__all__ = ["helloworld", "start_service"]  # fixtures, used here

RELAY_HANDLER = '''"""Relay: calls helloworld through micro.client (service to service)."""

import micro.client
from micro import errors

from proto import relay_pb2 as pb
from proto import relay_pb2_grpc as pb_grpc


class Relay(pb_grpc.RelayServicer):
    async def Call(self, request: pb.CallRequest, context) -> pb.CallResponse:
        if request.name == "fail":
            raise errors.NotFound("nobody called fail")
        reply = await micro.client.call("helloworld", "Helloworld.Call", pb.CallRequest(name=request.name))
        return pb.CallResponse(msg=f"relayed: {reply.msg}")
'''


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("relay")
    result = run_micro_in(parent, "new", "relay")
    assert result.returncode == 0, result.stderr
    (parent / "relay" / "handler.py").write_text(RELAY_HANDLER)
    return parent / "relay"


def _routes(server: MicroServer) -> dict[str, Any]:
    result = run_micro("network", "routes", "--output", "json", server=server)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _post(address: str, path: str, body: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(f"http://{address}{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        data: dict[str, Any] = json.loads(reply.read())
        return data


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_routes_count_calls_through_the_proxy_the_gateway_and_service_to_service(
    start_server: Callable[..., MicroServer], start_service: Any, helloworld: Path, relay: Path
) -> None:
    server = start_server()
    start_service(["main.py"], cwd=helloworld, proxy=server.address)
    start_service(["main.py"], cwd=relay, proxy=server.address)

    def registered() -> bool:
        names = run_micro("network", "services", server=server).stdout.split()
        return "helloworld" in names and "relay" in names

    eventually_sync(registered, "helloworld and relay registered", timeout=20)
    # through the proxy: two calls of helloworld, one of relay, one relay call that fails
    for name in ("John", "Jane"):
        assert json.loads(
            _ok(run_micro("call", "helloworld", "Helloworld.Call", f'{{"name":"{name}"}}', server=server))
        )
    assert "relayed: Hello Sam" in _ok(
        run_micro("call", "relay", "Relay.Call", '{"name":"Sam"}', server=server)
    )
    assert run_micro("call", "relay", "Relay.Call", '{"name":"fail"}', server=server).returncode == 1
    # through the gateway: three calls of helloworld, one of relay (which calls helloworld again)
    address = http_address(server)
    for i in range(3):
        assert _post(address, "/helloworld/call", {"name": f"Web{i}"}) == {"msg": f"Hello Web{i}"}
    assert _post(address, "/relay/call", {"name": "Via"}) == {"msg": "relayed: Hello Via"}
    # a request the gateway refuses before any handler runs is no call of the route
    with pytest.raises(urllib.error.HTTPError):
        _post(address, "/helloworld/call", {"nosuch": "x"})

    routes = {(r["service"], r["endpoint"]): r for r in _routes(server)["routes"]}
    hello = routes[("helloworld", "Helloworld.Call")]
    # 2 through the proxy + 3 through the gateway + 2 from relay's client (Sam, Via)
    assert (hello["requests"], hello["errors"]) == (7, 0)
    relayed = routes[("relay", "Relay.Call")]
    assert (relayed["requests"], relayed["errors"]) == (3, 1)  # Sam and fail (proxy), Via (gateway)
    for route in (hello, relayed):
        assert 0 < route["p50_ms"] <= route["p99_ms"]
    assert set(routes) == {("helloworld", "Helloworld.Call"), ("relay", "Relay.Call")}

    table = _ok(run_micro("network", "routes", server=server)).splitlines()
    assert table[0].split() == ["SERVICE", "ENDPOINT", "REQUESTS", "ERRORS", "P50", "P99"]
    rows = {tuple(line.split()[:4]) for line in table[1:]}
    assert ("helloworld", "Helloworld.Call", "7", "0") in rows
    assert ("relay", "Relay.Call", "3", "1") in rows
    only = _ok(run_micro("network", "routes", "relay", server=server)).splitlines()
    assert [line.split()[0] for line in only[1:]] == ["relay"]


def test_nodes_and_services_list_what_is_reachable(
    start_server: Callable[..., MicroServer], start_service: Any, helloworld: Path
) -> None:
    server = start_server()
    node = start_service(["main.py"], cwd=helloworld, proxy=server.address)

    def listed() -> bool:
        return "helloworld" in run_micro("network", "services", server=server).stdout.split()

    eventually_sync(listed, "helloworld registered", timeout=20)
    nodes = json.loads(_ok(run_micro("network", "nodes", "helloworld", "--output", "json", server=server)))
    assert [(n["service"], n["address"], n["status"]) for n in nodes] == [("helloworld", node.address, "ok")]
    table = _ok(run_micro("network", "nodes", server=server)).splitlines()
    assert table[0].split() == ["SERVICE", "ID", "ADDRESS", "STATUS"]
    assert any(line.split()[0] == "helloworld" and line.split()[-1] == "ok" for line in table[1:])
    assert any(line.split()[0] == "store" for line in table[1:])  # the core services, in micro


def test_unhappy_paths_are_one_line(start_server: Callable[..., MicroServer]) -> None:
    server = start_server()
    anonymous = run_micro("network", "routes", address=server.address)
    assert anonymous.returncode != 0
    assert "Traceback" not in anonymous.stderr
    one_line(anonymous.stderr)
    unknown = run_micro("network", "routes", "nosuch", server=server)
    assert unknown.returncode != 0
    assert "nosuch" in one_line(unknown.stderr)
    wrong = run_micro("network", "nosuch", server=server)
    assert wrong.returncode != 0
    assert "Unrecognized subcommand for micro network: nosuch" in one_line(wrong.stderr)
