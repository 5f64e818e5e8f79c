"""``micro events`` end to end: the real CLI against a real ``micro server`` (auth on, as the
admin unless a test logs in as someone else). Topics differ per test on the shared server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests._poll import eventually_sync
from tests.e2e.conftest import MICRO, MicroServer, Runner, close_pipes, one_line, run_micro
from tests.e2e.test_deadlines import stopped_server

__all__ = ["stopped_server"]  # the fixture, used here

LINE = re.compile(r"^(\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ([0-9a-f-]{36}) (\S+) (.*)$")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def fails(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert text in one_line(result.stderr)
    assert result.stdout == ""


@dataclass
class Consumer:
    """A running ``micro events consume``: its stdout lines as they arrive."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def wait_lines(self, count: int, timeout: float = 15.0) -> list[str]:
        eventually_sync(
            lambda: len(self.lines) >= count or self.proc.poll() is not None, "lines", timeout=timeout
        )
        assert len(self.lines) >= count, (self.lines, self.proc.poll())
        return self.lines[:count]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        close_pipes(self.proc, self.reader)


@pytest.fixture
def consume(shared_server: MicroServer) -> Iterator[object]:
    started: list[Consumer] = []

    def start(*args: str) -> Consumer:
        env = {**os.environ, "MICRO_PROXY": shared_server.address}
        token = shared_server.token()
        if token:
            env["MICRO_TOKEN"] = token
        proc = subprocess.Popen(
            [MICRO, "events", "consume", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        consumer = Consumer(proc)

        def drain() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                consumer.lines.append(line.rstrip("\n"))

        consumer.reader = threading.Thread(target=drain, daemon=True)
        consumer.reader.start()
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        consumer.stop()


def seed(server: MicroServer, topic: str, payloads: list[object]) -> None:
    """Publish through the gRPC client (faster than one CLI process per event)."""
    import asyncio

    from micro.events.grpc import GrpcStream

    async def publish() -> None:
        stream = GrpcStream(server.address, token=server.token())
        try:
            for payload in payloads:
                await stream.publish(topic, json.dumps(payload).encode())
        finally:
            await stream.close()

    asyncio.run(publish())


def test_publish_read_and_topics(micro: Runner, shared_server: MicroServer) -> None:
    first = ok(micro("events", "publish", "orders", '{"id": 1}', "--metadata", "foo=bar")).strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", first)
    seed(shared_server, "orders", [{"id": i} for i in range(2, 20)])
    lines = ok(micro("events", "read", "orders", "--limit", "10", "--offset", "5")).splitlines()
    assert [int(LINE.match(line).group(1)) for line in lines] == list(range(5, 15))  # type: ignore[union-attr]
    [zero] = ok(micro("events", "read", "orders", "--limit", "1")).splitlines()
    match = LINE.match(zero)
    assert match is not None
    assert (match.group(1), match.group(3), match.group(4), match.group(5)) == (
        "0",
        first,
        "foo=bar",
        '{"id":1}',
    )
    records = [
        json.loads(line)
        for line in ok(micro("events", "read", "orders", "-o", "json", "--limit", "2")).splitlines()
    ]
    assert records[0]["payload"] == {"id": 1} and records[0]["metadata"] == {"foo": "bar"}
    assert records[1]["offset"] == 1
    topics = ok(micro("events", "topics")).splitlines()
    assert topics[0].split() == ["TOPIC", "EVENTS", "FIRST", "LAST", "RETENTION"]
    assert ["orders", "19", "0", "18", "-"] in [row.split() for row in topics]
    [record] = [
        json.loads(r)
        for r in ok(micro("events", "topics", "--output", "json")).splitlines()
        if '"orders"' in r
    ]
    assert (record["events"], record["first"], record["last"]) == (19, 0, 18)


def test_consume_from_start_then_follows_live(
    micro: Runner, consume: object, shared_server: MicroServer
) -> None:
    seed(shared_server, "feed", [{"n": i} for i in range(3)])
    consumer = consume("feed", "--from-start")  # type: ignore[operator]
    assert [line.split()[0] for line in consumer.wait_lines(3)] == ["0", "1", "2"]
    ok(micro("events", "publish", "feed", '{"n": 3}'))
    line = consumer.wait_lines(4)[3]
    assert line.startswith("3 ") and line.endswith(' {"n":3}')


def test_consume_without_start_is_a_live_tail(micro: Runner, consume: object) -> None:
    ok(micro("events", "publish", "tail", '"old"'))
    consumer = consume("tail", "-o", "json")  # type: ignore[operator]

    def publish_until_seen() -> bool:
        ok(micro("events", "publish", "tail", '"new"'))
        return bool(consumer.lines)

    eventually_sync(publish_until_seen, "the live tail printed a new event", timeout=20, interval=0.2)
    records = [json.loads(line) for line in consumer.lines]
    assert all(r["payload"] == "new" and r["offset"] >= 1 for r in records)


def test_groups_resume_and_reset(micro: Runner, consume: object, shared_server: MicroServer) -> None:
    seed(shared_server, "billing-in", [{"n": i} for i in range(4)])
    consumer = consume("billing-in", "--group", "billing", "--manual-ack")  # type: ignore[operator]
    consumer.wait_lines(4)

    def settled() -> bool:
        rows = [r.split() for r in ok(micro("events", "groups", "billing-in")).splitlines()]
        return ["billing", "4", "0", "1", "0"] in rows

    eventually_sync(settled, "billing at 4 with no lag, one consumer, nothing pending", timeout=15)
    consumer.stop()
    assert ok(micro("events", "groups", "billing-in", "--reset", "billing", "--offset", "2")) == "billing 2\n"
    again = consume("billing-in", "--group", "billing", "--offset", "0")  # type: ignore[operator]
    assert [line.split()[0] for line in again.wait_lines(2)] == ["2", "3"]
    fails(micro("events", "groups", "billing-in", "--reset", "nosuch", "--offset", "0"), 1, "Group nosuch")


def test_retention_and_delete(micro: Runner, shared_server: MicroServer) -> None:
    seed(shared_server, "short", [0, 1, 2])
    ok(micro("events", "retention", "short", "--max-age", "7d", "--max-count", "100"))
    assert ok(micro("events", "retention", "short")) == "age 168h0m0s, count 100\n"
    row = next(r for r in ok(micro("events", "topics")).splitlines() if r.startswith("short "))
    assert "age 168h0m0s, count 100" in row
    # a limit given changes that one only, and applies at once (not at the next round)
    ok(micro("events", "retention", "short", "--max-count", "2"))
    assert ok(micro("events", "retention", "short")) == "age 168h0m0s, count 2\n"

    def trimmed() -> bool:
        return ok(micro("events", "read", "short")).splitlines()[0].split()[0] == "1"

    eventually_sync(trimmed, "the topic keeps its last 2 events once its retention says so", timeout=20)
    ok(micro("events", "retention", "short", "--clear"))
    assert ok(micro("events", "retention", "short")) == "-\n"
    fails(
        micro("events", "delete", "short"), 1, "Refusing to delete topic short without a terminal: pass --yes"
    )
    ok(micro("events", "delete", "short", "--yes"))
    assert not any(r.startswith("short ") for r in ok(micro("events", "topics")).splitlines())
    fails(micro("events", "delete", "short", "--yes"), 1, "Topic short not found")


def test_deleting_a_topic_ends_its_live_tail_with_one_line(micro: Runner, consume: object) -> None:
    ok(micro("events", "publish", "doomed", "1"))
    consumer = consume("doomed", "--from-start")  # type: ignore[operator]
    consumer.wait_lines(1)
    ok(micro("events", "delete", "doomed", "--yes"))
    assert consumer.proc.wait(15) == 1
    assert consumer.proc.stderr is not None
    assert consumer.proc.stderr.read() == "Topic doomed was deleted\n"


def test_read_returns_the_whole_limit_past_one_reply(micro: Runner, shared_server: MicroServer) -> None:
    """The server answers a read with a few MiB at most; 600 events of 10 kB (6 MB) are still
    all printed for --limit 600 (the CLI printed the first reply's 418 and stopped)."""
    seed(shared_server, "fat", [{"n": i, "pad": "x" * 10_000} for i in range(601)])
    lines = ok(micro("events", "read", "fat", "--limit", "600", "--offset", "1")).splitlines()
    assert [int(line.split(" ", 1)[0]) for line in lines] == list(range(1, 601))


def test_consume_and_subscribe_at_a_server_that_never_answers_are_exit_4(stopped_server: MicroServer) -> None:
    """The streams have no deadline, but the subscription is confirmed at once: a server that
    took the connection and answers nothing (SIGSTOP) is the deadline's line, not a hang."""
    for args in (("events", "consume", "t"), ("broker", "subscribe", "t")):
        result = run_micro("--timeout", "1s", *args, address=stopped_server.address, timeout=20)
        assert result.returncode == 4, (args, result.stderr)
        assert (
            one_line(result.stderr)
            == f"Timed out after 1s waiting for micro server at {stopped_server.address}"
        )


BAD_INPUT = [
    (("publish", "", "{}"), "Topic is required"),
    (("publish", "bad topic", "{}"), "Invalid topic 'bad topic'"),
    (("publish", "t", "{not json"), "Error creating request: invalid JSON payload"),
    (("publish", "t", "NaN"), "Error creating request: invalid JSON payload"),
    (("publish", "t", "{}", "--metadata", "novalue"), "Invalid metadata 'novalue'"),
    (("read", "t", "--offset", "-1"), "Invalid value for '--offset'"),
    (
        ("consume", "t", "--offset", "1", "--from-start"),
        "Give at most one of --offset, --since and --from-start",
    ),
    (("consume", "t", "--since", "yesterday"), "Invalid --since 'yesterday'"),
    (("consume", "t", "--group", "a b"), "Invalid group 'a b'"),
    (("retention", "t", "--max-age", "soon"), "Invalid --max-age 'soon'"),
]


def test_bad_input_is_one_line_and_nothing_is_stored(micro: Runner) -> None:
    for args, line in BAD_INPUT:
        result = micro("events", *args)
        assert result.returncode in (1, 2), (args, result.stdout, result.stderr)
        assert line in one_line(result.stderr), args
    big = json.dumps("x" * (1024 * 1024))
    fails(micro("events", "publish", "t", input=big), 1, "Payload too large")
    assert not any(r.startswith("t ") for r in ok(micro("events", "topics")).splitlines())


def test_read_only_env_consumes_only_as_a_tail(shared_server: MicroServer, micro_home: Path) -> None:
    ok(run_micro("env", "add", "ro", shared_server.address, "--read-only"))
    env = {"MICRO_TOKEN": shared_server.token() or ""}
    fails(
        run_micro("-e", "ro", "events", "publish", "ro-topic", "{}", env=env),
        1,
        "Environment 'ro' is read-only",
    )
    for extra in (("--group", "g"), ("--manual-ack",)):
        fails(run_micro("-e", "ro", "events", "consume", "ro-topic", *extra, env=env), 1, "is read-only")
    assert run_micro("-e", "ro", "events", "topics", env=env).returncode == 0


def test_events_need_an_admin_or_a_service_account_and_die_with_the_namespace(micro: Runner) -> None:
    ok(micro("namespace", "create", "evteam"))
    ok(micro("--namespace", "evteam", "events", "publish", "orders", "1"))
    assert ok(micro("--namespace", "evteam", "events", "read", "orders")).startswith("0 ")
    assert not ok(micro("events", "read", "orders", "--offset", "1000"))  # micro's own orders
    ok(micro("auth", "create", "account", "evuser", "--secret", "pw", "--namespace", "evteam"))
    # a plain user of the namespace may not publish
    user_home = {"MICRO_TOKEN": ""}
    login = micro("--namespace", "evteam", "login", "--username", "evuser", "--password", "pw", env=user_home)
    ok(login)
    fails(micro("--namespace", "evteam", "events", "publish", "orders", "2", env=user_home), 2, "Forbidden")
    ok(micro("namespace", "delete", "evteam", "--yes"))
    ok(micro("namespace", "create", "evteam"))
    assert (
        ok(micro("--namespace", "evteam", "events", "topics")).strip()
        == "TOPIC  EVENTS  FIRST  LAST  RETENTION"
    )
