"""``micro config`` through the real CLI against a real ``micro server``."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.conftest import MICRO, MicroServer, Runner, close_pipes, one_line, run_micro

RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"


def test_set_get_del(micro: Runner) -> None:
    assert micro("config", "set", "somekey", "val1").stdout == ""
    got = micro("config", "get", "somekey")
    assert (got.returncode, got.stdout) == (0, "val1\n")
    deleted = micro("config", "del", "somekey")
    assert (deleted.returncode, deleted.stdout) == (0, "")
    missing = micro("config", "get", "somekey")
    assert missing.returncode == 1
    assert one_line(missing.stderr) == "Not found"
    assert missing.stdout == ""


def test_dotted_paths_and_merge(micro: Runner) -> None:
    micro("config", "set", "merge", '{"a":1}')
    micro("config", "set", "merge", '{"b":2}')
    assert micro("config", "get", "merge").stdout == '{"a":1,"b":2}\n'
    micro("config", "set", "merge.c.d", "deep")
    micro("config", "set", "merge", '{"c":{"e":3}}')
    assert json.loads(micro("config", "get", "merge").stdout) == {"a": 1, "b": 2, "c": {"d": "deep", "e": 3}}
    assert micro("config", "get", "merge.c.d").stdout == "deep\n"
    assert micro("config", "get", "merge.a").stdout == "1\n"


def test_scalar_and_map_replace_each_other(micro: Runner) -> None:
    micro("config", "set", "flip", "scalar")
    micro("config", "set", "flip.sub", "true")
    assert micro("config", "get", "flip").stdout == '{"sub":true}\n'
    micro("config", "set", "flip", "3")
    assert micro("config", "get", "flip").stdout == "3\n"


def test_value_with_angle_brackets_reads_back_unescaped(micro: Runner) -> None:
    micro("config", "set", "signs", '"Value with <> signs"')
    assert micro("config", "get", "signs").stdout == "Value with <> signs\n"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_values_json_cannot_carry_stay_text(micro: Runner, text: str) -> None:
    """``config set x NaN`` stored a NaN: ``--output json`` then printed invalid JSON."""
    assert micro("config", "set", "notjson", "--", text).returncode == 0
    assert micro("config", "get", "notjson").stdout == f"{text}\n"
    assert json.loads(micro("config", "get", "notjson", "--output", "json").stdout) == text
    assert json.loads(micro("--output", "json", "config", "get", "").stdout)["notjson"] == text


def test_a_value_nested_too_deeply_is_one_line(micro: Runner) -> None:
    """Thousands of levels overflowed the CLI's JSON parser: a RecursionError, exit 127."""
    for value in ('{"a":' * 5000 + "1" + "}" * 5000, '{"a":' * 100 + "1" + "}" * 100):
        result = micro("config", "set", "deep", value)
        assert (result.returncode, one_line(result.stderr)) == (
            1,
            "Value nested too deeply (limit 64 levels)",
        )
    assert micro("config", "get", "deep").returncode == 1


def test_secret_is_masked_unless_asked(micro: Runner) -> None:
    assert micro("config", "set", "--secret", "db.password", "hunter2").stdout == ""
    assert micro("config", "get", "db.password").stdout == "[secret]\n"
    assert micro("config", "get", "db.password", "-s").stdout == "hunter2\n"


def test_acknowledged_sets_and_secrets_survive_kill_9(start_server: Callable[..., MicroServer]) -> None:
    first = start_server()
    assert run_micro("config", "set", "durable", '{"a":1}', server=first).returncode == 0
    assert run_micro("config", "set", "-s", "durable.pw", "s3cret", server=first).returncode == 0
    key_file = first.home / "server" / "config.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    first.kill9()
    second = start_server(home=first.home)
    assert run_micro("config", "get", "durable", server=second).stdout == '{"a":1,"pw":"[secret]"}\n'
    assert run_micro("config", "get", "durable.pw", "--secret", server=second).stdout == "s3cret\n"


def test_namespaces_are_isolated(micro: Runner) -> None:
    micro("--namespace", "micro", "config", "set", "nskey", "mine")
    other = micro("--namespace", "other", "config", "get", "nskey")
    if other.returncode != 0 and "Not found" not in other.stderr:
        pytest.skip(f"the admin cannot reach namespace other here: {other.stderr.strip()}")
    assert other.returncode == 1
    assert one_line(other.stderr) == "Not found"


