"""Issue 8 (sessions, safe defaults) through the real CLI against real ``micro server``
subprocesses: logout ends the session on the server, accounts get no scopes unless asked,
the default admin is created once, and the default password is called out."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import MicroServer, one_line, run_micro

WARNING = "The admin password is still the default: change it with micro user set password"
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}  # the refresh token in a file


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def cli_for(server: MicroServer) -> Callable[..., subprocess.CompletedProcess[str]]:
    def call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_micro(*args, address=server.address, env={**NO_KEYRING, **(env or {})})

    return call


def test_logout_ends_the_session_on_the_server(shared_server: MicroServer, micro_home: Path) -> None:
    cli = cli_for(shared_server)
    ok(cli("login", "--username", "admin", "--password", "micro"))
    refresh_token = json.loads((micro_home / "credentials.json").read_text())["local/micro"]
    ok(cli("store", "list"))
    result = cli("logout")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert one_line(cli("user").stderr) == "You are not logged in"
    # the refresh token the client forgot no longer works for anyone who kept a copy
    reuse = cli("call", "auth", "Auth.Token", json.dumps({"refresh_token": refresh_token}))
    assert reuse.returncode != 0
    assert one_line(reuse.stderr) == "Not authorized to perform this request: invalid refresh token"
    # logging out with nothing stored, or with the server gone, still forgets locally
    assert ok(cli("logout")) == ""
    ok(cli("login", "--username", "admin", "--password", "micro"))
    gone = run_micro("logout", address="127.0.0.1:1", env=NO_KEYRING)
    assert gone.returncode == 0
    assert one_line(gone.stderr) == (
        "Logged out here, but the server at 127.0.0.1:1 could not end the session"
    )
    assert json.loads((micro_home / "tokens.json").read_text()) == {}


def test_an_account_gets_no_scopes_unless_asked(
    start_server: Callable[..., MicroServer], tmp_path: Path
) -> None:
    cli = cli_for(start_server(tmp_path / "server"))
    ok(cli("login", "--username", "admin", "--password", "micro"))
    created = ok(cli("auth", "create", "account", "x", "--secret", "pw"))
    assert json.loads(created.removeprefix("Account created: "))["scopes"] == []
    ok(cli("login", "--username", "x", "--password", "pw"))
    assert json.loads(ok(cli("user", "--output", "json")))["scopes"] == []
    assert one_line(cli("store", "list").stderr) == "Forbidden: access denied to namespace"
    ok(cli("login", "--username", "admin", "--password", "micro"))
    bound = ok(cli("auth", "create", "account", "--type", "service", "--service", "helloworld", "hw-svc"))
    assert json.loads(bound.removeprefix("Account created: "))["service"] == "helloworld"


def test_the_default_admin_is_created_once_and_its_default_password_called_out(
    start_server: Callable[..., MicroServer], tmp_path: Path
) -> None:
    home = tmp_path / "server"
    server = start_server(home)
    assert WARNING in [line.strip() for line in server.stderr]
    cli = cli_for(server)
    result = cli("login", "--username", "admin", "--password", "micro")
    assert (result.returncode, result.stdout, one_line(result.stderr)) == (
        0,
        "Successfully logged in.\n",
        WARNING,
    )
    ok(cli("auth", "create", "account", "root", "--secret", "pw", "--scopes", "admin"))
    ok(cli("login", "--username", "root", "--password", "pw"))
    ok(cli("auth", "delete", "account", "admin"))
    server.stop()

    again = start_server(home)  # the same server, started again: no user account named admin
    cli = cli_for(again)
    denied = cli("login", "--username", "admin", "--password", "micro")
    assert denied.returncode == 2 and "invalid credentials" in one_line(denied.stderr)
    assert WARNING not in "".join(again.stderr) and "created the default admin" not in "".join(again.stderr)
    # the failed login ended root's session here: log in as root again
    assert one_line(cli("user").stderr) == "You are not logged in"
    ok(cli("login", "--username", "root", "--password", "pw"))
    # a changed password: no warning (and the login goes on with the new password)
    ok(cli("auth", "create", "account", "admin", "--secret", "micro", "--scopes", "admin"))
    result = cli("login", "--username", "admin", "--password", "micro")
    assert one_line(result.stderr) == WARNING
    ok(cli("user", "set", "password", "--old-password", "micro", "--new-password", "better"))
    assert ok(cli("user")) == "admin\n"
    result = cli("login", "--username", "admin", "--password", "better")
    assert (result.returncode, result.stderr) == (0, "")
