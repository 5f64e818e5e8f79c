"""``micro env``: environments, the current one, ``-e`` for one call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import MicroServer, one_line, run_micro


def _lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_local_is_built_in_and_current() -> None:
    result = run_micro("env")
    assert result.returncode == 0
    assert _lines(result.stdout) == [["*", "local", "127.0.0.1:8081", "Local", "environment"]]


def test_add_set_mark_and_delete() -> None:
    added = run_micro("env", "add", "staging", "127.0.0.1:9091", "--description", "Staging box")
    assert (added.returncode, added.stdout, added.stderr) == (0, "", "")
    assert _lines(run_micro("env").stdout) == [
        ["*", "local", "127.0.0.1:8081", "Local", "environment"],
        ["staging", "127.0.0.1:9091", "Staging", "box"],
    ]
    chosen = run_micro("env", "set", "staging")
    assert (chosen.returncode, chosen.stdout, chosen.stderr) == (0, "", "")
    assert [line[0] for line in _lines(run_micro("env").stdout)] == ["local", "*"]
    assert run_micro("env", "get").stdout == "staging\n"
    # -e marks local for this call only
    assert [line[0] for line in _lines(run_micro("-e", "local", "env").stdout)] == ["*", "staging"]
    assert run_micro("env", "get").stdout == "staging\n"
    removed = run_micro("env", "del", "staging")
    assert (removed.returncode, removed.stdout, removed.stderr) == (0, "", "")
    assert _lines(run_micro("env").stdout) == [["*", "local", "127.0.0.1:8081", "Local", "environment"]]


def test_unknown_env_does_not_exist() -> None:
    for args in (["env", "set", "x"], ["env", "del", "x"], ["-e", "x", "env"], ["-e", "x", "store", "list"]):
        result = run_micro(*args)
        assert result.returncode == 1, args
        assert one_line(result.stderr) == "Environment 'x' does not exist"


def test_local_cannot_be_deleted_and_names_are_unique() -> None:
    assert run_micro("env", "del", "local").returncode == 1
    assert run_micro("env", "add", "a", "127.0.0.1:1").returncode == 0
    again = run_micro("env", "add", "a", "127.0.0.1:2")
    assert again.returncode == 1
    assert one_line(again.stderr) == "Environment 'a' already exists"


def _as_admin(server: MicroServer) -> dict[str, str]:
    token = server.token()
    return {"MICRO_TOKEN": token} if token else {}


def test_commands_go_to_the_chosen_env(shared_server: MicroServer) -> None:
    assert run_micro("env", "add", "here", shared_server.address).returncode == 0
    admin = _as_admin(shared_server)
    assert run_micro("-e", "here", "store", "write", "env-key", "through-env", env=admin).returncode == 0
    assert run_micro("-e", "here", "store", "read", "env-key", env=admin).stdout == "through-env\n"
    # the current env (local, nothing there) is untouched by -e
    assert run_micro("env", "get").stdout == "local\n"


def test_read_only_env_refuses_writes(shared_server: MicroServer) -> None:
    assert (
        run_micro("env", "add", "prod", shared_server.address, "--read-only", "--color", "red").returncode
        == 0
    )
    refused = run_micro("-e", "prod", "store", "write", "k", "v", env=_as_admin(shared_server))
    assert refused.returncode == 1
    assert one_line(refused.stderr) == "Environment 'prod' is read-only"
    assert run_micro("-e", "prod", "store", "list", env=_as_admin(shared_server)).returncode == 0
    listed = json.loads(run_micro("--output", "json", "env").stdout)
    assert json.loads(run_micro("env", "--output", "json").stdout) == listed
    prod = next(e for e in listed if e["name"] == "prod")
    assert prod["read_only"] is True and prod["color"] == "red"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["we ird", "127.0.0.1:1"],
            "Invalid environment name 'we ird': use letters, digits, '-', '_' and '.'",
        ),
        # '/' splits the keyring entry <env>/<namespace>; a newline broke `micro env`'s lines
        (["a/b", "127.0.0.1:1"], "Invalid environment name 'a/b': use letters, digits, '-', '_' and '.'"),
        (["a\nb", "127.0.0.1:1"], "Invalid environment name 'a\\nb': use letters, digits, '-', '_' and '.'"),
        (["ok", ":::"], "Invalid address ':::': expected host:port"),
        (["ok", "127.0.0.1:99999"], "Invalid address '127.0.0.1:99999': expected host:port"),
        (["ok", "a b:1"], "Invalid address 'a b:1': expected host:port"),
        (
            ["ok", "127.0.0.1:1", "--color", "notacolor"],
            "Not a colour: notacolor (e.g. red, #ff0000, rgb(255,0,0))",
        ),
    ],
)
def test_add_refuses_names_addresses_and_colours_it_cannot_use(args: list[str], line: str) -> None:
    result = run_micro("env", "add", *args)
    assert (result.returncode, one_line(result.stderr)) == (1, line)
    assert [line.split()[-1] for line in run_micro("env").stdout.splitlines()] == ["environment"]


def test_add_takes_a_bare_host_a_bracketed_ipv6_and_a_colour() -> None:
    for args in (
        ["platform", "proxy.example.com"],
        ["v6", "[::1]:8081"],
        ["prod.eu-1_a", "127.0.0.1:9", "--color", "darkred"],
    ):
        result = run_micro("env", "add", *args)
        assert (result.returncode, result.stderr) == (0, ""), args
    names = [entry["name"] for entry in json.loads(run_micro("env", "--output", "json").stdout)]
    assert names == ["local", "platform", "prod.eu-1_a", "v6"]


def test_a_hand_edited_config_with_wrong_types_still_takes_writes(micro_home: Path) -> None:
    micro_home.mkdir(parents=True, exist_ok=True)
    (micro_home / "config.json").write_text('{"envs": [1, 2], "namespaces": "x", "env": "local"}')
    added = run_micro("env", "add", "y", "127.0.0.1:1")  # was "TypeError: list indices …", exit 127
    assert (added.returncode, added.stderr) == (0, "")
    assert run_micro("env", "set", "y").returncode == 0
    assert run_micro("namespace", "set", "team").returncode == 0
    assert run_micro("namespace").stdout == "team\n"
    assert [line.split()[:2] for line in run_micro("env").stdout.splitlines()][1] == ["*", "y"]


def test_env_get_takes_output_json_like_every_read() -> None:
    assert run_micro("env", "add", "qa", "127.0.0.1:9", "--read-only").returncode == 0
    for args in (
        ["-e", "qa", "env", "get", "--output", "json"],
        ["--output", "json", "-e", "qa", "env", "get"],
    ):
        result = run_micro(*args)  # was "No such option: --output"
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {
            "name": "qa",
            "address": "127.0.0.1:9",
            "description": "",
            "read_only": True,
            "color": "",
            "tls": False,
            "ca": "",
            "current": True,
        }
