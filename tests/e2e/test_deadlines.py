"""Deadlines end to end: a server that takes the connection but never answers (stopped with
SIGSTOP) is a one-line exit 4 within the deadline, not a hang; a handler that is merely slow
is ``Request timed out``, exit 1."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MicroServer, one_line, run_micro
from tests.e2e.test_framework import start_service

__all__ = ["start_service"]  # the fixture, used here

# bounds every command: a command that hangs fails the test instead of passing late
BOUND_SECONDS = 20.0


@pytest.fixture
def stopped_server(start_server: Callable[..., MicroServer]) -> Iterator[MicroServer]:
    """A real ``micro server`` that accepts connections but answers nothing (SIGSTOP)."""
    server = start_server()
    server.proc.send_signal(signal.SIGSTOP)
    try:
        yield server
    finally:
        server.proc.send_signal(signal.SIGCONT)  # so that the fixture's SIGTERM stops it


def test_a_stopped_server_is_exit_4_within_the_deadline(stopped_server: MicroServer) -> None:
    cases: list[tuple[tuple[str, ...], dict[str, str], str]] = [
        (("--timeout", "1s", "store", "read", "k"), {}, "1s"),  # the global option
        (("call", "store", "Store.Read", "--request_timeout=1s"), {}, "1s"),  # v3's, after call
        (("services",), {"MICRO_TIMEOUT": "1.5"}, "1.5s"),  # plain seconds
    ]
    for args, env, waited in cases:
        result = run_micro(*args, address=stopped_server.address, env=env, timeout=BOUND_SECONDS)
        assert result.returncode == 4, (args, result.stderr)
        assert one_line(result.stderr) == (
            f"Timed out after {waited} waiting for micro server at {stopped_server.address}"
        )


@pytest.fixture(scope="module")
def slowpoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scaffolded service whose Call sleeps for a minute when asked for ``slow``."""
    parent = tmp_path_factory.mktemp("services")
    from tests.e2e.conftest import MICRO

    made = subprocess.run([MICRO, "new", "slowpoke"], cwd=parent, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    handler = parent / "slowpoke" / "handler.py"
    source = handler.read_text()
    original = '        return pb.CallResponse(msg=f"Hello {request.name}")'
    assert original in source
    handler.write_text(
        "import asyncio\n"
        + source.replace(
            original,
            '        if request.name == "slow":\n            await asyncio.sleep(60)\n' + original,
        )
    )
    return parent / "slowpoke"


def test_a_slow_handler_is_request_timed_out_exit_1(
    slowpoke: Path, shared_server: MicroServer, start_service: Any
) -> None:
    start_service(["main.py"], cwd=slowpoke, proxy=shared_server.address)
    quick = run_micro("slowpoke", "call", "--name", "John", server=shared_server, timeout=BOUND_SECONDS)
    assert quick.returncode == 0, quick.stderr
    assert '"msg": "Hello John"' in quick.stdout

    for args in [
        ("call", "slowpoke", "Slowpoke.Call", '{"name": "slow"}', "--timeout", "1s"),
        ("--timeout", "1s", "slowpoke", "call", "--name", "slow"),  # a dynamic command
    ]:
        result = run_micro(*args, server=shared_server, timeout=BOUND_SECONDS)
        assert result.returncode == 1, (args, result.stderr)
        assert one_line(result.stderr) == "Request timed out"
