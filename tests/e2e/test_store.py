"""``micro store …`` through the real CLI against a real server (one per module)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.e2e.conftest import MicroServer, Runner, one_line


@pytest.fixture
def table() -> str:
    """A table of this test's own, so tests sharing the server never see each other's keys."""
    return f"t{uuid.uuid4().hex[:10]}"


def test_write_read_delete_and_not_found(micro: Runner) -> None:
    written = micro("store", "write", "somekey", "val1")
    assert (written.returncode, written.stdout, written.stderr) == (0, "", "")
    read = micro("store", "read", "somekey")
    assert (read.returncode, read.stdout) == (0, "val1\n")
    deleted = micro("store", "delete", "somekey")
    assert (deleted.returncode, deleted.stdout, deleted.stderr) == (0, "", "")
    missing = micro("store", "read", "somekey")
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert one_line(missing.stderr) == "Not found"


def test_value_is_the_remaining_words(micro: Runner, table: str) -> None:
    assert micro("store", "write", "-t", table, "k", "hello", "big", "world").returncode == 0
    assert micro("store", "read", "-t", table, "k").stdout == "hello big world\n"


def test_prefix_is_a_switch_and_never_implicit(micro: Runner, table: str) -> None:
    micro("store", "write", "-t", table, "somekey1", "val1")
    micro("store", "write", "-t", table, "somekey2", "val2")
    exact = micro("store", "read", "-t", table, "somekey")
    assert exact.returncode == 1 and one_line(exact.stderr) == "Not found"
    prefixed = micro("store", "read", "-t", table, "--prefix", "somekey")
    assert (prefixed.returncode, prefixed.stdout) == (0, "val1\nval2\n")
    nothing = micro("store", "read", "-t", table, "-p", "nomatch")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, "", "")


def test_verbose_read_is_a_key_value_expiry_table(micro: Runner, table: str) -> None:
    micro("store", "write", "-t", table, "a1", "one")
    micro("store", "write", "-t", table, "-e", "1h", "a2", "two")
    result = micro("store", "read", "-t", table, "-p", "a", "-v")
    assert result.returncode == 0
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["KEY", "VALUE", "EXPIRY"]
    assert lines[1] == ["a1", "one", "None"]
    assert lines[2][:2] == ["a2", "two"]
    assert lines[2][2].startswith(("59m", "1h"))


def test_list_limit_offset_order_and_suffix(micro: Runner, table: str) -> None:
    for key in ("k1", "k2", "k3", "x3"):
        assert micro("store", "write", "-t", table, key, f"v-{key}").returncode == 0
    assert micro("store", "list", "-t", table).stdout.split() == ["k1", "k2", "k3", "x3"]
    assert micro("store", "list", "-t", table, "k").stdout.split() == ["k1", "k2", "k3"]
    assert micro("store", "list", "-t", table, "k", "-p").stdout.split() == ["k1", "k2", "k3"]
    assert micro("store", "list", "-t", table, "--limit", "2").stdout.split() == ["k1", "k2"]
    assert micro("store", "list", "-t", table, "-l", "2", "-o", "1").stdout.split() == ["k2", "k3"]
    assert micro("store", "list", "-t", table, "--order", "desc").stdout.split() == ["x3", "k3", "k2", "k1"]
    read = micro("store", "read", "-t", table, "-p", "k", "--offset", "1", "--limit", "1")
    assert read.stdout == "v-k2\n"
    desc = micro("store", "read", "-t", table, "-p", "k", "--order", "desc")
    assert desc.stdout.split() == ["v-k3", "v-k2", "v-k1"]
    suffix = micro("store", "read", "-t", table, "--suffix", "3")
    assert suffix.stdout.split() == ["v-k3", "v-x3"]
    both = micro("store", "read", "-t", table, "-p", "-s", "k3")
    assert both.stdout.split() == ["v-k3"]


def test_tables_keep_records_apart(micro: Runner, table: str) -> None:
    micro("store", "write", "-t", table, "shared", "in-table")
    micro("store", "write", "shared-default", "in-default")
    assert micro("store", "read", "-t", table, "shared").stdout == "in-table\n"
    other = micro("store", "read", "-t", table, "shared-default")
    assert other.returncode == 1 and one_line(other.stderr) == "Not found"


def test_json_output(micro: Runner, table: str) -> None:
    micro("store", "write", "-t", table, "j1", "text value")
    micro("store", "write", "-t", table, "j2", "two")
    result = micro("store", "read", "-t", table, "-p", "j", "--output", "json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data == [
        {"key": "j1", "value": "text value", "expiry": "0", "metadata": {}, "version": "1"},
        {"key": "j2", "value": "two", "expiry": "0", "metadata": {}, "version": "1"},
    ]
    assert result.stdout.startswith("[\n  {")  # 2-space indent
    global_flag = micro("--output", "json", "store", "list", "-t", table)
    assert json.loads(global_flag.stdout) == ["j1", "j2"]


def test_expiry_lapses_in_read_and_list(micro: Runner, table: str) -> None:
    # long enough to read it back on a loaded machine, where one CLI run can take a second
    assert micro("store", "write", "-t", table, "--expiry", "4s", "k", "v").returncode == 0
    first = micro("store", "read", "-t", table, "k")
    assert (first.returncode, first.stdout) == (0, "v\n")
    micro("store", "write", "-t", table, "stays", "v")
    deadline = time.monotonic() + 15
    while True:
        read = micro("store", "read", "-t", table, "k")
        listed = micro("store", "list", "-t", table).stdout.split()
        if read.returncode == 1 and "k" not in listed:
            break
        assert time.monotonic() < deadline, "the record never expired"
    assert one_line(read.stderr) == "Not found"
    assert listed == ["stays"]


def test_databases_and_tables(micro: Runner, table: str) -> None:
    micro("store", "write", "-t", table, "k", "v")
    tables = micro("store", "tables")
    assert tables.returncode == 0
    assert table in tables.stdout.split()
    assert micro("store", "tables", "-d", "micro").stdout == tables.stdout
    databases = micro("store", "databases")
    # a database is a namespace's, and every test of this module keeps to the default one
    assert (databases.returncode, databases.stdout) == (0, "micro\n")


def test_the_servers_internal_tables_are_hidden_and_refused(micro: Runner, table: str) -> None:
    # config keeps each namespace's document (secrets sealed with this server's key) in _config
    assert micro("config", "set", "--secret", "internal.pw", "hidden").returncode == 0
    micro("store", "write", "-t", table, "k", "v")
    listed = micro("store", "tables").stdout.split()
    assert table in listed and not [t for t in listed if t.startswith("_")]
    forbidden = "Forbidden: tables starting with _ are internal to the server"
    for args in (
        ["read", "-t", "_config", "document"],
        ["read", "-t", "_config", "-p", ""],
        ["list", "-t", "_config"],
        ["write", "-t", "_config", "document", "{}"],
        ["delete", "-t", "_config", "document"],
        ["write", "-t", "_mine", "k", "v"],
    ):
        result = micro("store", *args)
        assert (result.returncode, result.stdout, one_line(result.stderr)) == (2, "", forbidden), args
    assert micro("config", "get", "--secret", "internal.pw").stdout == "hidden\n"


def test_stale_version_is_a_conflict(micro: Runner, table: str) -> None:
    assert micro("store", "write", "-t", table, "--version", "0", "v", "first").returncode == 0
    again = micro("store", "write", "-t", table, "--version", "0", "v", "again")
    assert again.returncode == 1
    one_line(again.stderr)
    assert micro("store", "write", "-t", table, "--version", "1", "v", "second").returncode == 0
    stale = micro("store", "write", "-t", table, "--version", "1", "v", "stale")
    assert stale.returncode == 1
    one_line(stale.stderr)
    assert micro("store", "read", "-t", table, "v").stdout == "second\n"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--expiry", "soon", "k", "v"], "Invalid expiry: soon"),
        (["", "v"], "Key cannot be empty"),
        (["k", b"\xff\xfe"], "Value is not valid UTF-8"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    micro: Runner, table: str, args: list[str | bytes], line: str
) -> None:
    result = micro("store", "write", "-t", table, *args)
    assert result.returncode == 1
    assert one_line(result.stderr) == line
    assert micro("store", "write", "-t", table, "after", "ok").returncode == 0


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["write", "-e", "99999999999999999999d", "k", "v"], "Invalid expiry: 99999999999999999999d"),
        (["write", "-e", "106752d", "k", "v"], "Invalid expiry: 106752d"),  # Go's limit: 292 years
        (["list", "-l", "5000000000"], "Invalid value for '-l' / '--limit': 5000000000 is larger"),
        (["read", "-p", "k", "-o", "5000000000"], "Invalid value for '-o' / '--offset': 5000000000 is"),
        (["write", "--version", "99999999999999999999", "k", "v"], "Invalid value for '--version'"),
    ],
)
def test_numbers_the_wire_cannot_carry_are_usage_errors(micro: Runner, args: list[str], line: str) -> None:
    # they were a ValueError from protobuf, printed as such with exit 127
    result = micro("store", *args)
    assert result.returncode == 1
    assert one_line(result.stderr).startswith(line)


def test_oversized_value_is_refused_and_the_server_keeps_serving(
    micro: Runner, table: str, shared_server: MicroServer
) -> None:
    # one argument may not exceed 128 KiB on Linux: 11 words of 100 KiB make 1.1 MB
    words = ["x" * 100_000] * 11
    result = micro("store", "write", "-t", table, "big", *words)
    assert result.returncode == 1
    one_line(result.stderr)
    assert shared_server.proc.poll() is None
    assert micro("store", "read", "-t", table, "big").returncode == 1
    assert micro("store", "write", "-t", table, "small", "ok").returncode == 0
    assert micro("store", "read", "-t", table, "small").stdout == "ok\n"


def test_usage_errors_exit_1_with_one_line(micro: Runner) -> None:
    missing = micro("store", "read")
    assert missing.returncode == 1
    assert "Missing argument" in one_line(missing.stderr)
    bad_flag = micro("store", "list", "--nosuch")
    assert bad_flag.returncode == 1
    assert "--nosuch" in one_line(bad_flag.stderr)