def test_unknown_subcommand(micro: Runner) -> None:
    result = micro("config", "nosuch")
    assert result.returncode == 1
    assert one_line(result.stderr) == (
        "Unrecognized subcommand for micro config: nosuch. Please refer to 'micro config --help'"
    )


def test_invalid_path_is_one_line(micro: Runner) -> None:
    result = micro("config", "set", "a..b", "1")
    assert result.returncode == 1
    assert "empty key" in one_line(result.stderr)


class Watch:
    """``micro config watch`` as a subprocess whose lines arrive on a queue."""

    def __init__(self, server: MicroServer, *args: str) -> None:
        env = {**os.environ, "MICRO_PROXY": server.address}
        token = server.token()
        if token:
            env["MICRO_TOKEN"] = token
        self.json = "json" in args
        self.proc = subprocess.Popen(
            [MICRO, "config", "watch", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.probe_value = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, timeout: float = 10.0) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("micro config watch printed nothing in time")

    def parse(self, line: str) -> tuple[str, Any]:
        """The path and value of one printed change."""
        if self.json:
            change = json.loads(line)
            return change["path"], change["value"]
        _, path, value = line.split(" ", 2)
        return path, json.loads(value)

    def ready(self, micro: Runner, probe: str) -> None:
        """Set ``probe`` until the watch prints it; every later change is then seen."""
        deadline = time.monotonic() + 20
        last: Any = None
        while last is None:
            assert time.monotonic() < deadline, "the watch never started"
            self.probe_value += 1
            micro("config", "set", probe, str(self.probe_value))
            try:
                path, value = self.parse(self.lines.get(timeout=0.2 * min(self.probe_value, 5)))
            except queue.Empty:
                continue
            last = value if path == probe else None
        while last != self.probe_value:  # drain the probes still on their way
            path, value = self.parse(self.next_line())
            last = value if path == probe else last

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: the exit code and what it printed on stderr."""
        self.proc.send_signal(signal.SIGINT)
        try:
            _, stderr = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return self.proc.returncode, stderr


@pytest.fixture
def watch(shared_server: MicroServer) -> Iterator[Callable[..., Watch]]:
    started: list[Watch] = []

    def start(*args: str) -> Watch:
        w = Watch(shared_server, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(5)
        close_pipes(w.proc, w.reader)


def test_watch_prints_changes_as_they_happen(micro: Runner, watch: Callable[..., Watch]) -> None:
    w = watch("wkey")
    w.ready(micro, "wkey.probe")
    micro("config", "set", "wkey.a", "1")
    assert re.fullmatch(rf"{RFC3339} wkey\.a 1", w.next_line())
    micro("config", "set", "unwatched", "1")
    micro("config", "set", "wkey", '{"b":"<x>"}')
    line = w.next_line()
    assert re.fullmatch(rf"{RFC3339} wkey \{{.*\}}", line)
    assert w.parse(line) == ("wkey", {"probe": w.probe_value, "a": 1, "b": "<x>"})
    micro("config", "set", "--secret", "wkey.pw", "hunter2")
    assert re.fullmatch(rf'{RFC3339} wkey\.pw "\[secret\]"', w.next_line())
    missing = micro("config", "del", "wkey.nosuch")  # changes nothing: the watch prints nothing
    assert (missing.returncode, missing.stdout, missing.stderr) == (0, "", "")
    micro("config", "del", "wkey")
    assert re.fullmatch(rf"{RFC3339} wkey null", w.next_line())
    code, stderr = w.interrupt()
    assert code == 0
    assert stderr == ""


def test_watch_output_json_is_ndjson(micro: Runner, watch: Callable[..., Watch]) -> None:
    w = watch("jkey", "--output", "json")
    w.ready(micro, "jkey.probe")
    micro("config", "del", "jkey.probe")
    change = json.loads(w.next_line())
    assert change["path"] == "jkey.probe"
    assert change["value"] is None
    assert change["deleted"] is True
    assert re.fullmatch(RFC3339, change["time"])
    code, _ = w.interrupt()
    assert code == 0
