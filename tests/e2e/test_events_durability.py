"""Events survive ``kill -9``: of the server while publishers run (every acknowledged event is
there exactly once, offsets contiguous, payloads intact) and of a consumer holding unacked
events (another member of its group gets them after ``ack_wait``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from micro import errors
from micro.events import Event
from micro.events.grpc import GrpcStream
from tests._poll import eventually, eventually_sync
from tests.e2e.conftest import MicroServer

PUBLISHERS = 8


async def _read_all(stream: GrpcStream, topic: str) -> list[Event]:
    events: list[Event] = []
    while True:
        batch = await stream.read(topic, offset=len(events), limit=1000)
        if not batch:
            return events
        events.extend(batch)


def test_kill_9_while_8_publishers_run_loses_no_acknowledged_event(
    start_server: Callable[..., MicroServer], micro_home: Path
) -> None:
    server = start_server()
    acked: list[tuple[int, int, int]] = []  # (publisher, sequence, offset)

    async def run() -> None:
        stream = GrpcStream(server.address, token=server.token())
        killed = asyncio.Event()

        async def publisher(p: int) -> None:
            n = 0
            while not killed.is_set():
                payload = json.dumps({"p": p, "n": n}).encode()
                try:
                    event = await stream.publish("durable", payload)
                except errors.MicroError:
                    return  # the server is gone: this one was not acknowledged
                acked.append((p, n, event.offset))
                n += 1

        async def killer() -> None:
            await eventually(lambda: len(acked) >= 400, "400 acknowledged publishes", timeout=60)
            server.kill9()
            killed.set()

        await asyncio.gather(killer(), *(publisher(p) for p in range(PUBLISHERS)))
        await stream.close()

    asyncio.run(run())
    assert len(acked) >= 400

    again = start_server()

    async def check() -> list[Event]:
        stream = GrpcStream(again.address, token=again.token())
        try:
            return await _read_all(stream, "durable")
        finally:
            await stream.close()

    stored = asyncio.run(check())
    assert [e.offset for e in stored] == list(range(len(stored)))  # contiguous from 0
    payloads = [json.loads(e.payload) for e in stored]
    seen = [(d["p"], d["n"]) for d in payloads]
    assert len(seen) == len(set(seen))  # nothing twice
    by_offset = {e.offset: (d["p"], d["n"]) for e, d in zip(stored, payloads, strict=True)}
    for p, n, offset in acked:
        assert by_offset.get(offset) == (p, n), f"acknowledged event {p}/{n} at {offset} lost or changed"


CONSUMER = textwrap.dedent(
    """
    import asyncio, os, sys
    from micro.events.grpc import GrpcStream

    async def main():
        stream = GrpcStream(os.environ["MICRO_PROXY"], token=os.environ["MICRO_TOKEN"])
        sub = await stream.consume("jobs", group="workers", manual_ack=True, ack_wait=1.0)
        async for event in sub:
            print(event.id, flush=True)  # held, never acked

    asyncio.run(main())
    """
)


def test_kill_9_of_a_consumer_hands_its_unacked_events_to_another_member(
    start_server: Callable[..., MicroServer], tmp_path: Path
) -> None:
    server = start_server()
    token = server.token() or ""
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER)
    env = {**os.environ, "MICRO_PROXY": server.address, "MICRO_TOKEN": token, "GRPC_VERBOSITY": "NONE"}
    with subprocess.Popen(  # closes the pipe however the test ends
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:

            async def publish() -> list[str]:
                stream = GrpcStream(server.address, token=token)
                try:
                    # the consumer joins the group first (it starts at the beginning either way)
                    return [(await stream.publish("jobs", b"%d" % i)).id for i in range(3)]
                finally:
                    await stream.close()

            ids = asyncio.run(publish())
            assert proc.stdout is not None
            held = [proc.stdout.readline().strip() for _ in range(3)]
            assert held == ids
        finally:
            proc.kill()
            proc.wait(5)

    async def take_over() -> list[Event]:
        stream = GrpcStream(server.address, token=token)
        try:
            async with await stream.consume("jobs", group="workers", manual_ack=True) as sub:
                got = [await asyncio.wait_for(sub.__anext__(), 20) for _ in range(3)]
                for event in got:
                    await sub.ack(event)
                return got
        finally:
            await stream.close()

    got = asyncio.run(take_over())
    assert sorted(e.id for e in got) == sorted(ids)
    assert {e.attempt for e in got} == {2}

    def settled() -> bool:
        async def position() -> int:
            stream = GrpcStream(server.address, token=token)
            try:
                [group] = await stream.groups("jobs")
                return group.position
            finally:
                await stream.close()

        return asyncio.run(position()) == 3

    eventually_sync(settled, "the group moved past the redelivered events", timeout=10)


def test_a_group_position_survives_kill_9_of_the_server(start_server: Callable[..., MicroServer]) -> None:
    server = start_server()

    async def consume_three() -> None:
        stream = GrpcStream(server.address, token=server.token())
        try:
            for i in range(5):
                await stream.publish("resume", b"%d" % i)
            async with await stream.consume("resume", group="billing", manual_ack=True) as sub:
                for _ in range(3):
                    await sub.ack(await asyncio.wait_for(sub.__anext__(), 10))

                async def saved() -> bool:
                    return [g.position for g in await stream.groups("resume")] == [3]

                await eventually(saved, "billing's position reached 3")
        finally:
            await stream.close()

    asyncio.run(consume_three())
    server.kill9()
    again = start_server()

    async def resume() -> list[int]:
        stream = GrpcStream(again.address, token=again.token())
        try:
            async with await stream.consume("resume", group="billing") as sub:
                return [(await asyncio.wait_for(sub.__anext__(), 10)).offset for _ in range(2)]
        finally:
            await stream.close()

    assert asyncio.run(resume()) == [3, 4]
