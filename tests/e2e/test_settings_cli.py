"""The real ``micro`` and its ``MICRO_*`` settings: a bad value is one line naming the
variable, and flags that override a variable reach a detached server without passing
through ``os.environ``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import admin_token, one_line, run_micro


@pytest.mark.parametrize(
    ("env", "args", "line"),
    [
        (
            {"MICRO_PROXY_TLS": "maybe"},
            ("services",),
            "MICRO_PROXY_TLS must be true or false (1, yes, on / 0, no, off), not 'maybe'",
        ),
        (
            {"MICRO_AUTH_TOKEN_TTL": "0"},
            ("server", "--address", "127.0.0.1:0"),
            "MICRO_AUTH_TOKEN_TTL must be positive, not 0",
        ),
    ],
)
def test_a_bad_variable_is_one_line_naming_it_and_exit_1(
    env: dict[str, str], args: tuple[str, ...], line: str
) -> None:
    result = run_micro(*args, env=env)
    assert (result.returncode, one_line(result.stderr)) == (1, line)


def test_home_and_disable_admin_reach_a_detached_server(tmp_path: Path) -> None:
    """``--home`` (a global option) and ``--disable-admin`` are settings of the CLI process,
    handed to the detached server as its environment: it keeps its state in that home and
    creates no admin account."""
    home = tmp_path / "flag-home"
    started = run_micro(
        "--home", str(home), "server", "--detach", "--disable-admin", "--address", "127.0.0.1:0"
    )
    assert started.returncode == 0, started.stderr
    try:
        first_line = started.stdout.splitlines()[0]  # then how to point the CLI at it
        match = re.fullmatch(r"Server started at (127\.0\.0\.1:\d+) \(pid (\d+)\)", first_line)
        assert match, started.stdout
        assert (home / "server" / "server.pid").read_text().strip() == match.group(2)
        assert admin_token(match.group(1), tmp_path / "admin-client") is None  # admin/micro does not exist
    finally:
        stopped = run_micro("--home", str(home), "server", "stop")
    assert stopped.returncode == 0, stopped.stderr
