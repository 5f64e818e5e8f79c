"""The command line's own conventions: help, unknown words, no arguments, server down."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import MicroServer, free_port, one_line, run_micro


def test_help_exits_0() -> None:
    result = run_micro("--help")
    assert result.returncode == 0
    assert "store" in result.stdout and "env" in result.stdout
    assert run_micro("store", "--help").returncode == 0
    assert run_micro("server", "--help").returncode == 0


def test_help_and_env_import_no_grpc_textual_or_server() -> None:
    probe = (
        "import sys\n"
        "from commands.main import run\n"
        "codes = [run(['--help']), run(['env'])]\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('grpc', 'textual', 'google', 'server', 'micro_tui'))\n"
        "print(codes, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[0, 0] []"


def test_unknown_command(shared_server: MicroServer) -> None:
    # with a server running, so the registry lookup of dynamic commands finds nothing
    result = run_micro("nosuch", server=shared_server)
    assert result.returncode == 1
    assert one_line(result.stderr) == "Unrecognized micro command: nosuch. Please refer to 'micro --help'"


def test_unknown_subcommand() -> None:
    result = run_micro("store", "nosuch")
    assert result.returncode == 1
    assert one_line(result.stderr) == (
        "Unrecognized subcommand for micro store: nosuch. Please refer to 'micro store --help'"
    )


def test_no_arguments_without_a_terminal() -> None:
    result = run_micro()
    assert result.returncode == 1
    assert result.stdout == ""
    assert one_line(result.stderr) == "No command provided to micro. Please refer to 'micro --help'"


def test_unknown_global_flag_is_a_usage_error_exit_1() -> None:
    result = run_micro("--nosuch", "env")
    assert result.returncode == 1
    assert "--nosuch" in one_line(result.stderr)


def test_micro_word_on_path_is_executed(tmp_path: Path) -> None:
    plugin = tmp_path / "micro-hello"
    plugin.write_text('#!/bin/sh\necho "hello from plugin $*"\n')
    plugin.chmod(0o755)
    result = run_micro("hello", "a", "b", env={"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    assert (result.returncode, result.stdout) == (0, "hello from plugin a b\n")


@pytest.mark.parametrize(
    "args",
    [
        ["store", "read", "k"],
        ["store", "write", "k", "v"],
        ["store", "list"],
        ["store", "delete", "k"],
        ["store", "databases"],
        ["services"],
    ],
)
def test_server_down_is_exit_4_within_seconds(args: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    # 'Failed to connect' (not 'Timed out after 60s…') says the refusal ended it, not a deadline
    result = run_micro(*args, env={"MICRO_PROXY": address, "MICRO_TIMEOUT": "60"}, timeout=50)
    assert result.returncode == 4
    assert one_line(result.stderr) == f"Failed to connect to micro server at {address}"


def test_default_local_env_down_names_8081(micro_home: Path) -> None:
    # nothing listens on 8081 in the test machine unless a developer runs a server
    result = run_micro("store", "read", "k", timeout=10)
    if result.returncode != 4:
        pytest.skip("something listens on 127.0.0.1:8081")
    assert one_line(result.stderr) == "Failed to connect to micro server at 127.0.0.1:8081"


def test_unknown_command_with_no_server_listening_is_quick() -> None:
    # the lookup of a service of that name fails fast and the word is simply unknown
    # the lookup's deadline is a minute: finishing well before it means the refusal ended it
    started = time.monotonic()
    env = {"MICRO_PROXY": f"127.0.0.1:{free_port()}", "MICRO_TIMEOUT": "60"}
    result = run_micro("nosuch", env=env, timeout=50)
    assert time.monotonic() - started < 45
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == "Unrecognized micro command: nosuch. Please refer to 'micro --help'"


@pytest.mark.parametrize("args", [["env"], ["store", "list"], ["server", "status"], ["server", "--detach"]])
def test_a_micro_home_that_is_a_file_is_one_line(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "not-a-folder"
    home.write_text("")
    result = run_micro(*args, env={"MICRO_HOME": str(home)}, timeout=20)
    # was "FileExistsError: [Errno 17] File exists: '…'" with exit 127
    assert (result.returncode, one_line(result.stderr)) == (1, f"Cannot use {home}: not a folder")
