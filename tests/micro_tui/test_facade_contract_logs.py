"""The logs slice's contract, over the fake and a real server whose runtime runs a real
service (``chatty``: prints a few lines, then waits). What the workspace's logs area proves
on the fake holds on the real runtime's ``Logs`` stream as far as this suite goes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from micro.runtime import STATUSES
from micro_tui.slices import logs as logs_module
from micro_tui.slices.logs import LogChunk, LogLine
from tests._poll import eventually
from tests.micro_tui.contract import Harness, logged_in

DEADLINE = 30.0  # a real build and start on a loaded machine
SERVICE = """\
import os, sys, time
for line in os.environ["LINES"].split("|"):
    print(line, flush=True)
time.sleep(3600)
"""


class Runner:
    """Runs, restarts and kills services: on the fake through its log books, on the real
    server through the framework's runtime client, as another user of the server would."""

    def __init__(self, harness: Harness, folder: Path) -> None:
        self.harness = harness
        self.folder = folder
        self._runtime: Any = None
        self._lines: dict[str, tuple[str, ...]] = {}

    async def _client(self) -> Any:
        if self._runtime is None:
            from micro.auth.grpc import GrpcAuth
            from micro.runtime.grpc import GrpcRuntime

            auth = GrpcAuth(self.harness.address, namespace="micro")
            token = await auth.token(id="admin", secret="micro", namespace="micro")
            await auth.close()
            self._runtime = GrpcRuntime(self.harness.address, namespace="micro", token=token.access_token)
        return self._runtime

    @property
    def fake(self) -> Any:
        return self.harness.facade.logs

    async def run(self, name: str, *lines: str) -> None:
        """Run ``name``, printing ``lines``; returns once they are in its log."""
        self._lines[name] = lines
        if not self.harness.address:
            self.fake.write(name, f"instance 0 started (pid {len(name)})", stream="runtime")
            self.fake.write(name, *lines)
            return
        from micro.runtime import Service
        from micro.runtime.source import pack

        folder = self.folder / name
        folder.mkdir(exist_ok=True)
        (folder / "main.py").write_text(SERVICE)
        runtime = await self._client()

        async def chunks() -> AsyncIterator[bytes]:
            yield pack(folder).data

        upload = await runtime.upload(name, chunks())
        env = [f"LINES={'|'.join(lines)}"]
        await runtime.create(Service(name=name, source=str(folder)), upload=upload, env=env)
        await self.until_logged(name, lines[-1])

    async def until_logged(self, name: str, line: str) -> None:
        async def logged() -> bool:
            if not self.harness.address:
                return any(entry.text == line for entry in self.fake.lines.get(name, []))
            batches = (await self._client()).logs(name, count=-1)
            return any([r.line == line for batch in [b async for b in batches] for r in batch.records])

        await eventually(logged, f"{name} wrote {line!r}", timeout=DEADLINE, interval=0.1)

    async def restart(self, name: str) -> None:
        """Restart ``name``: it starts again and prints its lines anew."""
        if not self.harness.address:
            self.fake.write(name, "instance 0 started (pid 2)", stream="runtime")
            self.fake.write(name, *self._lines[name])
            return
        await (await self._client()).update(name)

    async def kill(self, name: str) -> None:
        if not self.harness.address:
            self.fake.kill(name)
            return
        await (await self._client()).delete(name)

    async def close(self) -> None:
        if self._runtime is not None:
            for service in await self._runtime.read():
                with contextlib.suppress(Exception):
                    await self._runtime.delete(service.name)
            await self._runtime.close()


@pytest.fixture
async def runner(harness: Harness, tmp_path: Path) -> AsyncIterator[Runner]:
    await logged_in(harness)
    found = Runner(harness, tmp_path)
    try:
        yield found
    finally:
        await found.close()


async def _lines_until(stream: AsyncIterator[LogChunk], text: str, into: list[LogChunk]) -> list[LogLine]:
    """Read ``stream`` (chunks into ``into``) until a line ``text`` came; every line read."""
    lines: list[LogLine] = []

    async def read() -> None:
        async for chunk in stream:
            into.append(chunk)
            lines.extend(chunk.lines)
            if any(line.text == text for line in chunk.lines):
                return

    try:
        await asyncio.wait_for(read(), DEADLINE)
    except TimeoutError:
        raise AssertionError(
            f"no line {text!r} within {DEADLINE:g}s; got {[x.text for x in lines]}"
        ) from None
    return lines


