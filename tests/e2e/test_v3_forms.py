"""What Micro v3 users and their scripts type (issue 12), through the real ``micro`` CLI: v3's
spellings of global options, help and version, values that start with a dash, the outputs
scripts rely on, and one line (never a Python exception) for every input mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from commands.main import LATER
from tests.e2e.conftest import MicroServer, Runner, free_port, one_line, run_micro


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one line of a refused command (and its exit code)."""
    assert result.returncode == code, (result.stdout, result.stderr)
    return one_line(result.stderr)


# --- no server needed ----------------------------------------------------------------------------


def test_v3_spellings_of_the_env_option() -> None:
    # Go's flag package: -e=NAME, and long names after one dash
    for form in (["-e=local"], ["-env=local"], ["-env", "local"], ["--env=local"]):
        assert ok(run_micro(*form, "env")).startswith("* local"), form
    for form in (["-e=nosuch"], ["-env=nosuch"], ["-env", "nosuch"]):
        assert refused(run_micro(*form, "env")) == "Environment 'nosuch' does not exist", form


def test_help_and_version_as_v3_spells_them() -> None:
    top = ok(run_micro("--help"))
    assert ok(run_micro("help")) == top
    assert "help" in top and "version" in top  # both listed as commands
    assert ok(run_micro("help", "store")) == ok(run_micro("store", "--help"))
    assert ok(run_micro("-e=local", "help", "store", "write")) == ok(run_micro("store", "write", "--help"))
    line = f"micro version {version('micro-platform')}\n"
    assert ok(run_micro("--version")) == line
    assert ok(run_micro("version")) == line


def test_help_and_version_import_no_grpc_protobuf_or_textual() -> None:
    probe = (
        "import sys\n"
        "from commands.main import run\n"
        "codes = [run(['help']), run(['help', 'store']), run(['--version'])]\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'google', 'textual'))\n"
        "print(codes, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip().splitlines()[-1] == "[0, 0, 0] []", result.stderr


def test_commands_that_come_later_say_so_without_a_server() -> None:
    # every name of the table, however it shrinks as features land
    dead = f"127.0.0.1:{free_port()}"  # nothing is asked of a server
    for name in LATER:
        result = run_micro(name, "x", address=dead)
        assert refused(result) == f"micro {name} is not available yet"
    for name in list(LATER)[:1]:
        assert refused(run_micro("help", name)) == f"micro {name} is not available yet"


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("run", "run is the name of a micro command: choose another name"),
        ("logs", "logs is the name of a micro command: choose another name"),
        ("help", "help is the name of a micro command: choose another name"),
        ("env", "env is the name of a micro command: choose another name"),
        ("a" * 300, f"Cannot create {'a' * 300}: File name too long"),
    ],
)
def test_new_refuses_command_names_and_names_the_file_system_cannot_hold(
    tmp_path: Path, name: str, line: str
) -> None:
    assert refused(run_micro("new", name, cwd=tmp_path)) == line
    assert list(tmp_path.iterdir()) == []


