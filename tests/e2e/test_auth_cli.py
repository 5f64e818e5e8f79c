"""Issue 3 through the real CLI against real ``micro server`` subprocesses: login and the
keyring, lockdown, passwords, names, namespaces, refresh, and the security items."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests._credentials import expire_access_token
from tests.e2e.conftest import MICRO, MicroServer, one_line, run_micro

Cli = Callable[..., "subprocess.CompletedProcess[str]"]


def launch(home: Path, **env: str) -> MicroServer:
    """``micro server`` on ``home`` with extra ``MICRO_*`` settings."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    full.update(MICRO_HOME=str(home), GRPC_VERBOSITY="NONE", NO_COLOR="1", **env)
    proc = subprocess.Popen(
        [MICRO, "server", "--address", "127.0.0.1:0"],
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = MicroServer(home=home, proc=proc)
    server.drain()
    server.wait_listening()
    return server


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicroServer]:
    server = launch(tmp_path_factory.mktemp("auth-server"))
    yield server
    server.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[..., MicroServer]]:
    started: list[MicroServer] = []

    def start(**env: str) -> MicroServer:
        started.append(launch(tmp_path / f"server{len(started)}", **env))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def cli_for(server: MicroServer) -> Cli:
    """The CLI as a user of ``server`` (the test's own MICRO_HOME and keyring)."""

    def call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_micro(*args, address=server.address, env=env)

    return call


@pytest.fixture
def cli(auth_server: MicroServer) -> Cli:
    return cli_for(auth_server)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def login(cli: Cli, user: str = "admin", password: str = "micro", *extra: str) -> None:
    assert ok(cli(*extra, "login", "--username", user, "--password", password)) == "Successfully logged in.\n"