async def test_sources_are_the_services_the_runtime_runs(runner: Runner) -> None:
    await runner.run("chatty", "hello 0", "hello 1")
    logs = runner.harness.facade.logs
    found = {s.name: s for s in await logs.sources()}
    assert "chatty" in found
    assert found["chatty"].status in STATUSES
    assert found["chatty"].instances == 1
    names = [s.name for s in await logs.sources()]
    assert names == sorted(names)


async def test_follow_starts_with_the_last_lines_then_brings_new_ones(runner: Runner) -> None:
    await runner.run("chatty", "hello 0", "hello 1", "hello 2")
    logs = runner.harness.facade.logs
    stream = logs.follow(["chatty"], tail=2)
    chunks: list[LogChunk] = []
    try:
        lines = await _lines_until(stream, "hello 2", chunks)
        assert chunks[0] == LogChunk("chatty", state="connecting")
        assert [line.text for line in lines] == ["hello 1", "hello 2"]  # the tail, no more
        assert {(line.service, line.stream, line.instance) for line in lines} == {("chatty", "stdout", 0)}
        assert lines[0].ts < lines[1].ts
        # a restart: the same follow goes on with the new instance's lines
        await runner.restart("chatty")
        more = await _lines_until(stream, "hello 2", chunks)
        assert any(line.stream == "runtime" and "started" in line.text for line in more)
        assert all(line.ts > lines[-1].ts for line in more)
    finally:
        await stream.aclose()


async def test_several_services_merge_into_one_follow(runner: Runner) -> None:
    await runner.run("chatty", "from chatty")
    await runner.run("other", "from other")
    logs = runner.harness.facade.logs
    stream = logs.follow(["chatty", "other", "chatty"], tail=5)  # a name twice: followed once
    seen: dict[str, list[str]] = {"chatty": [], "other": []}

    async def both() -> None:
        async for chunk in stream:
            for line in chunk.lines:
                seen[line.service].append(line.text)
            if "from chatty" in seen["chatty"] and "from other" in seen["other"]:
                return

    try:
        await asyncio.wait_for(both(), DEADLINE)
    finally:
        await stream.aclose()
    assert seen["chatty"].count("from chatty") == 1


async def test_a_killed_service_logs_stay_readable(runner: Runner) -> None:
    await runner.run("chatty", "hello 0", "last words")
    logs = runner.harness.facade.logs
    stream = logs.follow(["chatty"], tail=10)
    chunks: list[LogChunk] = []
    try:
        await _lines_until(stream, "last words", chunks)
        await runner.kill("chatty")
    finally:
        await stream.aclose()
    assert "chatty" not in {s.name for s in await logs.sources()}
    # (the runtime's own "killed" line is not sent to followers live: server/runtime/_logs.py
    # takes every record of instance -1 for its end-of-stream sentinel; a new follow has it)
    again = logs.follow(["chatty"], tail=2)
    try:
        lines = await _lines_until(again, "killed", [])
    finally:
        await again.aclose()
    assert [line.text for line in lines] == ["last words", "killed"]


async def test_a_service_not_run_yet_is_retried_until_it_runs(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_module, "RETRY_SECONDS", (0.05,))
    logs = runner.harness.facade.logs
    stream = logs.follow(["later"], tail=10)
    chunks: list[LogChunk] = []
    try:

        async def retrying() -> None:
            async for chunk in stream:
                chunks.append(chunk)
                if chunk.state == "retrying":
                    return

        await asyncio.wait_for(retrying(), DEADLINE)
        assert chunks[-1].service == "later"
        assert chunks[-1].detail.startswith("Service not found; again in ")
        await runner.run("later", "finally up")
        lines = await _lines_until(stream, "finally up", chunks)
        assert [line.text for line in lines].count("finally up") == 1
    finally:
        await stream.aclose()
