"""``micro server``'s HTTP gateway as users start and reach it: the real server, curl-like
requests with the standard library's client."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable

from tests.e2e.conftest import MicroServer, free_port, run_micro

HTTP = re.compile(r"Listening on (\S+) \(http\)")


def http_address(server: MicroServer) -> str:
    """The gateway's address (logged before the grpc line the server fixture waits for)."""
    found = [m.group(1) for line in server.stderr if (m := HTTP.search(line))]
    assert found, server.stderr
    return found[0]


def test_the_server_logs_the_gateway_and_it_answers(start_server: Callable[..., MicroServer]) -> None:
    server = start_server(args=("--api-address", "127.0.0.1:0"))
    address = http_address(server)
    with urllib.request.urlopen(f"http://{address}/", timeout=30) as reply:
        assert json.loads(reply.read()) == {"version": "0.1.0"}
    # a login over HTTP, then the store with the token it gave
    login = urllib.request.Request(
        f"http://{address}/auth/token", data=b'{"id":"admin","secret":"micro"}', method="POST"
    )
    with urllib.request.urlopen(login, timeout=30) as reply:
        token = json.loads(reply.read())["token"]["access_token"]
    write = urllib.request.Request(
        f"http://{address}/store/write",
        data=b'{"record":{"key":"k","value":"dg=="}}',
        headers={"Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(write, timeout=30) as reply:
        assert json.loads(reply.read()) == {"version": "1"}
    read = run_micro("store", "read", "k", server=server)
    assert (read.returncode, read.stdout) == (0, "v\n")


def test_an_api_address_that_cannot_be_bound_stops_the_server(micro_home: object) -> None:
    taken = f"127.0.0.1:{free_port()}"
    result = run_micro("server", "--address", "127.0.0.1:0", "--api-address", taken, timeout=60)
    assert result.returncode == 1
    assert f"Cannot listen on {taken}" in result.stderr
    assert "Traceback" not in result.stderr


def test_api_address_off_serves_grpc_only(start_server: Callable[..., MicroServer]) -> None:
    server = start_server(args=("--api-address", "off"))
    assert server.address
    assert not any("(http)" in line for line in server.stderr)


def test_micro_api_openapi_writes_the_gateways_document(start_server: Callable[..., MicroServer]) -> None:
    server = start_server()
    address = http_address(server)
    served = urllib.request.Request(
        f"http://{address}/openapi.json", headers={"Authorization": f"Bearer {server.token()}"}
    )
    with urllib.request.urlopen(served, timeout=30) as reply:
        expected = json.loads(reply.read())
    written = run_micro("api", "openapi", server=server)
    assert written.returncode == 0, written.stderr
    assert json.loads(written.stdout) == expected
    assert written.stdout.startswith('{\n  "openapi": "3.1.0"')
    one = run_micro("api", "openapi", "--service", "store", server=server)
    paths = json.loads(one.stdout)["paths"]
    assert "/store/read" in paths and all(path.startswith("/store/") for path in paths)
    missing = run_micro("api", "openapi", "--service", "nosuch", server=server)
    assert (missing.returncode, missing.stdout, missing.stderr) == (4, "", 'Service "nosuch" not found\n')