def fails(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert text in one_line(result.stderr)


# -- 1, 2, 3: login, the keyring, logged-out calls, listings ----------------------------------


def test_login_user_token_logout_with_the_keyring(cli: Cli, tmp_path: Path, micro_home: Path) -> None:
    fails(cli("store", "list"), 2, "Not authorized to perform this request: ")
    login(cli)
    assert ok(cli("user")) == "admin\n"
    token = ok(cli("user", "token")).strip()
    assert token.count(".") == 2 and jwt.get_unverified_header(token)["alg"] == "EdDSA"
    tokens = micro_home / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    keyring_files = list((tmp_path / "xdg-data").rglob("*.cfg"))
    assert keyring_files and "local_2fmicro" in keyring_files[0].read_text()  # PlaintextKeyring escapes /
    assert not (micro_home / "credentials.json").exists()  # the keyring held the refresh token
    ok(cli("store", "write", "k1", "v1"))
    assert ok(cli("store", "read", "k1")) == "v1\n"
    assert ok(cli("logout")) == ""
    fails(cli("user"), 1, "You are not logged in")


def test_file_fallback_without_a_keyring_and_micro_token_override(cli: Cli, micro_home: Path) -> None:
    no_keyring = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    assert ok(cli("login", "--username", "admin", "--password", "micro", env=no_keyring))
    fallback = micro_home / "credentials.json"
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o600
    assert "local/micro" in json.loads(fallback.read_text())
    assert ok(cli("store", "list", env=no_keyring)) is not None
    token = ok(cli("user", "token", env=no_keyring)).strip()
    ok(cli("logout", env=no_keyring))
    assert ok(cli("user", env={"MICRO_TOKEN": token})) == "admin\n"
    ok(cli("store", "write", "via-env", "x", env={"MICRO_TOKEN": token}))
    # a stale MICRO_TOKEN does not block logging in (it was sent with Auth.Token: 'invalid token')
    stale = {**no_keyring, "MICRO_TOKEN": "stale"}
    assert ok(cli("login", "--username", "admin", "--password", "micro", env=stale))
    assert ok(cli("user", env=no_keyring)) == "admin\n"


def test_accounts_rules_and_token_call(cli: Cli) -> None:
    login(cli)
    accounts = ok(cli("auth", "list", "accounts")).splitlines()
    assert accounts[0].split() == ["ID", "Name", "Scopes", "Metadata"]
    assert any(line.split()[0] == "admin" for line in accounts[1:])
    rules = ok(cli("auth", "list", "rules")).splitlines()
    assert rules[0].split() == ["ID", "Scope", "Access", "Resource", "Priority"]
    assert ["default", "<public>", "granted", "*:*:*", "0"] in [r.split() for r in rules]
    reply = json.loads(ok(cli("call", "auth", "Auth.Token", '{"id":"admin","secret":"micro"}')))
    assert reply["token"]["access_token"] and reply["token"]["refresh_token"]
    assert isinstance(reply["token"]["expiry"], str) and int(reply["token"]["expiry"]) > time.time()


def test_who_am_i_reads_take_output_json(cli: Cli) -> None:
    """``micro user`` and ``micro namespace`` are reads: ``--output json`` after the command
    was 'No such option', and the global one was ignored."""
    login(cli)
    me = {"id": "admin", "type": "user", "issuer": "micro", "name": "", "scopes": ["admin"]}
    assert json.loads(ok(cli("user", "--output", "json"))) == me
    assert json.loads(ok(cli("--output", "json", "user"))) == me
    assert json.loads(ok(cli("namespace", "--output", "json"))) == {"name": "micro"}
    assert json.loads(ok(cli("--output", "json", "user", "namespace"))) == {"name": "micro"}
    for args in (("auth", "list", "rules"), ("auth", "list", "accounts"), ("namespace", "list")):
        fails(cli(*args, "--output", "yaml"), 1, "Invalid value for '--output': 'yaml'")
        assert isinstance(json.loads(ok(cli(*args, "--output", "json"))), list)


def test_bad_rule_input_is_one_line(cli: Cli) -> None:
    login(cli)
    fails(
        cli("auth", "create", "rule", "x", "--resource", "foo"), 1, "Invalid resource, must be in the format"
    )
    fails(cli("auth", "create", "rule", "x", "--resource", "a:b:c", "--access", "maybe"), 1, "maybe")
    ok(cli("auth", "create", "rule", "dup", "--resource", "service:nosuch:*", "--scope", "admin"))
    fails(cli("auth", "create", "rule", "dup", "--resource", "a:b:c"), 1, "Rule dup already exists")
    ok(cli("auth", "delete", "rule", "dup"))
    # the scope as the listing shows it is the public scope, not a scope named "<public>"
    ok(cli("auth", "create", "rule", "pub", "--resource", "service:nosuch:*", "--scope", "<public>"))
    rules = json.loads(ok(cli("auth", "list", "rules", "--output", "json")))
    assert [r["scope"] for r in rules if r["id"] == "pub"] == [""]
    ok(cli("auth", "delete", "rule", "pub"))


def test_prompts_read_stdin_without_a_terminal(auth_server: MicroServer) -> None:
    """With no terminal a missing value is one line of stdin (``echo pw | micro login``);
    nothing there is one line on stderr, exit 1, never a prompt waiting; a namespace is
    deleted without a terminal only with ``--yes``."""

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_micro(*args, address=auth_server.address, input=input)

    result = run("login", "--username", "admin")
    assert (result.returncode, one_line(result.stderr), result.stdout) == (
        1,
        "Missing --password (no terminal to ask)",
        "",
    )
    assert one_line(run("login").stderr) == "Missing --username (no terminal to ask)"
    assert ok(run("login", "--username", "admin", input="micro\n")) == "Successfully logged in.\n"
    assert ok(run("login", input="admin\nmicro\n")) == "Successfully logged in.\n"
    assert one_line(run("user", "set", "password").stderr) == "Missing --old-password (no terminal to ask)"

    ok(run("namespace", "create", "doomed"))
    result = run("namespace", "delete", "doomed")
    assert (result.returncode, one_line(result.stderr), result.stdout) == (
        1,
        "Refusing to delete namespace doomed without --yes (no terminal to ask)",
        "",
    )
    assert "doomed" in ok(run("namespace", "list")).split()
    ok(run("namespace", "delete", "doomed", "--yes"))
    assert "doomed" not in ok(run("namespace", "list")).split()


# -- 4: lockdown ------------------------------------------------------------------------------


def test_lockdown(own_server: Callable[..., MicroServer]) -> None:
    cli = cli_for(own_server())
    login(cli)
    created = ok(cli("auth", "create", "account", "--secret", "mystrongpass", "me@email.com"))
    assert created.startswith("Account created: ") and '"secret":"mystrongpass"' in created
    assert ok(
        cli("auth", "create", "rule", "--access=granted", "--scope=*", "--resource=*:*:*", "onlyloggedin")
    )
    ok(cli("auth", "create", "rule", "--access=granted", "--resource=service:auth:Auth.Token", "authpublic"))
    assert ok(cli("auth", "delete", "rule", "default")) == "Rule deleted\n"
    assert ok(cli("auth", "delete", "rule", "default")) == "Rule deleted\n"  # idempotent
    ok(cli("logout"))
    fails(cli("auth", "list", "rules"), 2, "Not authorized to perform this request")
    login(cli, "me@email.com", "mystrongpass")
    ids = [line.split()[0] for line in ok(cli("auth", "list", "rules")).splitlines()[1:]]
    assert sorted(ids) == ["authpublic", "onlyloggedin"]


# -- 5, 6: passwords and names ----------------------------------------------------------------


def test_change_password(cli: Cli) -> None:
    login(cli)
    ok(cli("auth", "create", "account", "pwuser", "--secret", "first"))
    login(cli, "pwuser", "first")
    fails(cli("user", "set", "password", "--old-password", "wrong", "--new-password", "x"), 1, "old secret")
    ok(cli("user", "set", "password", "--old-password", "first", "--new-password", "second"))
    fails(cli("login", "--username", "pwuser", "--password", "first"), 2, "invalid credentials")
    login(cli, "pwuser", "second")


def test_read_only_env_refuses_a_password_change(cli: Cli, auth_server: MicroServer) -> None:
    """``user set password`` changed the password through a read-only env."""
    login(cli)
    ok(cli("auth", "create", "account", "ropw", "--secret", "first"))
    ok(run_micro("env", "add", "ro", auth_server.address, "--read-only"))
    login(run_micro, "ropw", "first", "-e", "ro")
    change = ("-e", "ro", "user", "set", "password", "--old-password", "first", "--new-password", "x")
    fails(run_micro(*change), 1, "Environment 'ro' is read-only")
    login(run_micro, "ropw", "first", "-e", "ro")


def test_login_by_id_or_name_and_unique_names(cli: Cli) -> None:
    login(cli)
    ok(cli("auth", "create", "account", "someID", "--name", "someUsername", "--secret", "password"))
    fails(cli("auth", "create", "account", "other", "--name", "someUsername"), 1, "already exists")
    fails(cli("auth", "create", "account", "someID"), 1, "already exists")
    login(cli, "someUsername", "password")
    assert ok(cli("user")) == "someUsername\n"
    login(cli, "someID", "password")
    assert ok(cli("login", "--email", "someID", "--password", "password"))


# -- 7: namespaces ----------------------------------------------------------------------------


def test_namespaces_isolate_store_and_registry(cli: Cli, micro_home: Path) -> None:
    login(cli)
    ok(cli("namespace", "create", "random"))
    ok(cli("auth", "create", "account", "--secret=micro", "--namespace=random", "--scopes=admin", "admin"))
    ok(cli("store", "write", "inmicro", "m"))
    ok(cli("namespace", "set", "random"))
    assert ok(cli("namespace")) == "random\n"
    login(cli)  # admin/micro of namespace random
    ok(cli("store", "write", "inrandom", "r"))
    fails(cli("store", "read", "inmicro"), 1, "Not found")
    assert ok(cli("store", "read", "inrandom")) == "r\n"
    listed = ok(cli("namespace", "list")).splitlines()
    assert "* random" in listed and "  micro" in listed
    ok(cli("namespace", "set", "micro"))
    fails(cli("store", "read", "inrandom"), 1, "Not found")
    # the default admin exists only in micro
    fails(cli("--namespace", "nosuchns", "login", "--username", "admin", "--password", "micro"), 2, "invalid")
    assert "* micro" in ok(cli("user", "namespace", "list")).splitlines()


@pytest.mark.parametrize("name", ["Foo", "a_b", "_auth", "a/b", "x.y", "x" * 64])
def test_namespace_set_refuses_a_name_the_server_would_refuse(name: str) -> None:
    """``namespace set Foo`` was accepted, after which every command failed."""
    result = run_micro("namespace", "set", name, address="127.0.0.1:1")
    fails(result, 1, f"Invalid namespace {name!r}: lower-case letters, digits and dashes")
    assert ok(run_micro("namespace", address="127.0.0.1:1")) == "micro\n"
    ok(run_micro("namespace", "set", "team-2", address="127.0.0.1:1"))
    assert ok(run_micro("namespace", address="127.0.0.1:1")) == "team-2\n"


def test_delete_own_account_fails(cli: Cli) -> None:
    login(cli)
    fails(cli("auth", "delete", "account", "admin"), 1, "Cannot delete your own account")


# -- 8: refresh, corruption, revocation -------------------------------------------------------


def test_expired_access_token_refreshes_silently(cli: Cli, micro_home: Path) -> None:
    login(cli)
    first = expire_access_token(micro_home)
    ok(cli("store", "write", "after", "expiry"))
    assert ok(cli("store", "read", "after")) == "expiry\n"
    assert json.loads((micro_home / "tokens.json").read_text())["local/micro"]["access_token"] != first


def test_corrupted_and_revoked_logins_ask_to_log_in(
    own_server: Callable[..., MicroServer], micro_home: Path, tmp_path: Path
) -> None:
    server = own_server()
    cli = cli_for(server)
    login(cli)
    (micro_home / "tokens.json").write_text("{garbage")
    fails(cli("store", "list"), 2, "run 'micro login'")
    login(cli)
    ok(cli("auth", "create", "account", "victim", "--secret", "pw"))
    victim_home = tmp_path / "victim"

    def victim(*args: str) -> subprocess.CompletedProcess[str]:
        return run_micro(*args, address=server.address, env={"MICRO_HOME": str(victim_home)})

    login(victim, "victim", "pw")
    ok(cli("auth", "delete", "account", "victim"))
    expire_access_token(victim_home)
    fails(victim("store", "list"), 2, "your login has expired or was revoked; run 'micro login'")


def test_a_login_the_server_no_longer_knows_asks_to_log_in(own_server: Callable[..., MicroServer]) -> None:
    """A server whose data was reset (a new signing key) answered a stored login with a bare
    'invalid token' and no hint, for the whole life of the access token."""
    old, new = own_server(), own_server()
    login(cli_for(old))
    cli = cli_for(new)  # the same env + namespace, now answered by a server with another key
    fails(
        cli("store", "list"),
        2,
        "Not authorized to perform this request: the server refused the stored login (invalid token);"
        " run 'micro login'",
    )
    fails(cli("store", "list"), 2, "your login has expired or was revoked; run 'micro login'")
    login(cli)
    ok(cli("store", "list"))
    fails(cli("store", "list", env={"MICRO_TOKEN": "garbage"}), 2, "request: invalid token")


# -- security ---------------------------------------------------------------------------------


def forged(server: MicroServer, *, key: object = None, alg: str = "EdDSA", exp: int = 0) -> str:
    claims = {"sub": "admin", "iss": "micro", "type": "user", "scopes": ["admin"], "name": ""}
    claims["exp"] = exp or int(time.time()) + 600
    if key is None and alg != "none":
        key = load_pem_private_key((server.home / "server" / "auth.key").read_bytes(), password=None)
    return jwt.encode(claims, key, algorithm=alg)  # type: ignore[arg-type]


def test_forged_expired_and_unsigned_tokens_are_rejected(cli: Cli, auth_server: MicroServer) -> None:
    good = forged(auth_server)
    ok(cli("store", "list", env={"MICRO_TOKEN": good}))  # the real key signs a working token
    for bad in (
        forged(auth_server, key=Ed25519PrivateKey.generate()),
        forged(auth_server, exp=int(time.time()) - 10),
        forged(auth_server, alg="none"),
        good[:-4] + "AAAA",
    ):
        fails(cli("store", "list", env={"MICRO_TOKEN": bad}), 2, "Not authorized to perform this request")


def test_namespace_tokens_never_cross(cli: Cli, auth_server: MicroServer, micro_home: Path) -> None:
    login(cli)
    for ns in ("nsa", "nsb"):
        account = ("--secret=pw", "--scopes=admin", f"--namespace={ns}", f"{ns}-admin")
        ok(cli("auth", "create", "account", *account))
    tokens = {}
    for ns in ("nsa", "nsb"):
        login(cli, f"{ns}-admin", "pw", "--namespace", ns)
        tokens[ns] = ok(cli("--namespace", ns, "user", "token")).strip()
    for mine, other in (("nsa", "nsb"), ("nsb", "nsa")):
        env = {"MICRO_TOKEN": tokens[mine]}
        ok(cli("--namespace", mine, "store", "write", "k", mine, env=env))
        ok(cli("--namespace", mine, "services", env=env))
        for args in (
            ("--namespace", other, "store", "read", "k"),
            ("--namespace", other, "store", "write", "k", "x"),
            ("--namespace", mine, "store", "read", "--database", other, "k"),
            ("--namespace", other, "services"),
        ):
            fails(cli(*args, env=env), 2, "Forbidden: access denied to namespace")
    # a micro admin may act in every namespace
    assert ok(cli("store", "read", "--database", "nsa", "k")) == "nsa\n"


def test_secrets_and_tokens_stay_out_of_logs_ps_and_key_files_are_private(
    cli: Cli, auth_server: MicroServer, micro_home: Path
) -> None:
    login(cli)
    ok(cli("auth", "create", "account", "quiet", "--secret", "s3cr3t-value"))
    login(cli, "quiet", "s3cr3t-value")
    token = ok(cli("user", "token")).strip()
    log = "".join(auth_server.stderr)
    assert "s3cr3t-value" not in log and token not in log and token.split(".")[1] not in log
    cmdline = Path(f"/proc/{auth_server.proc.pid}/cmdline").read_bytes().decode(errors="replace")
    assert "s3cr3t" not in cmdline and "micro\x00--password" not in cmdline
    for name in ("auth.key", "config.key"):
        assert stat.S_IMODE((auth_server.home / "server" / name).stat().st_mode) == 0o600


def test_a_service_account_bound_to_its_service(cli: Cli) -> None:
    """Only the account bound to a service (or an admin) registers its nodes: the binding is
    made with --service and shown with the account."""
    login(cli)
    out = ok(
        cli(
            "auth",
            "create",
            "account",
            "--type",
            "service",
            "--scopes",
            "service",
            "--service",
            "hello",
            "hello-svc",
        )
    )
    assert '"service":"hello"' in out and '"type":"service"' in out
    fails(
        cli("auth", "create", "account", "--service", "hello", "not-a-service"),
        1,
        "Only a service account can be bound to a service",
    )
    ok(cli("auth", "delete", "account", "hello-svc"))
