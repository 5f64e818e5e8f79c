"""``micro broker publish|subscribe`` end to end: the real CLI against a real server.

Subscribers are ``micro broker subscribe`` subprocesses; a subscriber is known to be live
once a publish reports it among the subscribers reached (``-o json``'s ``delivered``), so no
test waits on a timer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests._poll import eventually_sync
from tests.e2e.conftest import MICRO, MicroServer, Runner, close_pipes, free_port, one_line, run_micro


@dataclass
class Subscriber:
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def bodies(self) -> list[str]:
        return [line for line in self.lines if not line.startswith("ready")]


Subscribe = Callable[..., Subscriber]


@pytest.fixture
def subscribe(shared_server: MicroServer) -> Iterator[Subscribe]:
    started: list[Subscriber] = []

    def start(*args: str) -> Subscriber:
        env = {**os.environ, "MICRO_PROXY": shared_server.address}
        token = shared_server.token()
        if token:
            env["MICRO_TOKEN"] = token
        proc = subprocess.Popen(
            [MICRO, "broker", "subscribe", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        subscriber = Subscriber(proc)

        def drain(stream: object, sink: list[str]) -> None:
            for line in stream:  # type: ignore[attr-defined]
                sink.append(line.rstrip("\n"))

        for stream, sink in ((proc.stdout, subscriber.lines), (proc.stderr, subscriber.errors)):
            reader = threading.Thread(target=drain, args=(stream, sink), daemon=True)
            reader.start()
            subscriber.readers.append(reader)
        started.append(subscriber)
        return subscriber

    yield start
    for subscriber in started:
        subscriber.proc.send_signal(signal.SIGTERM)
        subscriber.proc.wait(10)
        close_pipes(subscriber.proc, *subscriber.readers)


def wait_reached(micro: Runner, topic: str, count: int) -> None:
    """Publish ``ready`` until ``count`` subscribers (queue groups once) are reached."""

    def reached() -> bool:
        result = micro("broker", "publish", topic, "ready", "-o", "json")
        assert result.returncode == 0, result.stderr
        return int(json.loads(result.stdout)["delivered"]) == count

    eventually_sync(reached, f"{count} subscribers of {topic}", timeout=30, interval=0.1)


def test_subscribers_get_every_message_and_a_queue_group_shares_them(
    micro: Runner, subscribe: Subscribe
) -> None:
    tails = [subscribe("orders"), subscribe("orders")]
    workers = [subscribe("orders", "--queue", "workers"), subscribe("orders", "--queue", "workers")]
    wait_reached(micro, "orders", 3)  # two tails and the group (which counts once)

    def both_workers_live() -> bool:
        # the group takes turns: while one member has got nothing, it may not have joined yet
        if all(w.lines for w in workers):
            return True
        assert micro("broker", "publish", "orders", "ready").returncode == 0
        return False

    eventually_sync(both_workers_live, "both workers live", timeout=30, interval=0.1)
    sent = [f"order {i}" for i in range(6)]
    for body in sent:
        result = micro("broker", "publish", "orders", body)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    for tail in tails:
        eventually_sync(lambda tail=tail: len(tail.bodies()) == 6, "a tail got all six", timeout=30)
        assert tail.bodies() == sent  # in publish order
    eventually_sync(lambda: sum(len(w.bodies()) for w in workers) == 6, "the workers got six", timeout=30)
    got = [set(w.bodies()) for w in workers]
    assert got[0] | got[1] == set(sent) and not got[0] & got[1]


def test_json_subscribers_get_ndjson_with_headers(micro: Runner, subscribe: Subscribe) -> None:
    subscriber = subscribe("alerts", "-o", "json")
    wait_reached(micro, "alerts", 1)
    result = micro("broker", "publish", "alerts", "disk full", "--header", "host=db1")
    assert result.returncode == 0, result.stderr
    eventually_sync(lambda: any("disk full" in line for line in subscriber.lines), "the alert", timeout=30)
    record = json.loads(next(line for line in subscriber.lines if "disk full" in line))
    assert record == {"topic": "alerts", "header": {"host": "db1"}, "body": "disk full"}


def test_a_message_with_line_breaks_prints_as_one_line(micro: Runner, subscribe: Subscribe) -> None:
    subscriber = subscribe("notes")
    wait_reached(micro, "notes", 1)
    assert micro("broker", "publish", "notes", "first\nsecond\r\nthird").returncode == 0
    eventually_sync(lambda: len(subscriber.bodies()) >= 1, "the note", timeout=30)
    assert micro("broker", "publish", "notes", "after").returncode == 0
    eventually_sync(lambda: len(subscriber.bodies()) >= 2, "the next note", timeout=30)
    assert subscriber.bodies() == ["first\\nsecond\\r\\nthird", "after"]


def test_publishing_without_subscribers_reaches_no_one(micro: Runner) -> None:
    result = micro("broker", "publish", "nobody-listens", "hello", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"delivered": 0, "dropped": 0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("publish", "bad topic", "x"), "Invalid topic 'bad topic'"),
        (("publish", "news", "x", "--header", "novalue"), "Invalid metadata 'novalue'"),
        (("subscribe", "a/b"), "Invalid topic 'a/b'"),
        (("subscribe", "news", "--queue", "a b"), "Invalid queue 'a b'"),
    ],
)
def test_bad_input_gets_one_line(micro: Runner, args: tuple[str, ...], message: str) -> None:
    result = micro("broker", *args)
    assert result.returncode == 1
    assert one_line(result.stderr).startswith(message)


def test_a_read_only_env_may_listen_but_not_publish_or_join_a_queue(micro_home: object) -> None:
    address = f"127.0.0.1:{free_port()}"
    added = run_micro("env", "add", "prod", address, "--read-only")
    assert added.returncode == 0, added.stderr
    publish = run_micro("-e", "prod", "broker", "publish", "news", "x")
    assert publish.returncode == 1
    assert one_line(publish.stderr) == "Environment 'prod' is read-only"
    queue = run_micro("-e", "prod", "broker", "subscribe", "news", "--queue", "q")
    assert queue.returncode == 1
    assert one_line(queue.stderr) == "Environment 'prod' is read-only: subscribe without --queue"
    # a plain subscription moves nothing: it is allowed (here it finds the server down)
    listen = run_micro("-e", "prod", "broker", "subscribe", "news")
    assert listen.returncode == 4, listen.stderr


def test_the_server_down_is_one_line_and_exit_4() -> None:
    env = {"MICRO_PROXY": f"127.0.0.1:{free_port()}"}
    for args in (("publish", "news", "x"), ("subscribe", "news")):
        result = run_micro("broker", *args, env=env)
        assert result.returncode == 4, (args, result.stderr)
        assert "Traceback" not in one_line(result.stderr)
