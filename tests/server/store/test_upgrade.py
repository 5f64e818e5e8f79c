"""Today's ``micro server`` on the files a 0.1.0 server left in MICRO_HOME finds everything:
records of every database and table, config with its secrets, accounts that log in."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import MICRO, MicroServer, launch_server, one_line, run_micro

RELEASE_0_1 = Path(__file__).parent.parent / "fixtures" / "release-0.1.0"


def _home_of_0_1(home: Path) -> Path:
    """``home`` with the 0.1.0 server's files (git does not keep their 0600 mode)."""
    data = home / "server"
    data.mkdir(parents=True, mode=0o700)
    for name in ("store.db", "config.key", "auth.key"):
        shutil.copyfile(RELEASE_0_1 / name, data / name)
        os.chmod(data / name, 0o600)
    return data


@pytest.fixture
def upgraded(micro_home: Path) -> Iterator[MicroServer]:
    _home_of_0_1(micro_home)
    server = launch_server(micro_home)
    try:
        yield server
    finally:
        server.stop()


def test_a_0_1_0_home_keeps_its_records_config_secrets_and_accounts(
    upgraded: MicroServer, tmp_path: Path
) -> None:
    from server.store._schema import VERSION

    data = upgraded.home / "server"
    assert f"migrated the store {data / 'store.db'} from schema version 0 to {VERSION}\n" in upgraded.stderr
    assert upgraded.token() is not None, "the admin login of 0.1.0 failed"

    def micro(*args: str, **kwargs: object) -> str:
        result = run_micro(*args, server=upgraded, **kwargs)  # type: ignore[arg-type]
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert micro("store", "read", "greeting") == "hello world\n"
    assert micro("store", "list", "-t", "users") == "alice\nbob\n"
    assert micro("store", "read", "-t", "config", "mine") == "kept\n"
    assert micro("store", "tables") == "config\nmicro\nusers\n"  # config's document is internal now
    assert micro("store", "list", "-t", "config") == "mine\n"
    assert micro("store", "read", "-d", "acme", "-t", "orders", "o-1") == "widget\n"
    assert json.loads(micro("config", "get", "db")) == {"host": "db.local", "password": "[secret]"}
    assert micro("config", "get", "--secret", "db.password") == "s3cret\n"

    # alice of namespace acme logs in with her 0.1.0 secret and reads acme's secret
    alice = {"MICRO_HOME": str(tmp_path / "alice"), "MICRO_PROXY": upgraded.address}
    login = run_micro(
        "--namespace", "acme", "login", "--username", "alice", "--password", "alice-pw", env=alice
    )
    assert login.returncode == 0, login.stderr
    token = run_micro("--namespace", "acme", "config", "get", "--secret", "api.token", env=alice)
    assert (token.returncode, token.stdout) == (0, "t0ken\n"), token.stderr

    upgraded.stop()
    with sqlite3.connect(data / "store.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION


def test_a_store_from_a_newer_micro_is_refused_in_one_line(micro_home: Path) -> None:
    data = _home_of_0_1(micro_home)
    with sqlite3.connect(data / "store.db") as db:
        db.execute("PRAGMA user_version = 999")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env.update(MICRO_HOME=str(micro_home), GRPC_VERBOSITY="NONE", NO_COLOR="1")
    result = subprocess.run(
        [MICRO, "server", "--address", "127.0.0.1:0"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    from server.store._schema import VERSION

    assert (result.returncode, one_line(result.stderr)) == (
        1,
        f"The store {data / 'store.db'} has schema version 999, newer than this server knows"
        f" ({VERSION}); it was written by a newer micro",
    )
