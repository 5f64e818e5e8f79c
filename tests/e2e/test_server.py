"""``micro server`` as a process: services, detach/status/stop, one per home and port, kill -9."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._poll import eventually
from tests.e2e.conftest import MicroServer, admin_token, one_line, run_micro

Start = Callable[..., MicroServer]


def test_services_lists_the_core_services(shared_server: MicroServer) -> None:
    result = run_micro("services", server=shared_server)
    assert result.returncode == 0
    names = result.stdout.split()
    assert names == sorted(set(names))
    assert {"registry", "store"} <= set(names)
    # --output after the command, like every listing, or before it (global)
    for args in (("services", "--output", "json"), ("--output", "json", "services")):
        assert json.loads(run_micro(*args, server=shared_server).stdout) == names
    refused = run_micro("services", "--output", "yaml", server=shared_server)
    assert refused.returncode == 1 and "'yaml' is not one of 'text', 'json'" in one_line(refused.stderr)


def test_detach_status_stop(micro_home: Path) -> None:
    none = run_micro("server", "status")
    assert none.returncode == 1 and one_line(none.stderr) == "No micro server is running"
    started = run_micro("server", "--detach", "--address", "127.0.0.1:0")
    assert started.returncode == 0, started.stderr
    first, *pointers = started.stdout.strip().splitlines()
    match = re.fullmatch(r"Server started at (127\.0\.0\.1:(\d+)) \(pid (\d+)\)", first)
    assert match, started.stdout
    address, port, pid = match.group(1), match.group(2), match.group(3)
    # not the local env's address: it says how to point the CLI at it
    assert pointers == [
        "To use it from the CLI:",
        f"  micro env add local-{port} {address}",
        f"  micro env set local-{port}",
    ]
    try:
        for line in pointers[1:]:  # pasted as printed, they work
            pasted = run_micro(*line.split()[1:])
            assert (pasted.returncode, pasted.stdout, pasted.stderr) == (0, "", "")
        # -e names a remote env: server stop/status act on this MICRO_HOME's server, so refuse it
        for form in (("-e", "local"), ("-e=local",), ("--env", f"local-{port}")):
            for sub in ("status", "stop"):
                refused = run_micro(*form, "server", sub)
                assert refused.returncode == 1, refused.stdout
                assert one_line(refused.stderr) == (
                    f"-e/--env does not apply to micro server {sub}: it acts on the server of MICRO_HOME"
                )
        # an exported MICRO_ENV is no such mistake
        assert run_micro("server", "status", env={"MICRO_ENV": "local"}).returncode == 0
        assert (micro_home / "server" / "server.pid").read_text().strip() == pid
        assert "Listening on" in (micro_home / "logs" / "server.log").read_text()
        status = run_micro("server", "status")
        assert (status.returncode, status.stdout) == (0, f"Server running at {address} (pid {pid})\n")
        token = admin_token(address, micro_home / "admin-client")
        # no MICRO_PROXY: the env set above points the CLI at the server
        write = run_micro("store", "write", "k", "v", env={"MICRO_TOKEN": token or ""})
        assert write.returncode == 0, write.stderr
        twice = run_micro("server", "--detach", "--address", "127.0.0.1:0")
        assert twice.returncode == 1
        assert one_line(twice.stderr) == f"A micro server is already running at {address} (pid {pid})"
    finally:
        stopped = run_micro("server", "stop")
    assert (stopped.returncode, stopped.stdout) == (0, "Server stopped\n")
    assert run_micro("server", "status").returncode == 1
    again = run_micro("server", "stop")
    assert again.returncode == 1 and one_line(again.stderr) == "No micro server is running"
    down = run_micro("store", "read", "k", address=address, timeout=10)
    assert down.returncode == 4


def test_second_server_on_one_home_exits_with_one_line(start_server: Start) -> None:
    first = start_server()
    second = start_server(address="127.0.0.1:0", wait=False)
    assert second.proc.wait(20) == 1
    assert "Another micro server is already running" in second.stderr[-1]
    assert not any("Traceback" in line for line in second.stderr)
    assert run_micro("store", "list", server=first).returncode == 0


def test_busy_port_exits_with_one_line(start_server: Start, tmp_path: Path) -> None:
    first = start_server()
    second = start_server(home=tmp_path / "other-home", address=first.address, wait=False)
    assert second.proc.wait(20) == 1
    assert second.stderr[-1].strip() == f"Cannot listen on {first.address}: address already in use"
    assert not any("Traceback" in line for line in second.stderr)
    assert run_micro("store", "list", server=first).returncode == 0


async def _write_keys(server: MicroServer, count: int) -> None:
    from micro.store import Record
    from micro.store.grpc import GrpcStore

    store = GrpcStore(server.address, token=server.token())
    try:
        for i in range(count):
            await store.write(Record(key=f"durable-{i:04d}", value=f"value-{i}".encode()))
    finally:
        await store.close()


def test_acknowledged_writes_survive_kill_9(start_server: Start) -> None:
    count = 200
    server = start_server()
    asyncio.run(_write_keys(server, count))
    server.kill9()
    restarted = start_server()
    listed = run_micro("store", "list", "durable-", server=restarted)
    assert listed.stdout.split() == [f"durable-{i:04d}" for i in range(count)]
    values = run_micro("store", "read", "-p", "durable-", server=restarted)
    assert values.stdout.split() == [f"value-{i}" for i in range(count)]


def test_a_pid_file_left_by_kill_9_is_not_trusted(start_server: Start, micro_home: Path) -> None:
    import subprocess
    import sys

    server = start_server()
    server.kill9()  # leaves server.pid behind
    # ... and its pid now belongs to another process
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (micro_home / "server" / "server.pid").write_text(f"{bystander.pid}\n")
        status = run_micro("server", "status")
        assert (status.returncode, one_line(status.stderr)) == (1, "No micro server is running")
        stop = run_micro("server", "stop")
        assert (stop.returncode, one_line(stop.stderr)) == (1, "No micro server is running")
        assert bystander.poll() is None  # `micro server stop` used to SIGTERM it
        started = run_micro("server", "--detach", "--address", "127.0.0.1:0")
        assert started.returncode == 0, started.stderr  # was "already running at ... (pid <bystander>)"
        assert run_micro("server", "stop").returncode == 0
    finally:
        bystander.kill()
        bystander.wait()


async def _write_until_refused(server: MicroServer, writers: int) -> tuple[list[str], list[str]]:
    """Keys written by ``writers`` concurrent clients until the server stops taking them,
    and each client's failure as the CLI would print it."""
    import signal

    from micro.errors import MicroError
    from micro.store import Record
    from micro.store.grpc import GrpcStore

    acked: list[str] = []
    failures: list[str] = []
    token = server.token()

    async def writer(i: int) -> None:
        store = GrpcStore(server.address, token=token)
        try:
            for n in range(1_000_000):
                try:
                    await store.write(Record(key=f"inflight-{i}-{n}", value=b"v"))
                except MicroError as exc:
                    failures.append(f"{exc.code} {exc.detail}")
                    return
                acked.append(f"inflight-{i}-{n}")
        finally:
            await store.close()

    tasks = [asyncio.create_task(writer(i)) for i in range(writers)]
    await eventually(lambda: len(acked) >= 200, "200 writes acknowledged before the SIGTERM", timeout=30)
    server.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return acked, failures