def test_the_scaffold_regenerates_its_code_after_the_proto_is_edited(tmp_path: Path) -> None:
    printed = ok(run_micro("new", "foo-bar", cwd=tmp_path))
    assert "After editing proto/foo_bar.proto, regenerate its code:\n  python generate.py\n" in printed
    folder = tmp_path / "foo-bar"
    assert "python generate.py" in (folder / "README.md").read_text()
    proto = folder / "proto" / "foo_bar.proto"
    text = proto.read_text()
    text = text.replace("  string name = 1;\n", "  string name = 1;\n  int32 age = 2;\n", 1)
    text = text.replace(
        "  rpc Call(CallRequest)",
        "  rpc Get(CallRequest) returns (CallResponse) {}\n  rpc Call(CallRequest)",
        1,
    )
    proto.write_text(text)
    regenerated = subprocess.run(
        [sys.executable, "generate.py"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert (regenerated.returncode, regenerated.stdout) == (0, "Generated the code of proto/foo_bar.proto\n")
    check = (
        "from proto import foo_bar_pb2 as pb, foo_bar_pb2_grpc as pb_grpc\n"
        "print(pb.CallRequest(name='x', age=3).age, hasattr(pb_grpc.FooBarServicer, 'Get'))\n"
    )
    imported = subprocess.run(
        [sys.executable, "-c", check], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert (imported.returncode, imported.stdout) == (0, "3 True\n"), imported.stderr


def test_user_config_alone_prints_the_v3_summary() -> None:
    ok(run_micro("user", "config", "set", "git.baseurl", "github.com/acme"))
    assert ok(run_micro("user", "config")) == (
        "user: \nnamespace: micro\nenvironment: local\ngit.baseurl: github.com/acme\n"
    )


# --- against a real server -----------------------------------------------------------------------


def test_user_config_names_the_logged_in_account(micro: Runner) -> None:
    assert ok(micro("user", "config")).splitlines()[0] == "user: admin"


def test_values_that_start_with_a_dash_need_no_double_dash(micro: Runner) -> None:
    ok(micro("config", "set", "v3.neg", "-5"))
    assert ok(micro("config", "get", "v3.neg")) == "-5\n"
    ok(micro("store", "write", "v3-dash", "-5", "-e", "1h"))
    ok(micro("store", "write", "v3-words", "-x", "-y", "z"))
    assert ok(micro("store", "read", "v3-dash")) == "-5\n"
    assert ok(micro("store", "read", "v3-words")) == "-x -y z\n"
    assert ok(micro("store", "read", "-v", "v3-dash")).splitlines()[1].split()[:2] == ["v3-dash", "-5"]
    # an option the command does not have, spelled as one, is still a mistake
    assert refused(micro("store", "write", "v3-dash", "--nosuch")) == "No such option: --nosuch"


def test_store_write_prints_the_new_version_for_compare_and_set(micro: Runner) -> None:
    first = json.loads(ok(micro("store", "write", "v3-cas", "a", "--version", "0", "--output", "json")))
    assert first["key"] == "v3-cas"
    second = json.loads(
        ok(micro("store", "write", "v3-cas", "b", "--version", first["version"], "--output", "json"))
    )
    assert int(second["version"]) > int(first["version"])
    stale = micro("store", "write", "v3-cas", "c", "--version", first["version"])
    assert stale.returncode == 1 and stale.stdout == ""
    assert ok(micro("store", "write", "v3-cas", "d")) == ""  # text output: nothing, as before
    for too_big in ("18446744073709551615", "18446744073709551616"):
        line = refused(micro("store", "write", "v3-cas", "e", "--version", too_big))
        assert too_big in line and not line.startswith(("OverflowError", "ValueError")), line
    assert ok(micro("store", "read", "v3-cas")) == "d\n"


def test_config_set_null_is_no_value(micro: Runner) -> None:
    ok(micro("config", "set", "v3.nul", "1"))
    ok(micro("config", "set", "v3.nul", "null"))
    assert refused(micro("config", "get", "v3.nul")) == "Not found"


def test_auth_forms(micro: Runner) -> None:
    bad = micro("auth", "create", "rule", "v3-rule", "--resource", "service:a:b:c")
    assert refused(bad) == "Invalid resource, must be in the format type:name:endpoint"
    huge = refused(
        micro("auth", "create", "rule", "v3-rule", "--resource", "service:a:*", "--priority", "99999999999")
    )
    assert huge == "Invalid value for '--priority': 99999999999 is larger than the maximum 2147483647."
    assert "v3-rule" not in ok(micro("auth", "list", "rules"))

    created = ok(micro("auth", "create", "account", "v3-bare", "--secret", "s3cret-v3"))
    assert "s3cret-v3" in created  # shown once, when created
    listing = ok(micro("auth", "list", "accounts"))
    [row] = [line.split() for line in listing.splitlines() if line.startswith("v3-bare ")]
    assert row == ["v3-bare", "n/a", "n/a", "n/a"]
    as_json = json.loads(ok(micro("auth", "list", "accounts", "--output", "json")))
    assert as_json and all("secret" not in account for account in as_json)
    assert "s3cret-v3" not in listing + json.dumps(as_json)
    assert ok(micro("auth", "delete", "account", "v3-bare")) == ""
    assert "v3-bare" not in ok(micro("auth", "list", "accounts"))


def test_a_failed_login_ends_the_previous_login(shared_server: MicroServer) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_micro(*args, address=shared_server.address)  # no MICRO_TOKEN: the stored login

    ok(cli("login", "--username", "admin", "--password", "micro"))
    assert ok(cli("user")) == "admin\n"
    failed = cli("login", "--username", "admin", "--password", "wrong")
    assert failed.returncode == 2
    assert refused(cli("user")) == "You are not logged in"
    # a login that cannot reach the server ends the local login all the same
    ok(cli("login", "--username", "admin", "--password", "micro"))
    dead = f"127.0.0.1:{free_port()}"
    unreachable = run_micro("login", "--username", "admin", "--password", "micro", address=dead)
    assert refused(unreachable, 4) == f"Failed to connect to micro server at {dead}"
    assert refused(cli("user")) == "You are not logged in"


def test_stats_fails_when_a_node_does_not_answer_and_call_names_the_node(micro: Runner) -> None:
    assert ok(micro("stats", "store")).startswith("NODE")
    dead = f"127.0.0.1:{free_port()}"
    ghost = {"name": "v3-ghost", "version": "1", "nodes": [{"id": "v3-ghost-1", "address": dead}]}
    ok(micro("call", "registry", "Registry.Register", json.dumps(ghost)))
    result = micro("stats", "v3-ghost")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[1].split() == ["v3-ghost-1", dead, "unreachable"]
    assert micro("stats", "v3-ghost", "--output", "json").returncode == 1
    for command in ("call", "stream"):
        result = micro(command, "store", "Store.Databases", "--address", dead)
        assert refused(result, 4) == f"Failed to connect to node {dead}", command
