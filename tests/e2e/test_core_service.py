"""``micro service <name>``: one core service alone in its own process, joining a server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._poll import eventually_sync
from tests.e2e.conftest import MICRO, MicroServer, close_pipes, one_line, run_micro

LISTENING = re.compile(r"Listening on (\S+)$")


class Alone:
    """A ``micro service`` subprocess; ``lines`` collects its log."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.address = ""
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_listening(self) -> str:
        def listening() -> bool:
            assert self.proc.poll() is None or self.lines, "micro service exited silently"
            found = [m.group(1) for line in self.lines if (m := LISTENING.search(line))]
            self.address = found[0] if found else ""
            return bool(found) or self.proc.poll() is not None

        eventually_sync(listening, "micro service listening", timeout=30)
        assert self.address, f"micro service exited {self.proc.returncode}: {self.lines}"
        return self.address

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        code = self.proc.wait(5)
        close_pipes(self.proc, self._reader)
        return code


@pytest.fixture
def alone() -> Iterator[list[Alone]]:
    """The processes a test starts, stopped after it."""
    started: list[Alone] = []
    yield started
    for proc in started:
        proc.stop()


def _start(server: MicroServer, home: Path, *args: str) -> Alone:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    token = server.token()
    assert token
    env.update(MICRO_HOME=str(home), MICRO_PROXY=server.address, MICRO_TOKEN=token, NO_COLOR="1")
    proc = subprocess.Popen(
        [MICRO, "service", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Alone(proc)


def _nodes(server: MicroServer, name: str) -> list[str]:
    health = run_micro("health", name, server=server)
    assert health.returncode == 0, health.stderr
    return sorted(health.stdout.split("\n")[:-1])


def test_a_store_run_alone_serves_registers_and_checks_callers(
    shared_server: MicroServer, alone: list[Alone], tmp_path: Path
) -> None:
    store = _start(shared_server, tmp_path / "store-home", "store", "--address", "127.0.0.1:0")
    alone.append(store)
    address = store.wait_listening()
    assert address.startswith("127.0.0.1:") and not address.endswith(":0")

    # registered in the server's registry beside the server's own node, both healthy
    nodes = _nodes(shared_server, "store")
    assert len(nodes) == 2
    assert f"store-core {shared_server.address} ok" in nodes
    [own] = [n for n in nodes if not n.startswith("store-core ")]
    assert re.fullmatch(rf"store-[0-9a-f]{{8}} {re.escape(address)} ok", own)

    # called directly, it serves from its own data folder (not the server's)
    token = shared_server.token()
    assert token
    direct = {"MICRO_PROXY": address, "MICRO_TOKEN": token}
    wrote = run_micro("store", "write", "alone-key", "alone-value", env=direct)
    assert wrote.returncode == 0, wrote.stderr
    read = run_micro("store", "read", "alone-key", env=direct)
    assert (read.returncode, read.stdout) == (0, "alone-value\n")
    assert (tmp_path / "store-home" / "server" / "store.db").exists()
    on_server = run_micro("store", "read", "alone-key", server=shared_server)
    assert (on_server.returncode, one_line(on_server.stderr)) == (1, "Not found")

    # the same call boundary as the server: no token, no call
    anonymous = run_micro("store", "read", "alone-key", env={"MICRO_PROXY": address, "MICRO_TOKEN": ""})
    assert anonymous.returncode == 2
    assert one_line(anonymous.stderr) == "Not authorized to perform this request: an account is required"

    # stopping deregisters it
    assert store.stop() == 0
    assert store.lines[-1] == "Stopping"
    assert _nodes(shared_server, "store") == [f"store-core {shared_server.address} ok"]


def test_an_unknown_core_service_is_one_line(shared_server: MicroServer, tmp_path: Path) -> None:
    result = run_micro("service", "bogus", server=shared_server, env={"MICRO_HOME": str(tmp_path / "h")})
    assert result.returncode == 1
    names = "registry, store, config, events, auth, broker, runtime, network"
    assert one_line(result.stderr) == f"No core service 'bogus' (one of {names})"


def test_a_service_that_cannot_register_does_not_start(shared_server: MicroServer, tmp_path: Path) -> None:
    """Without a login, the server refuses the registration: the process exits with one line."""
    result = run_micro(
        "service",
        "config",
        address=shared_server.address,
        env={"MICRO_HOME": str(tmp_path / "h"), "MICRO_TOKEN": ""},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Cannot register config with the micro server at {shared_server.address}: an account is required"
    )


def _instance_env(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = f.read().decode(errors="replace").split("\0")
    return dict(p.partition("=")[::2] for p in pairs if p.startswith("MICRO_"))


def test_a_runtime_run_alone_runs_services_through_the_server(
    start_server: Callable[..., MicroServer], alone: list[Alone], tmp_path: Path
) -> None:
    """``micro server --without runtime`` beside ``micro service runtime``: ``micro run``
    through the server reaches the runtime, the service gets its account from the server's
    auth and calls the server, and ``micro kill`` takes both away."""
    server = start_server(tmp_path / "server-home", args=("--without", "runtime"))
    assert "runtime" not in run_micro("services", server=server).stdout.split()
    made = run_micro("new", "hello", cwd=tmp_path, env={"MICRO_HOME": str(tmp_path / "new-home")})
    assert made.returncode == 0, made.stderr

    runtime = _start(server, tmp_path / "runtime-home", "runtime")
    alone.append(runtime)
    address = runtime.wait_listening()
    [node] = _nodes(server, "runtime")
    assert re.fullmatch(rf"runtime-[0-9a-f]{{8}} {re.escape(address)} ok", node)

    run = run_micro("run", "--wait", "./hello", server=server, cwd=tmp_path, timeout=90)
    assert (run.returncode, run.stderr) == (0, "")
    status = run_micro("status", "-o", "json", server=server)
    [row] = [r for r in json.loads(status.stdout) if r["name"] == "hello"]
    assert row["status"] == "running"
    called = run_micro("call", "hello", "Hello.Call", '{"name":"Ann"}', server=server)
    assert (called.returncode, json.loads(called.stdout)) == (0, {"msg": "Hello Ann"})

    # the account is the server's, the instance calls the server (not the runtime)
    assert "hello-latest" in run_micro("auth", "list", "accounts", server=server).stdout.split()
    logs = run_micro("logs", "hello", "-n", "-1", server=server).stdout
    [pid] = [int(p) for p in re.findall(r"instance 0 started \(pid (\d+)\)", logs)]
    told = _instance_env(pid)
    assert told["MICRO_PROXY"] == server.address
    assert told["MICRO_AUTH_FILE"].startswith(str(tmp_path / "runtime-home"))
    # its records are in its own data folder: the server's store has no _runtime database
    assert (tmp_path / "runtime-home" / "server" / "store.db").exists()
    databases = run_micro("store", "databases", server=server).stdout.split()
    assert "_runtime" not in databases

    kill = run_micro("kill", "hello", server=server)
    assert (kill.returncode, kill.stderr) == (0, "")
    status = run_micro("status", "-o", "json", server=server)
    assert [r for r in json.loads(status.stdout) if r["name"] == "hello"] == []
    assert "hello-latest" not in run_micro("auth", "list", "accounts", server=server).stdout.split()
    eventually_sync(lambda: not os.path.exists(f"/proc/{pid}"), "the instance ended", timeout=15)

    assert runtime.stop() == 0
    assert _nodes_or_none(server, "runtime") == []


CORE_NAMES = "registry, store, config, events, auth, broker, runtime, network"


def _nodes_or_none(server: MicroServer, name: str) -> list[str]:
    health = run_micro("health", name, server=server)
    return sorted(health.stdout.split("\n")[:-1]) if health.returncode == 0 else []


@pytest.mark.parametrize(
    ("without", "said"),
    [
        ("auth", "The server cannot leave out auth: its proxy relies on it"),
        ("bogus", f"No core service 'bogus' (one of {CORE_NAMES})"),
    ],
)
def test_a_server_cannot_leave_out_what_it_needs(without: str, said: str, tmp_path: Path) -> None:
    result = run_micro(
        "server", "--address", "127.0.0.1:0", "--without", without, env={"MICRO_HOME": str(tmp_path / "h")}
    )
    assert (result.returncode, one_line(result.stderr)) == (1, said)