def test_sigterm_with_writes_in_flight(start_server: Start) -> None:
    server = start_server()
    acked, failures = asyncio.run(_write_until_refused(server, 16))
    assert server.proc.wait(15) == 0
    # a call the stopping server dropped read 'CANCELLED' (exit 127 in the CLI)
    assert set(failures) == {f"503 failed to connect to micro server at {server.address}"}
    restarted = start_server()
    listed = set(run_micro("store", "list", "inflight-", server=restarted).stdout.split())
    assert set(acked) <= listed


def test_sigint_stops_cleanly_and_clears_the_pid_file(start_server: Start, micro_home: Path) -> None:
    import signal

    server = start_server()
    assert (micro_home / "server" / "server.addr").read_text().strip() == server.address
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(15) == 0
    assert not (micro_home / "server" / "server.pid").exists()
    assert not any("Traceback" in line for line in server.stderr)
    assert run_micro("server", "status").returncode == 1


@pytest.mark.parametrize(
    ("address", "line"),
    [
        ("bogus", "Invalid address 'bogus': expected host:port (port 0 picks a free port)"),
        (
            "127.0.0.1:99999",
            "Invalid address '127.0.0.1:99999': expected host:port (port 0 picks a free port)",
        ),
        # TEST-NET-1 (RFC 5737): no interface of any machine has it, and no DNS is asked
        ("192.0.2.1:0", "Cannot listen on 192.0.2.1:0: cannot assign requested address"),
    ],
)
def test_an_address_it_cannot_listen_on_is_one_line(address: str, line: str) -> None:
    result = run_micro("server", "--address", address, timeout=20)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == line
    assert "Traceback" not in result.stderr
